// Adaptive instance normalisation (Huang & Belongie 2017, "Arbitrary Style Transfer in Real-time with Adaptive
// Instance Normalization"): each (n, c) plane of the content features takes the mean and standard deviation of
// the same plane of the style features.
//
// content, y, dy, dcontent: (N, C, P); style, dstyle: (N, C, Ps), the planes may differ in size (P, Ps >= 2).
// content_mean, content_inv_std, style_mean, style_std: (N, C), saved for backward.
//   sigma(u) = sqrt(var(u) + eps) with the unbiased variance sum((u - mean)^2) / (P - 1), as the paper's reference
//   code computes it (torch.var's default), so a PyTorch port of a trained model gives the same features.
//   forward:  xhat = (x - mu_x) / sigma(x),  y = sigma(s) xhat + mu_s
//   backward: g = dy sigma(s),
//             dx = (g - mean(g) - xhat sum(g xhat) / (P - 1)) / sigma(x)
//             d mu_s = sum(dy), d sigma_s = sum(dy xhat),
//             ds = d mu_s / Ps + d sigma_s (s - mu_s) / ((Ps - 1) sigma(s))
//
// One block of kThreads per plane, as in norm.cu, with the same sums (kernels/plane_stats.cuh: corrected two-pass
// moments, fixed-order block_sum trees). Forward: one kernel for the style
// statistics, then one per content plane that measures its own statistics and writes y. Backward: one kernel per
// content plane writes dx and its two sums to the workspace, then one per style plane reads them. No atomics.
#include <stdexcept>
#include <string>

#include "kernels/launch.h"
#include "kernels/launchers.h"
#include "kernels/plane_stats.cuh"

