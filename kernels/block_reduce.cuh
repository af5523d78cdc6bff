// Deterministic block-wide reductions for kernels: a fixed-order tree (xor-shuffle butterfly inside each warp,
// then the warp partials in shared memory), so the same inputs give the same bits on every run and backend.
// No floating-point atomics anywhere.
//
// Contract: every thread of the block calls it (it synchronises), blockDim.x * blockDim.y * blockDim.z == kThreads,
// a multiple of 32 and at most 1024. Every thread receives the result.
#pragma once

namespace gramgan::GG_BACKEND {

struct SumOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct MinOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const { return b < a ? b : a; }
};
struct MaxOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const { return b > a ? b : a; }
};

template <class T, class Op>
__device__ __forceinline__ T warp_reduce(T value, Op op) {
  for (int offset = 16; offset > 0; offset /= 2) value = op(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

template <int kThreads, class T, class Op>
__device__ T block_reduce(T value, Op op) {
  static_assert(kThreads % 32 == 0 && kThreads <= 1024, "block_reduce needs whole warps");
  constexpr int kWarps = kThreads / 32;
  __shared__ T partials[kWarps];
  const int thread = int(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z));
  value = warp_reduce(value, op);
  __syncthreads();  // partials may still be read by a previous call
  if (thread % 32 == 0) partials[thread / 32] = value;
  __syncthreads();
  value = partials[0];
  for (int w = 1; w < kWarps; ++w) value = op(value, partials[w]);
  return value;
}

template <int kThreads, class T>
__device__ T block_sum(T value) {
  return block_reduce<kThreads>(value, SumOp{});
}

}  // namespace gramgan::GG_BACKEND
