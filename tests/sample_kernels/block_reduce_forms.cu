// Both forms of kernels/block_reduce.cuh over the same inputs: the xor-shuffle form the GPU build uses and the
// shared-memory form the simulator uses. They claim the same tree, so tests/test_sample_kernels.cpp requires
// their results to be bitwise equal, on the simulator and (with a device) on the GPU; only a NaN's payload may
// differ (a GPU returns the canonical NaN).
#include <stdexcept>

#include "kernels/block_reduce.cuh"
#include "kernels/launch.h"
#include "tests/sample_kernels/sample_kernels.h"

namespace gramgan::GG_BACKEND::samples {
namespace {

constexpr int kThreads = 256;

// Thread t of block b reduces x[((b * kThreads + t) * kBlockReduceValues + v] over its block, for each v, with
// one form (one kernel per form: both in one kernel spilled a register on sm_80), and writes what it received.
template <class T, class Op, bool kStaged>
__global__ void __launch_bounds__(kThreads) block_reduce_form_kernel(const T* x, Op op, T* out) {
  GG_KERNEL_BOUNDS(kThreads);
  const std::size_t base = (std::size_t(blockIdx.x) * kThreads + threadIdx.x) * kBlockReduceValues;
  T values[kBlockReduceValues];
  for (int v = 0; v < kBlockReduceValues; ++v) values[v] = x[base + v];
  if constexpr (kStaged)
    detail::block_reduce_staged<kThreads>(values, op);
  else
    detail::block_reduce_shuffled<kThreads>(values, op);
  for (int v = 0; v < kBlockReduceValues; ++v) out[base + v] = values[v];
}

template <class T, class Op>
void launch_forms(dim3 grid, const T* x, Op op, T* shuffled, T* staged, StreamHandle stream) {
  launch<block_reduce_form_kernel<T, Op, false>>(grid, dim3{kThreads}, 0, stream, x, op, shuffled);
  launch<block_reduce_form_kernel<T, Op, true>>(grid, dim3{kThreads}, 0, stream, x, op, staged);
}

template <class T>
void forms(const T* x, int blocks, BlockReduceOp op, T* shuffled, T* staged, StreamHandle stream) {
  if (blocks < 1) throw std::invalid_argument("block_reduce_forms: blocks must be positive");
  if (x == nullptr || shuffled == nullptr || staged == nullptr)
    throw std::invalid_argument("block_reduce_forms: x, shuffled and staged must not be null");
  const dim3 grid{unsigned(blocks)};
  switch (op) {
    case BlockReduceOp::sum: launch_forms(grid, x, SumOp{}, shuffled, staged, stream); break;
    case BlockReduceOp::min: launch_forms(grid, x, MinOp{}, shuffled, staged, stream); break;
    case BlockReduceOp::max: launch_forms(grid, x, MaxOp{}, shuffled, staged, stream); break;
  }
}

}  // namespace

void block_reduce_forms(const float* x, int blocks, BlockReduceOp op, float* shuffled, float* staged,
                        StreamHandle stream) {
  forms(x, blocks, op, shuffled, staged, stream);
}
void block_reduce_forms(const double* x, int blocks, BlockReduceOp op, double* shuffled, double* staged,
                        StreamHandle stream) {
  forms(x, blocks, op, shuffled, staged, stream);
}

}  // namespace gramgan::GG_BACKEND::samples
