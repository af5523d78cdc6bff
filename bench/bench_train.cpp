// A full training iteration (one D step and one G step, apps/gan/trainer.h) on the committed demo images, with
// the default model widths and loss settings and seeded random VGG-19 weights (the cost is the same as with the
// pretrained ones). cpu (the simulated kernels): 128x128 and 256x256, batch 1 and 4 (128x128 batch 1 three times
// after the warm-up, the larger ones, each tens of seconds, once); cuda: 256x256, batch 4, when a GPU is present.
// The PyTorch reference for the cpu figure is bench/reference_pytorch.py; bench/compare runs both and prints the
// ratio (bench/README.md).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <string>

#include "apps/gan/trainer.h"
#include "engine/device.h"

namespace {

namespace fs = std::filesystem;
using gramgan::gan::TrainConfig;
using gramgan::gan::Trainer;

void train_iteration(benchmark::State& state, const std::string& device, int size, int batch) {
  if (device != "cpu" && !gramgan::cuda_available()) {
    state.SkipWithError(("no GPU: " + gramgan::cuda_unavailable_reason()).c_str());
    return;
  }
  const fs::path out = fs::temp_directory_path() / ("gramgan_bench_train_" + device);
  fs::remove_all(out);
  TrainConfig config;
  config.content_dir = std::string(GRAMGAN_SOURCE_DIR) + "/demo/content";
  config.style_path = std::string(GRAMGAN_SOURCE_DIR) + "/demo/style/opencv_vangogh_starry_night.png";
  config.vgg = "random";
  config.device = device;
  config.size = size;
  config.batch = batch;
  config.out_dir = out.string();
  Trainer trainer(config, false);
  trainer.train_step();  // warm-up: allocator caches, first-touch of every buffer
  for (auto _ : state) benchmark::DoNotOptimize(trainer.train_step());
  state.counters["images/s"] =
      benchmark::Counter(double(batch) * double(state.iterations()), benchmark::Counter::kIsRate);
  fs::remove_all(out);
}

BENCHMARK_CAPTURE(train_iteration, cpu_128x128_batch1, std::string("cpu"), 128, 1)
    ->Unit(benchmark::kSecond)
    ->Iterations(3)
    ->UseRealTime();
BENCHMARK_CAPTURE(train_iteration, cpu_128x128_batch4, std::string("cpu"), 128, 4)
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->UseRealTime();
BENCHMARK_CAPTURE(train_iteration, cpu_256x256_batch1, std::string("cpu"), 256, 1)
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->UseRealTime();
BENCHMARK_CAPTURE(train_iteration, cpu_256x256_batch4, std::string("cpu"), 256, 4)
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->UseRealTime();
BENCHMARK_CAPTURE(train_iteration, cuda_256x256_batch4, std::string("cuda"), 256, 4)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(5.0)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
