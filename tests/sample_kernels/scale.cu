// Elementwise y[i] = a * x[i] + b over float arrays.
//
// Layout: x, y contiguous; one element per thread, 256 threads per block, no barrier, no shared memory.
//
// Why: the benchmark's floor for the simulator. A barrier-free kernel runs a block's threads as a plain loop on
// one fiber, so its cost against a plain C++ loop over the same data is the per-thread overhead of simulation.
#include <stdexcept>

#include "kernels/launch.h"
#include "tests/sample_kernels/sample_kernels.h"

namespace gramgan::GG_BACKEND::samples {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    scale_kernel(const float* x, float* y, std::size_t count, float a, float b) {
  GG_KERNEL_BOUNDS(kThreads);
  const std::size_t i = std::size_t(blockIdx.x) * kThreads + threadIdx.x;
  if (i < count) y[i] = a * x[i] + b;
}

}  // namespace

void scale_forward(const float* x, float* y, std::size_t count, float a, float b, StreamHandle stream) {
  if (count == 0) return;
  const std::size_t blocks = (count + kThreads - 1) / kThreads;
  if (blocks > 0x7fffffffu) throw std::invalid_argument("scale_forward: count exceeds one grid");
  launch<scale_kernel>(dim3(unsigned(blocks)), dim3(kThreads), 0, stream, x, y, count, a, b);
}

}  // namespace gramgan::GG_BACKEND::samples
