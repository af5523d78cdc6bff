// What simulating CUDA on CPU threads costs: a barrier, a warp shuffle, a barrier-free elementwise kernel against
// a plain loop, and the tiled GEMM against a naive triple loop. All on the cpu backend (gramgan::sim), timed by
// wall clock because blocks run on several worker threads. See bench/README.md for what each number means.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "cudasim/runtime.h"
#include "kernels/check.h"
#include "tests/sample_kernels/sample_kernels.h"

namespace {

namespace samples = gramgan::sim::samples;

template <class T>
class SimBuffer {
 public:
  explicit SimBuffer(std::size_t count) { GG_CUDA_CHECK(cudasim::cudaMalloc(&data_, sizeof(T) * count)); }
  SimBuffer(const SimBuffer&) = delete;
  SimBuffer& operator=(const SimBuffer&) = delete;
  ~SimBuffer() { cudasim::cudaFree(data_); }
  T* get() const { return data_; }

 private:
  T* data_ = nullptr;
};

std::vector<float> uniform(std::size_t count) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Seconds per event, printed by the reporter with an SI prefix and "s" (e.g. "48.2ns").
benchmark::Counter seconds_per(double events_per_iteration) {
  return benchmark::Counter(events_per_iteration,
                            benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// One block, so a single worker does all the work and the figure is the per-thread cost, not a parallel rate.
constexpr int kRounds = 1000;

void BM_SyncthreadsPerThread(benchmark::State& state) {
  const int threads = int(state.range(0));
  for (auto _ : state) samples::sim_cost_barriers(1, threads, kRounds, nullptr);
  state.counters["per_thread_barrier"] = seconds_per(double(threads) * kRounds);
}
BENCHMARK(BM_SyncthreadsPerThread)->Arg(256)->Arg(1024)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_ShuffleXorPerLane(benchmark::State& state) {
  const int threads = int(state.range(0));
  SimBuffer<unsigned> out(threads);
  for (auto _ : state) samples::sim_cost_shuffles(out.get(), 1, threads, kRounds, nullptr);
  state.counters["per_lane_shuffle"] = seconds_per(double(threads) * kRounds);
}
BENCHMARK(BM_ShuffleXorPerLane)->Arg(256)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---- elementwise: the simulated kernel and a plain loop over the same 4M floats --------------------------------

constexpr std::size_t kScaleCount = std::size_t(4) << 20;
constexpr float kScaleA = 1.5f, kScaleB = -0.25f;

struct ScaleData {
  SimBuffer<float> x{kScaleCount}, y{kScaleCount};
  ScaleData() {
    const auto host = uniform(kScaleCount);
    GG_CUDA_CHECK(
        cudasim::cudaMemcpy(x.get(), host.data(), sizeof(float) * kScaleCount, cudasim::cudaMemcpyHostToDevice));
  }
};

void BM_ScaleKernel(benchmark::State& state) {
  ScaleData data;
  for (auto _ : state) {
    samples::scale_forward(data.x.get(), data.y.get(), kScaleCount, kScaleA, kScaleB, nullptr);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(std::int64_t(state.iterations()) * kScaleCount * 2 * sizeof(float));
}
BENCHMARK(BM_ScaleKernel)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_ScalePlainLoop(benchmark::State& state) {
  ScaleData data;
  const float* x = data.x.get();
  float* y = data.y.get();
  for (auto _ : state) {
    for (std::size_t i = 0; i < kScaleCount; ++i) y[i] = kScaleA * x[i] + kScaleB;
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(std::int64_t(state.iterations()) * kScaleCount * 2 * sizeof(float));
}
BENCHMARK(BM_ScalePlainLoop)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---- GEMM: the tiled kernel and a naive triple loop, n x n x n ------------------------------------------------

void BM_GemmTiledKernel(benchmark::State& state) {
  const int n = int(state.range(0));
  const std::size_t elements = std::size_t(n) * n;
  SimBuffer<float> a(elements), b(elements), c(elements);
  const auto host = uniform(elements);
  GG_CUDA_CHECK(cudasim::cudaMemcpy(a.get(), host.data(), sizeof(float) * elements, cudasim::cudaMemcpyHostToDevice));
  GG_CUDA_CHECK(cudasim::cudaMemcpy(b.get(), host.data(), sizeof(float) * elements, cudasim::cudaMemcpyHostToDevice));
  for (auto _ : state) {
    samples::gemm_forward(a.get(), b.get(), c.get(), n, n, n, nullptr);
    benchmark::ClobberMemory();
  }
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_GemmTiledKernel)->Arg(256)->Arg(512)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_GemmNaiveLoop(benchmark::State& state) {
  const int n = int(state.range(0));
  const std::size_t elements = std::size_t(n) * n;
  const auto a = uniform(elements);
  const auto b = uniform(elements);
  std::vector<float> c(elements);
  for (auto _ : state) {
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        float sum = 0.0f;
        for (int p = 0; p < n; ++p) sum += a[std::size_t(i) * n + p] * b[std::size_t(p) * n + j];
        c[std::size_t(i) * n + j] = sum;
      }
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_GemmNaiveLoop)->Arg(256)->Arg(512)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // The rates of multi-block kernels scale with the workers; the thread order does not change the cost.
  benchmark::AddCustomContext("cudasim_workers", std::to_string(cudasim::worker_count()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
