// Histogram: counts[v] = #{i : x[i] == v} for v in [0, bins), over unsigned bytes or ints.
//
// Layout: x contiguous, counts has `bins` elements and is overwritten. Each block of 256 threads zeroes a
// sub-histogram in dynamic shared memory, counts a grid-strided slice of x into it with shared atomicAdd, then
// adds its nonzero bins into counts with global atomicAdd.
//
// Why: the textbook privatised histogram (shared atomics are cheap; one global atomic per block and bin instead
// of one per element). It exercises shared and global integer atomics, whose sums are exact in any order.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/launch.h"
#include "tests/sample_kernels/sample_kernels.h"

namespace gramgan::GG_BACKEND::samples {
namespace {

constexpr int kThreads = 256;
constexpr int kItemsPerThread = 16;
// Every block pays `bins` shared zeroings and global merges, so the grid stays small.
constexpr int kMaxBlocks = 128;

template <class T>
__global__ void __launch_bounds__(kThreads)
    histogram_kernel(const T* x, std::size_t count, int bins, unsigned* counts) {
  GG_KERNEL_BOUNDS(kThreads);
  GG_DYNAMIC_SHARED(unsigned, local);
  for (int bin = threadIdx.x; bin < bins; bin += kThreads) local[bin] = 0;
  __syncthreads();
  const std::size_t stride = std::size_t(gridDim.x) * kThreads;
  for (std::size_t i = std::size_t(blockIdx.x) * kThreads + threadIdx.x; i < count; i += stride) {
    // One unsigned comparison rejects negative ints and values >= bins alike.
    const unsigned value = unsigned(x[i]);
    if (value < unsigned(bins)) atomicAdd(&local[value], 1u);
  }
  __syncthreads();
  for (int bin = threadIdx.x; bin < bins; bin += kThreads)
    if (local[bin] != 0) atomicAdd(&counts[bin], local[bin]);
}

template <class T>
void histogram(const T* x, std::size_t count, int bins, unsigned* counts, StreamHandle stream) {
  if (bins < 1 || bins > kHistogramMaxBins)
    throw std::invalid_argument("histogram_forward: bins must be in [1, " + std::to_string(kHistogramMaxBins) +
                                "], got " + std::to_string(bins));
  GG_CUDA_CHECK(cudaMemsetAsync(counts, 0, sizeof(unsigned) * bins, runtime_stream(stream)));
  if (count == 0) return;
  const std::size_t per_block = std::size_t(kThreads) * kItemsPerThread;
  const int blocks = int(std::min<std::size_t>((count + per_block - 1) / per_block, kMaxBlocks));
  launch<histogram_kernel<T>>(dim3(blocks), dim3(kThreads), sizeof(unsigned) * bins, stream, x, count, bins, counts);
}

}  // namespace

void histogram_forward(const std::uint8_t* x, std::size_t count, int bins, unsigned* counts, StreamHandle stream) {
  histogram(x, count, bins, counts, stream);
}
void histogram_forward(const int* x, std::size_t count, int bins, unsigned* counts, StreamHandle stream) {
  histogram(x, count, bins, counts, stream);
}

}  // namespace gramgan::GG_BACKEND::samples
