// Instance norm over each (n, c) plane, affine per channel (Ulyanov et al. 2016).
//
// x, y, dy, dx: (N, C, plane); gamma, beta, dgamma, dbeta: (C); mean, inv_std: (N, C).
//   forward:  mean = sum(x) / P, var = sum((x - mean)^2) / P (biased), inv_std = 1 / sqrt(var + eps),
//             y = gamma[c] (x - mean) inv_std + beta[c]
//   backward: xhat = (x - mean) inv_std,
//             dx = gamma[c] inv_std (dy - mean(dy) - xhat mean(dy xhat))   (means over the plane)
//             dbeta[c] = sum_{n, plane} dy, dgamma[c] = sum_{n, plane} dy xhat
//
// One block of kThreads per instance: each thread walks the plane with stride kThreads (coalesced), and
// block_sum folds the per-thread sums in a fixed tree. The statistics are the corrected two-pass sums of
// kernels/plane_stats.cuh: mean = shift + sum(d) / P, var = sum(d^2) / P - (sum(d) / P)^2 for d = x - shift. The
// backward pass writes per-instance sums to the workspace; a second kernel folds them over the batch in order n = 0, 1,
// ..., so dgamma and dbeta have the same bits on every run without floating-point atomics.
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/launch.h"
#include "kernels/launchers.h"
#include "kernels/plane_stats.cuh"

namespace gramgan::GG_BACKEND {
namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void __launch_bounds__(kThreads)
    instance_norm_forward_kernel(int channels, int plane, T eps, const T* x, const T* gamma, const T* beta, T* y,
                                 T* mean, T* inv_std) {
  GG_KERNEL_BOUNDS(kThreads);
  const int instance = int(blockIdx.x);
  const int c = instance % channels;
  const T* xi = x + std::size_t(instance) * plane;
  T* yi = y + std::size_t(instance) * plane;

  const PlaneSums<T> sums = plane_sums<kThreads>(xi, plane);
  const T shift = sums.shift, correction = sums.sum_d / T(plane);
  const T var = sums.sum_d2 / T(plane) - correction * correction;
  const T mu = shift + correction;
  const T istd = T(1) / device_sqrt((var > T(0) ? var : T(0)) + eps);
  if (threadIdx.x == 0) {
    mean[instance] = mu;
    inv_std[instance] = istd;
  }

  // Centre with the unrounded (shift, correction) pair: x - shift is exact when |mean| >> std (Sterbenz), while mu
  // carries a rounding of order ulp(mean) that could be large against std. Never x * scale - mean * scale.
  const T scale = gamma[c] * istd, bias = beta[c];
  const PlaneSpan span = plane_span<kThreads>(plane);
  for (int i = span.begin; i < span.end; i += span.step) yi[i] = ((xi[i] - shift) - correction) * scale + bias;
}

// partials[instance] = sum dy, partials[instances + instance] = sum dy xhat.
template <class T>
__global__ void __launch_bounds__(kThreads)
    instance_norm_backward_kernel(int channels, int plane, const T* x, const T* dy, const T* gamma, const T* mean,
                                  const T* inv_std, T* dx, T* partials) {
  GG_KERNEL_BOUNDS(kThreads);
  const int instance = int(blockIdx.x);
  const int c = instance % channels;
  const std::size_t offset = std::size_t(instance) * plane;
  const T* xi = x + offset;
  const T* dyi = dy + offset;
  T* dxi = dx + offset;
  const T mu = mean[instance], istd = inv_std[instance];

  const NormalizedGradSums<T> sums = normalized_grad_sums<kThreads>(xi, dyi, plane, mu, istd);
  const T sum_dy = sums.sum_dy, sum_dy_xhat = sums.sum_dy_xhat, xhat_offset = sums.xhat_offset;
  if (threadIdx.x == 0) {
    partials[instance] = sum_dy;
    partials[std::size_t(gridDim.x) + instance] = sum_dy_xhat;
  }

  const T mean_dy = sum_dy / T(plane), mean_dy_xhat = sum_dy_xhat / T(plane);
  const T scale = gamma[c] * istd;
  const PlaneSpan span = plane_span<kThreads>(plane);
  for (int i = span.begin; i < span.end; i += span.step)
    dxi[i] = scale * (dyi[i] - mean_dy - ((xi[i] - mu) * istd - xhat_offset) * mean_dy_xhat);
}

// One thread per channel, summing the batch in order: coalesced over c, fixed order over n.
template <class T>
__global__ void __launch_bounds__(kThreads)
    instance_norm_param_grad_kernel(int batch, int channels, const T* partials, T* dgamma, T* dbeta) {
  GG_KERNEL_BOUNDS(kThreads);
  const int c = int(blockIdx.x) * kThreads + int(threadIdx.x);
  if (c >= channels) return;
  const std::size_t instances = std::size_t(batch) * channels;
  T sum_dy = T(0), sum_dy_xhat = T(0);
  for (int n = 0; n < batch; ++n) {
    sum_dy += partials[std::size_t(n) * channels + c];
    sum_dy_xhat += partials[instances + std::size_t(n) * channels + c];
  }
  dbeta[c] = sum_dy;
  dgamma[c] = sum_dy_xhat;
}

void check_shape(const char* launcher, int batch, int channels, int plane) {
  if (batch <= 0 || channels <= 0 || plane <= 0)
    throw std::invalid_argument(std::string(launcher) +
                                ": batch, channels and plane must be positive, got batch=" + std::to_string(batch) +
                                " channels=" + std::to_string(channels) + " plane=" + std::to_string(plane));
  if (std::size_t(batch) * std::size_t(channels) > 0x7fffffffu)
    throw std::invalid_argument(std::string(launcher) + ": batch * channels exceeds one grid (2^31 - 1 instances)");
}

void check_pointers(const char* launcher, std::initializer_list<std::pair<const void*, const char*>> pointers) {
  for (const auto& [p, name] : pointers)
    if (p == nullptr)
      throw std::invalid_argument(std::string(launcher) + ": " + name + " is null (instance norm is affine: pass " +
                                  "gamma = 1 and beta = 0 for a plain normalisation)");
}

}  // namespace

