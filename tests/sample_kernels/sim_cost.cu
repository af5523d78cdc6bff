// Cost probes for the simulator: kernels that do nothing but pass barriers or shuffle values.
//
// Layout: `blocks` blocks of `threads` threads; the shuffle probe writes each thread's final value to
// out[blockIdx.x * threads + threadIdx.x] so the shuffles cannot be optimised away.
//
// Why: a barrier or warp op suspends the calling fiber, the simulator's dominant cost. bench_cudasim divides the
// run time by the thread-barriers (lane-shuffles) performed to get the price of one, the number to weigh when
// choosing between barriers and recomputation in a kernel that must also run fast on the cpu backend.
#include <stdexcept>

#include "kernels/launch.h"
#include "tests/sample_kernels/sample_kernels.h"

namespace gramgan::GG_BACKEND::samples {
namespace {

// Launched with 32 to 1024 threads (check_shape).
constexpr int kMaxThreads = 1024;

__global__ void __launch_bounds__(kMaxThreads) barrier_cost_kernel(int rounds) {
  GG_KERNEL_BOUNDS(kMaxThreads);
  for (int r = 0; r < rounds; ++r) __syncthreads();
}

__global__ void __launch_bounds__(kMaxThreads) shuffle_cost_kernel(unsigned* out, int rounds) {
  GG_KERNEL_BOUNDS(kMaxThreads);
  unsigned value = threadIdx.x;
  // Lane masks 1..16 cycle through partners at every distance, as reductions and scans use.
  for (int r = 0; r < rounds; ++r) value = __shfl_xor_sync(0xffffffffu, value, 1 + (r & 15)) + 1u;
  out[blockIdx.x * blockDim.x + threadIdx.x] = value;
}

void check_shape(int blocks, int threads, int rounds) {
  if (blocks < 1 || threads < 32 || threads > kMaxThreads || threads % 32 != 0 || rounds < 0)
    throw std::invalid_argument("sim_cost: need blocks >= 1, threads a multiple of 32 in [32, 1024], rounds >= 0");
}

}  // namespace

void sim_cost_barriers(int blocks, int threads, int rounds, StreamHandle stream) {
  check_shape(blocks, threads, rounds);
  launch<barrier_cost_kernel>(dim3(blocks), dim3(threads), 0, stream, rounds);
}

void sim_cost_shuffles(unsigned* out, int blocks, int threads, int rounds, StreamHandle stream) {
  check_shape(blocks, threads, rounds);
  launch<shuffle_cost_kernel>(dim3(blocks), dim3(threads), 0, stream, out, rounds);
}

}  // namespace gramgan::GG_BACKEND::samples
