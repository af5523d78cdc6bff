// gramgan info: what this binary was built with and what it finds on this machine.
#include <cstdio>
#include <string>

#include "apps/cli/commands.h"
#include "engine/device.h"

namespace gramgan::cli {
namespace {

// The runtime encodes versions as 1000 * major + 10 * minor.
std::string cuda_version(int encoded) {
  if (encoded == 0) return "none";
  return std::to_string(encoded / 1000) + "." + std::to_string(encoded % 1000 / 10);
}

int run_info() {
  std::printf("gramgan %s (%s build)\n", GRAMGAN_VERSION, GRAMGAN_BUILD_TYPE);
  if (cuda_backend_compiled()) {
    std::printf("CUDA backend: compiled for architectures %s (runtime %s, driver %s)\n", cuda_architectures().c_str(),
                cuda_version(cuda_runtime_version()).c_str(), cuda_version(cuda_driver_version()).c_str());
  } else {
    std::printf("CUDA backend: not compiled (only the cpu device is available)\n");
  }
  if (cuda_available()) {
    for (const GpuInfo& gpu : gpus())
      std::printf("GPU cuda:%d: %s, %.1f GiB, compute capability %d.%d\n", gpu.index, gpu.name.c_str(),
                  double(gpu.total_memory) / double(1ull << 30), gpu.major, gpu.minor);
  } else {
    std::printf("GPU: no GPU (%s)\n", cuda_unavailable_reason().c_str());
  }
  const int workers = simulator_workers();
  std::printf("Simulator (cpu device): %d worker thread%s\n", workers, workers == 1 ? "" : "s");
  return 0;
}

}  // namespace

Command add_info_command(CLI::App& app) {
  CLI::App* info = app.add_subcommand(
      "info", "Show the build (version, type, CUDA architectures) and the devices found (GPUs, simulator threads)");
  return {info, run_info};
}

}  // namespace gramgan::cli