template <class T>
void instance_norm_forward(int batch, int channels, int plane, T eps, const T* x, const T* gamma, const T* beta, T* y,
                           T* mean, T* inv_std, StreamHandle stream) {
  constexpr const char* kName = "instance_norm_forward";
  check_shape(kName, batch, channels, plane);
  if (!(eps >= T(0)))
    throw std::invalid_argument(std::string(kName) + ": eps must be >= 0, got " + std::to_string(double(eps)));
  check_pointers(kName, {{x, "x"}, {gamma, "gamma"}, {beta, "beta"}, {y, "y"}, {mean, "mean"}, {inv_std, "inv_std"}});
  launch<instance_norm_forward_kernel<T>>(dim3(unsigned(batch * channels)), dim3(kThreads), 0, stream, channels, plane,
                                          eps, x, gamma, beta, y, mean, inv_std);
}

std::size_t instance_norm_backward_workspace(int batch, int channels, StreamHandle) {
  if (batch <= 0 || channels <= 0)
    throw std::invalid_argument("instance_norm_backward_workspace: batch and channels must be positive, got batch=" +
                                std::to_string(batch) + " channels=" + std::to_string(channels));
  return 2 * std::size_t(batch) * std::size_t(channels);
}

template <class T>
void instance_norm_backward(int batch, int channels, int plane, const T* x, const T* dy, const T* gamma, const T* mean,
                            const T* inv_std, T* dx, T* dgamma, T* dbeta, T* workspace, StreamHandle stream) {
  constexpr const char* kName = "instance_norm_backward";
  check_shape(kName, batch, channels, plane);
  check_pointers(kName, {{x, "x"}, {dy, "dy"}, {gamma, "gamma"}, {mean, "mean"}, {inv_std, "inv_std"}});
  check_pointers(kName, {{dx, "dx"}, {dgamma, "dgamma"}, {dbeta, "dbeta"}});
  if (workspace == nullptr)
    throw std::invalid_argument(std::string(kName) +
                                ": workspace is null (allocate instance_norm_backward_workspace(batch, channels) "
                                "elements)");
  launch<instance_norm_backward_kernel<T>>(dim3(unsigned(batch * channels)), dim3(kThreads), 0, stream, channels, plane,
                                           x, dy, gamma, mean, inv_std, dx, workspace);
  launch<instance_norm_param_grad_kernel<T>>(dim3(unsigned((channels + kThreads - 1) / kThreads)), dim3(kThreads), 0,
                                             stream, batch, channels, static_cast<const T*>(workspace), dgamma, dbeta);
}

template void instance_norm_forward<float>(int, int, int, float, const float*, const float*, const float*, float*,
                                           float*, float*, StreamHandle);
template void instance_norm_forward<double>(int, int, int, double, const double*, const double*, const double*, double*,
                                            double*, double*, StreamHandle);
template void instance_norm_backward<float>(int, int, int, const float*, const float*, const float*, const float*,
                                            const float*, float*, float*, float*, float*, StreamHandle);
template void instance_norm_backward<double>(int, int, int, const double*, const double*, const double*, const double*,
                                             const double*, double*, double*, double*, double*, StreamHandle);

}  // namespace gramgan::GG_BACKEND
