// Statistics of one (n, c) plane, computed by one block of kThreads (every thread calls, every thread receives
// the result): the normalisation kernels' shared sums (norm.cu, adain.cu).
//
// plane_sums: the corrected two-pass algorithm (Chan, Golub & LeVeque 1983): a first pass gives a shift, the
// second sums d = u - shift and d^2. Centring first keeps the variance exact to rounding when |mean| >> std (no
// E[u^2] - E[u]^2 cancellation); mean = shift + sum_d / P.
//
// normalized_grad_sums: sum(dy) and sum(dy xhat) for xhat = (u - mean) inv_std with the saved mean. The saved mean
// is rounded to T; when |mean| >> std that rounding is a visible constant offset of xhat, so mean(xhat) is measured
// in the same pass and removed.
#pragma once

#include "kernels/block_reduce.cuh"

namespace gramgan::GG_BACKEND {

__device__ __forceinline__ float device_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double device_sqrt(double x) { return sqrt(x); }

// The elements of a plane that one thread of the block visits: i = begin, begin + step, ... while i < end.
//   - GPU: i = threadIdx.x + kThreads j, so each warp reads 32 consecutive elements (coalesced).
//   - simulator: thread t a contiguous run of ceil(P / kThreads) elements. Between two barriers the simulator runs
//     a block's threads one after the other, so with the GPU's stride each thread would touch one element of every
//     cache line of the plane: each line is fetched from L2 (or memory, for planes beyond L2) once per thread that
//     reads it, 16 times for float. A contiguous run fetches it once and streams.
// Each thread still sums its elements in order and the block folds the per-thread sums in the fixed tree of
// block_sum, so the result depends on the shape and the backend only (the backends group the terms differently
// and agree within tolerance, as everywhere else).
struct PlaneSpan {
  int begin, end, step;
};

template <int kThreads>
__device__ __forceinline__ PlaneSpan plane_span(int plane) {
  const int t = int(threadIdx.x);
#if defined(GG_SIMULATOR)
  const long long run = (static_cast<long long>(plane) + kThreads - 1) / kThreads;
  const long long begin = run * t < plane ? run * t : plane;
  const long long end = begin + run < plane ? begin + run : plane;
  return {int(begin), int(end), 1};
#else
  return {t, plane, kThreads};
#endif
}

template <class T>
struct PlaneSums {
  T shift, sum_d, sum_d2;
};

template <int kThreads, class T>
__device__ PlaneSums<T> plane_sums(const T* u, int plane) {
  const PlaneSpan span = plane_span<kThreads>(plane);
  T sum = T(0);
  for (int i = span.begin; i < span.end; i += span.step) sum += u[i];
  const T shift = block_sum<kThreads>(sum) / T(plane);
  T sum_d = T(0), sum_d2 = T(0);
  for (int i = span.begin; i < span.end; i += span.step) {
    const T d = u[i] - shift;
    sum_d += d;
    sum_d2 += d * d;
  }
  T moments[2] = {sum_d, sum_d2};
  block_sum<kThreads>(moments);
  return {shift, moments[0], moments[1]};
}

template <class T>
struct NormalizedGradSums {
  T sum_dy, sum_dy_xhat, xhat_offset;  // sum_dy_xhat with the offset removed; xhat_offset = mean(xhat)
};

template <int kThreads, class T>
__device__ NormalizedGradSums<T> normalized_grad_sums(const T* u, const T* dy, int plane, T mean, T inv_std) {
  const PlaneSpan span = plane_span<kThreads>(plane);
  T sum_dy = T(0), sum_dy_xhat = T(0), sum_xhat = T(0);
  for (int i = span.begin; i < span.end; i += span.step) {
    const T g = dy[i], xhat = (u[i] - mean) * inv_std;
    sum_dy += g;
    sum_dy_xhat += g * xhat;
    sum_xhat += xhat;
  }
  T sums[3] = {sum_dy, sum_xhat, sum_dy_xhat};
  block_sum<kThreads>(sums);
  const T xhat_offset = sums[1] / T(plane);
  return {sums[0], sums[2] - xhat_offset * sums[0], xhat_offset};
}

}  // namespace gramgan::GG_BACKEND
