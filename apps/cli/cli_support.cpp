#include "apps/cli/cli_support.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "engine/error.h"

namespace gramgan::cli {

std::string choose_device(const std::string& requested) {
  if (requested.empty()) return cuda_available() ? "cuda" : "cpu";
  const Device device = Device::parse(requested);
  if (device.is_cuda() && !cuda_available())
    throw Error("--device " + requested + ": no GPU (" + cuda_unavailable_reason() + ")");
  check_device(device);
  return device.to_string();
}

void report_device_choice(const std::string& requested) {
  if (requested.empty() && !cuda_available())
    std::fprintf(stderr, "gramgan: no GPU (%s); running on cpu (the simulated kernels)\n",
                 cuda_unavailable_reason().c_str());
}

std::string default_vgg_path() {
  if (const char* env = std::getenv("GRAMGAN_VGG19"); env && *env) return env;
  return std::string(GRAMGAN_SOURCE_DIR) + "/weights/vgg19.safetensors";
}

Progress::Progress(std::string label, long long first_step, long long last_step)
    : label_(std::move(label)),
      first_(first_step),
      last_(last_step),
      terminal_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

void Progress::update(long long step, const std::string& text) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const long long done = step - first_ + 1;
  const double rate = elapsed > 0 ? done / elapsed : 0;
  const double eta = rate > 0 ? double(last_ - step) / rate : 0;
  const long long span = std::max(1LL, last_ - first_ + 1);
  if (!terminal_) {
    const long long every = std::max(1LL, span / 10);
    if (step != last_ && step != first_ && (step - first_ + 1) % every != 0) return;
  }
  std::fprintf(stderr, "%s%s %lld/%lld | %s | %.2f it/s | ETA %dm%02ds%s", terminal_ ? "\r\033[K" : "", label_.c_str(),
               step, last_, text.c_str(), rate, int(eta) / 60, int(eta) % 60, terminal_ ? "" : "\n");
  std::fflush(stderr);
  printed_at_ = step;
}

void Progress::finish() {
  if (terminal_ && printed_at_ >= 0) std::fprintf(stderr, "\n");
}

}  // namespace gramgan::cli