namespace gramgan::GG_BACKEND {
namespace {

constexpr int kThreads = 256;

// The moments of one plane from plane_sums; sigma uses the unbiased variance.
template <class T>
struct PlaneMoments {
  T shift, correction, var;  // mean = shift + correction
  __device__ T mean() const { return shift + correction; }
  __device__ T sigma(T eps) const { return device_sqrt((var > T(0) ? var : T(0)) + eps); }
};

template <class T>
__device__ PlaneMoments<T> plane_moments(const T* u, int plane) {
  const PlaneSums<T> s = plane_sums<kThreads>(u, plane);
  const T correction = s.sum_d / T(plane);
  return {s.shift, correction, (s.sum_d2 - s.sum_d * correction) / T(plane - 1)};
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    adain_style_stats_kernel(int style_plane, T eps, const T* style, T* style_mean, T* style_std) {
  GG_KERNEL_BOUNDS(kThreads);
  const int instance = int(blockIdx.x);
  const PlaneMoments<T> m = plane_moments(style + std::size_t(instance) * style_plane, style_plane);
  if (threadIdx.x == 0) {
    style_mean[instance] = m.mean();
    style_std[instance] = m.sigma(eps);
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    adain_forward_kernel(int plane, T eps, const T* content, const T* style_mean, const T* style_std, T* y,
                         T* content_mean, T* content_inv_std) {
  GG_KERNEL_BOUNDS(kThreads);
  const int instance = int(blockIdx.x);
  const T* xi = content + std::size_t(instance) * plane;
  T* yi = y + std::size_t(instance) * plane;
  const PlaneMoments<T> m = plane_moments(xi, plane);
  const T inv_std = T(1) / m.sigma(eps);
  if (threadIdx.x == 0) {
    content_mean[instance] = m.mean();
    content_inv_std[instance] = inv_std;
  }
  // Centred with the unrounded (shift, correction) pair, as instance norm does (norm.cu says why).
  const T scale = style_std[instance] * inv_std, bias = style_mean[instance];
  const PlaneSpan span = plane_span<kThreads>(plane);
  for (int i = span.begin; i < span.end; i += span.step) yi[i] = ((xi[i] - m.shift) - m.correction) * scale + bias;
}

// sums[instance] = sum dy, sums[instances + instance] = sum dy xhat.
template <class T>
__global__ void __launch_bounds__(kThreads)
    adain_backward_content_kernel(int plane, const T* content, const T* dy, const T* content_mean,
                                  const T* content_inv_std, const T* style_std, T* dcontent, T* sums) {
  GG_KERNEL_BOUNDS(kThreads);
  const int instance = int(blockIdx.x);
  const std::size_t offset = std::size_t(instance) * plane;
  const T* xi = content + offset;
  const T* dyi = dy + offset;
  T* dxi = dcontent + offset;
  const T mu = content_mean[instance], inv_std = content_inv_std[instance];

  const NormalizedGradSums<T> g = normalized_grad_sums<kThreads>(xi, dyi, plane, mu, inv_std);
  if (threadIdx.x == 0) {
    sums[instance] = g.sum_dy;
    sums[std::size_t(gridDim.x) + instance] = g.sum_dy_xhat;
  }

  const T mean_dy = g.sum_dy / T(plane), dy_xhat_per_dof = g.sum_dy_xhat / T(plane - 1);
  const T scale = style_std[instance] * inv_std;
  const PlaneSpan span = plane_span<kThreads>(plane);
  for (int i = span.begin; i < span.end; i += span.step)
    dxi[i] = scale * (dyi[i] - mean_dy - ((xi[i] - mu) * inv_std - g.xhat_offset) * dy_xhat_per_dof);
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    adain_backward_style_kernel(int style_plane, const T* style, const T* style_mean, const T* style_std, const T* sums,
                                T* dstyle) {
  GG_KERNEL_BOUNDS(kThreads);
  const int instance = int(blockIdx.x);
  const std::size_t offset = std::size_t(instance) * style_plane;
  const T dmean = sums[instance] / T(style_plane);
  const T dsigma_scale = sums[std::size_t(gridDim.x) + instance] / (T(style_plane - 1) * style_std[instance]);
  const T mu = style_mean[instance];
  const PlaneSpan span = plane_span<kThreads>(style_plane);
  for (int i = span.begin; i < span.end; i += span.step)
    dstyle[offset + i] = dmean + (style[offset + i] - mu) * dsigma_scale;
}

void check_shape(const char* launcher, int batch, int channels, int plane, int style_plane) {
  if (batch <= 0 || channels <= 0)
    throw std::invalid_argument(std::string(launcher) + ": batch and channels must be positive, got batch=" +
                                std::to_string(batch) + " channels=" + std::to_string(channels));
  if (plane < 2 || style_plane < 2)
    throw std::invalid_argument(std::string(launcher) + ": the content and style planes need at least 2 elements " +
                                "each (the unbiased variance), got " + std::to_string(plane) + " and " +
                                std::to_string(style_plane));
  if (std::size_t(batch) * std::size_t(channels) > 0x7fffffffu)
    throw std::invalid_argument(std::string(launcher) + ": batch * channels exceeds one grid (2^31 - 1 instances)");
}

void check_pointers(const char* launcher, std::initializer_list<const void*> pointers) {
  for (const void* p : pointers)
    if (p == nullptr) throw std::invalid_argument(std::string(launcher) + ": null device pointer");
}

}  // namespace

template <class T>
void adain_forward(int batch, int channels, int plane, int style_plane, T eps, const T* content, const T* style, T* y,
                   T* content_mean, T* content_inv_std, T* style_mean, T* style_std, StreamHandle stream) {
  constexpr const char* kName = "adain_forward";
  check_shape(kName, batch, channels, plane, style_plane);
  if (!(eps >= T(0)))
    throw std::invalid_argument(std::string(kName) + ": eps must be >= 0, got " + std::to_string(double(eps)));
  check_pointers(kName, {content, style, y, content_mean, content_inv_std, style_mean, style_std});
  const dim3 grid(unsigned(batch * channels));
  launch<adain_style_stats_kernel<T>>(grid, dim3(kThreads), 0, stream, style_plane, eps, style, style_mean, style_std);
  launch<adain_forward_kernel<T>>(grid, dim3(kThreads), 0, stream, plane, eps, content,
                                  static_cast<const T*>(style_mean), static_cast<const T*>(style_std), y, content_mean,
                                  content_inv_std);
}

std::size_t adain_backward_workspace(int batch, int channels, StreamHandle) {
  if (batch <= 0 || channels <= 0)
    throw std::invalid_argument("adain_backward_workspace: batch and channels must be positive, got batch=" +
                                std::to_string(batch) + " channels=" + std::to_string(channels));
  return 2 * std::size_t(batch) * std::size_t(channels);
}

template <class T>
void adain_backward(int batch, int channels, int plane, int style_plane, const T* content, const T* style, const T* dy,
                    const T* content_mean, const T* content_inv_std, const T* style_mean, const T* style_std,
                    T* dcontent, T* dstyle, T* workspace, StreamHandle stream) {
  constexpr const char* kName = "adain_backward";
  check_shape(kName, batch, channels, plane, style_plane);
  check_pointers(
      kName, {content, style, dy, content_mean, content_inv_std, style_mean, style_std, dcontent, dstyle, workspace});
  const dim3 grid(unsigned(batch * channels));
  launch<adain_backward_content_kernel<T>>(grid, dim3(kThreads), 0, stream, plane, content, dy, content_mean,
                                           content_inv_std, style_std, dcontent, workspace);
  launch<adain_backward_style_kernel<T>>(grid, dim3(kThreads), 0, stream, style_plane, style, style_mean, style_std,
                                         static_cast<const T*>(workspace), dstyle);
}

#define GG_INSTANTIATE(T)                                                                                         \
  template void adain_forward<T>(int, int, int, int, T, const T*, const T*, T*, T*, T*, T*, T*, StreamHandle);    \
  template void adain_backward<T>(int, int, int, int, const T*, const T*, const T*, const T*, const T*, const T*, \
                                  const T*, T*, T*, T*, StreamHandle);
GG_INSTANTIATE(float)
GG_INSTANTIATE(double)
#undef GG_INSTANTIATE

}  // namespace gramgan::GG_BACKEND
