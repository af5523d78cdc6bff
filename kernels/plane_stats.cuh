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

template <class T>
struct PlaneSums {
  T shift, sum_d, sum_d2;
};

template <int kThreads, class T>
__device__ PlaneSums<T> plane_sums(const T* u, int plane) {
  T sum = T(0);
  for (int i = int(threadIdx.x); i < plane; i += kThreads) sum += u[i];
  const T shift = block_sum<kThreads>(sum) / T(plane);
  T sum_d = T(0), sum_d2 = T(0);
  for (int i = int(threadIdx.x); i < plane; i += kThreads) {
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
  T sum_dy = T(0), sum_dy_xhat = T(0), sum_xhat = T(0);
  for (int i = int(threadIdx.x); i < plane; i += kThreads) {
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
