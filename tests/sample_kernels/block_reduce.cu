// Deterministic sum of a float or double array: out[0] = sum_i x[i].
//
// Layout: x is contiguous, any length (0 gives 0). Pass 1: at most kReduceMaxBlocks blocks of 256 threads; each
// thread sums a grid-strided slice in order, the warp folds its 32 sums with a __shfl_down_sync tree, warp 0
// folds the 8 warp sums, and thread 0 writes the block's partial. Pass 2: the same kernel, one block, over the
// partials.
//
// Why: the grid size depends only on the length and every addition happens in a fixed order, so the result has
// the same bits on every run, in both simulated thread orders, and on every GPU launch (no atomics). This is the
// project's rule for reductions (DESIGN.md section 3); the sample checks the simulator honours it.
#include <algorithm>
#include <stdexcept>

#include "kernels/launch.h"
#include "tests/sample_kernels/sample_kernels.h"

namespace gramgan::GG_BACKEND::samples {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
// Elements per thread before another block is worth its fixed cost (a block reduction and a partial).
constexpr int kItemsPerThread = 4;

template <class T>
__device__ T warp_sum(T value) {
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_down_sync(0xffffffffu, value, offset);
  return value;
}

// Sum of `value` over the block, valid in thread 0. Called once per kernel, so the shared slots are not reused.
template <class T>
__device__ T block_sum(T value) {
  GG_SHARED(T[kWarps], warp_sums);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  value = warp_sum(value);
  if (lane == 0) warp_sums[warp] = value;
  __syncthreads();
  if (warp == 0) value = warp_sum(lane < kWarps ? warp_sums[lane] : T(0));
  return value;
}

template <class T>
__global__ void __launch_bounds__(kThreads) reduce_sum_kernel(const T* x, std::size_t count, T* partials) {
  GG_KERNEL_BOUNDS(kThreads);
  T sum = T(0);
  const std::size_t stride = std::size_t(gridDim.x) * kThreads;
  for (std::size_t i = std::size_t(blockIdx.x) * kThreads + threadIdx.x; i < count; i += stride) sum += x[i];
  sum = block_sum(sum);
  if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

template <class T>
void reduce_sum(const T* x, std::size_t count, T* out, T* partials, StreamHandle stream) {
  if (count > 0 && x == nullptr) throw std::invalid_argument("reduce_sum_forward: x is null");
  if (out == nullptr || partials == nullptr) throw std::invalid_argument("reduce_sum_forward: out or partials is null");
  const std::size_t per_block = std::size_t(kThreads) * kItemsPerThread;
  const int blocks = int(std::clamp<std::size_t>((count + per_block - 1) / per_block, 1, kReduceMaxBlocks));
  launch<reduce_sum_kernel<T>>(dim3(blocks), dim3(kThreads), 0, stream, x, count, partials);
  launch<reduce_sum_kernel<T>>(dim3(1), dim3(kThreads), 0, stream, static_cast<const T*>(partials), std::size_t(blocks),
                               out);
}

}  // namespace

void reduce_sum_forward(const float* x, std::size_t count, float* out, float* partials, StreamHandle stream) {
  reduce_sum(x, count, out, partials, stream);
}
void reduce_sum_forward(const double* x, std::size_t count, double* out, double* partials, StreamHandle stream) {
  reduce_sum(x, count, out, partials, stream);
}

}  // namespace gramgan::GG_BACKEND::samples
