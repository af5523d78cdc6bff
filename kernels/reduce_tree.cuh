// Internal helpers for the fixed-order reductions of reduce.cu, losses.cu and tv.cu (not a public header).
//
// Every reduction is two launches: a first pass of reduce_blocks(count) blocks, where thread t of block b folds
// items b*256 + t, b*256 + t + 256*blocks, ... in ascending order and the block folds its threads with
// block_reduce; then one block folds those partials (workspace) the same way. The block count depends only on
// the item count, so the tree is the same on every run, backend and device: results are bitwise repeatable on one
// backend, and agree across backends within tolerance (a per-item x^2 or loss term next to an add is contracted
// into an FMA by nvcc per architecture and by g++ per -march, not necessarily alike).
#pragma once

#include <cstddef>

#include "kernels/block_reduce.cuh"

namespace gramgan::GG_BACKEND::detail {

constexpr int kReduceThreads = 256;
constexpr std::size_t kMaxReduceBlocks = 1024;
// Items per thread before another block is started: a block's fold costs two barriers, which in the simulator
// switch every thread's fiber, so one item per thread made small reductions barrier-bound (the per-tensor
// gradient norms were 3 % of a training iteration). 16 still gives 1024 blocks from 4M items up on the GPU.
constexpr std::size_t kMinItemsPerThread = 16;

// First-pass blocks (= workspace elements) for `count` items; at least one, so an empty input still has a tree.
inline std::size_t reduce_blocks(std::size_t count) {
  const std::size_t per_block = kReduceThreads * kMinItemsPerThread;
  const std::size_t blocks = (count + per_block - 1) / per_block;
  return blocks == 0 ? 1 : (blocks < kMaxReduceBlocks ? blocks : kMaxReduceBlocks);
}

// The first pass's grid-stride step, shared so that every first pass walks its items in the same order.
__device__ __forceinline__ std::size_t reduce_first_item() {
  return std::size_t(blockIdx.x) * kReduceThreads + threadIdx.x;
}
__device__ __forceinline__ std::size_t reduce_item_stride() { return std::size_t(gridDim.x) * kReduceThreads; }

// out = scale1 * fold(partials[0, n1)) (+ scale2 * fold(partials[n1, n1 + n2)) when n2 > 0), in one block.
template <class T, class Op>
__global__ void __launch_bounds__(kReduceThreads)
    reduce_finalize_kernel(const T* partials, std::size_t n1, T scale1, std::size_t n2, T scale2, Op op, T identity,
                           T* out) {
  GG_KERNEL_BOUNDS(kReduceThreads);
  T first = identity;
  for (std::size_t i = threadIdx.x; i < n1; i += kReduceThreads) first = op(first, partials[i]);
  first = block_reduce<kReduceThreads>(first, op);
  T second = identity;
  for (std::size_t i = threadIdx.x; i < n2; i += kReduceThreads) second = op(second, partials[n1 + i]);
  second = block_reduce<kReduceThreads>(second, op);
  if (threadIdx.x == 0) *out = n2 > 0 ? first * scale1 + second * scale2 : first * scale1;
}

}  // namespace gramgan::GG_BACKEND::detail
