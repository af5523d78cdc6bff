// Both forms of kernels/block_reduce.cuh over the same inputs: the xor-shuffle form the GPU build uses and the
// shared-memory form the simulator uses. They claim the same tree, so tests/test_sample_kernels.cpp requires
// their results to be bitwise equal, on the simulator and (with a device) on the GPU.
#include <stdexcept>

#include "kernels/block_reduce.cuh"
#include "kernels/launch.h"
#include "tests/sample_kernels/sample_kernels.h"

namespace gramgan::GG_BACKEND::samples {
namespace {

constexpr int kThreads = 256;

// Thread t of block b reduces x[((b * kThreads + t) * kBlockReduceValues + v] over its block, for each v, with
// each form; both write what every thread received.
template <class T, class Op>
__global__ void __launch_bounds__(kThreads) block_reduce_forms_kernel(const T* x, Op op, T* shuffled, T* staged) {
  const std::size_t base = (std::size_t(blockIdx.x) * kThreads + threadIdx.x) * kBlockReduceValues;
  T a[kBlockReduceValues], b[kBlockReduceValues];
  for (int v = 0; v < kBlockReduceValues; ++v) a[v] = b[v] = x[base + v];
  detail::block_reduce_shuffled<kThreads>(a, op);
  detail::block_reduce_staged<kThreads>(b, op);
  for (int v = 0; v < kBlockReduceValues; ++v) {
    shuffled[base + v] = a[v];
    staged[base + v] = b[v];
  }
}

template <class T>
void forms(const T* x, int blocks, BlockReduceOp op, T* shuffled, T* staged, StreamHandle stream) {
  if (blocks < 1) throw std::invalid_argument("block_reduce_forms: blocks must be positive");
  if (x == nullptr || shuffled == nullptr || staged == nullptr)
    throw std::invalid_argument("block_reduce_forms: x, shuffled and staged must not be null");
  const dim3 grid{unsigned(blocks)}, block{kThreads};
  switch (op) {
    case BlockReduceOp::sum:
      launch<block_reduce_forms_kernel<T, SumOp>>(grid, block, 0, stream, x, SumOp{}, shuffled, staged);
      break;
    case BlockReduceOp::min:
      launch<block_reduce_forms_kernel<T, MinOp>>(grid, block, 0, stream, x, MinOp{}, shuffled, staged);
      break;
    case BlockReduceOp::max:
      launch<block_reduce_forms_kernel<T, MaxOp>>(grid, block, 0, stream, x, MaxOp{}, shuffled, staged);
      break;
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
