// Deterministic block-wide reductions for kernels: a fixed-order tree, so the same inputs give the same bits on
// every run. No floating-point atomics anywhere. The tree is the same on every backend and each of its steps is
// one IEEE operation (add, compare), so the fold itself also agrees bitwise across backends (a NaN's payload
// aside: a GPU returns the canonical NaN). What kernels feed it is another matter: nvcc and g++ contract a * b + c
// into an FMA differently, so a kernel's result is bitwise repeatable on one backend and agrees across backends
// within tolerance.
//
// The tree: each warp folds its 32 lanes by halving (lane i += lane i + 16 for i < 16, then i + 8 for i < 8, ...,
// so lane 0 ends with ((v0 + v16) + (v8 + v24)) + ...), then the warp results are folded in warp order. Up to
// N values are reduced at once, each with its own tree, for the price of one reduction's synchronisation.
//
// Two forms compute that tree with the same operations in the same order, so their results are bitwise equal
// (tests/test_sample_kernels.cpp, SampleKernelsBlockReduceForms, checks it on both backends, signed zeros and NaN
// included):
//   - shuffled (GPU): an xor-shuffle butterfly in each warp (lane 0's value after it is exactly the halving
//     tree), warp results through shared memory.
//   - staged (simulator): every thread stores its values to shared memory and one thread per warp folds the 32
//     lanes in a loop. In the simulator each shuffle parks all 32 lanes on their fibers (5 fiber switches per
//     lane per value), and each barrier one; staged costs two barriers per call whatever N is.
//
// Contract: every thread of the block calls it (it synchronises), blockDim.x * blockDim.y * blockDim.z == kThreads,
// a multiple of 32 and at most 1024. Every thread receives the results.
#pragma once

#include "kernels/launch.h"

namespace gramgan::GG_BACKEND {

struct SumOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct MinOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return b < a ? b : a;
  }
};
struct MaxOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return b > a ? b : a;
  }
};

namespace detail {

__device__ __forceinline__ int block_thread_index() {
  return int(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z));
}

template <int kThreads, int N, class T, class Op>
__device__ void block_reduce_shuffled(T (&values)[N], Op op) {
  static_assert(kThreads % 32 == 0 && kThreads <= 1024, "block_reduce needs whole warps");
  constexpr int kWarps = kThreads / 32;
  GG_SHARED(T[N][kWarps], partials);
  const int thread = block_thread_index();
  for (int offset = 16; offset > 0; offset /= 2) {
    for (int v = 0; v < N; ++v) values[v] = op(values[v], __shfl_xor_sync(0xffffffffu, values[v], offset));
  }
  __syncthreads();  // partials may still be read by a previous call
  if (thread % 32 == 0) {
    for (int v = 0; v < N; ++v) partials[v][thread / 32] = values[v];
  }
  __syncthreads();
  for (int v = 0; v < N; ++v) {
    values[v] = partials[v][0];
    for (int w = 1; w < kWarps; ++w) values[v] = op(values[v], partials[v][w]);
  }
}

template <int kThreads, int N, class T, class Op>
__device__ void block_reduce_staged(T (&values)[N], Op op) {
  static_assert(kThreads % 32 == 0 && kThreads <= 1024, "block_reduce needs whole warps");
  constexpr int kWarps = kThreads / 32;
  // Two arrays make two barriers enough across back-to-back calls: a thread stores to `staged` only after the
  // previous call's folds (before its second barrier) are done, and reads `partials` before its next first barrier.
  GG_SHARED(T[N][kThreads], staged);
  GG_SHARED(T[N][kWarps], partials);
  const int thread = block_thread_index();
  for (int v = 0; v < N; ++v) staged[v][thread] = values[v];
  __syncthreads();
  if (thread < kWarps) {
    for (int v = 0; v < N; ++v) {
      T lanes[32];
      for (int i = 0; i < 32; ++i) lanes[i] = staged[v][32 * thread + i];
      for (int offset = 16; offset > 0; offset /= 2) {
        for (int i = 0; i < offset; ++i) lanes[i] = op(lanes[i], lanes[i + offset]);
      }
      partials[v][thread] = lanes[0];
    }
  }
  __syncthreads();
  for (int v = 0; v < N; ++v) {
    values[v] = partials[v][0];
    for (int w = 1; w < kWarps; ++w) values[v] = op(values[v], partials[v][w]);
  }
}

}  // namespace detail

// values[v] = op over the block of every thread's values[v], for each v < N.
template <int kThreads, int N, class T, class Op>
__device__ __forceinline__ void block_reduce(T (&values)[N], Op op) {
#if defined(GG_SIMULATOR)
  detail::block_reduce_staged<kThreads>(values, op);
#else
  detail::block_reduce_shuffled<kThreads>(values, op);
#endif
}

template <int kThreads, class T, class Op>
__device__ __forceinline__ T block_reduce(T value, Op op) {
  T values[1] = {value};
  block_reduce<kThreads>(values, op);
  return values[0];
}

template <int kThreads, class T>
__device__ __forceinline__ T block_sum(T value) {
  return block_reduce<kThreads>(value, SumOp{});
}

template <int kThreads, int N, class T>
__device__ __forceinline__ void block_sum(T (&values)[N]) {
  block_reduce<kThreads>(values, SumOp{});
}

}  // namespace gramgan::GG_BACKEND
