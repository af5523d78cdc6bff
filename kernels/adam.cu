// Fused Adam (Kingma & Ba 2015) with bias correction and decoupled weight decay (AdamW, Loshchilov & Hutter).
//
// param, grad, m, v: `count` elements; per element, in T, at 1-based step t:
//   p -= lr wd p                         (decoupled decay, first, on the parameter before the Adam update)
//   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//   p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// The bias corrections 1 - b^t are computed once on the host in double. One thread per element.
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/launch.h"
#include "kernels/launchers.h"

namespace gramgan::GG_BACKEND {
namespace {

constexpr int kThreads = 256;

template <class T>
struct AdamScalars {
  T lr, beta1, beta2, eps, decay, correction1, correction2;  // decay = lr wd
};

template <class T>
__global__ void __launch_bounds__(kThreads)
    adam_kernel(std::size_t count, AdamScalars<T> s, T* param, const T* grad, T* m, T* v) {
  GG_KERNEL_BOUNDS(kThreads);
  const std::size_t i = std::size_t(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= count) return;
  T p = param[i];
  const T g = grad[i];
  // Skipped when there is no decay, so that an infinite parameter is not turned into NaN by inf * 0.
  if (s.decay != T(0)) p -= s.decay * p;
  const T mi = s.beta1 * m[i] + (T(1) - s.beta1) * g;
  const T vi = s.beta2 * v[i] + (T(1) - s.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  param[i] = p - s.lr * (mi / s.correction1) / (sqrt(vi / s.correction2) + s.eps);
}

}  // namespace

template <class T>
void adam_step(const AdamConfig& config, std::size_t count, T* param, const T* grad, T* m, T* v, StreamHandle stream) {
  const auto fail = [](const std::string& what) { throw std::invalid_argument("adam_step: " + what); };
  if (!(config.lr >= 0) || !std::isfinite(config.lr)) fail("lr must be finite and >= 0");
  if (!(config.beta1 >= 0 && config.beta1 < 1)) fail("beta1 must be in [0, 1)");
  if (!(config.beta2 >= 0 && config.beta2 < 1)) fail("beta2 must be in [0, 1)");
  if (!(config.eps > 0)) fail("eps must be > 0 (it keeps the update finite where v is 0)");
  if (!(config.weight_decay >= 0) || !std::isfinite(config.weight_decay)) fail("weight_decay must be finite and >= 0");
  if (config.step < 1) fail("step is 1-based (the first update is step 1); got " + std::to_string(config.step));
  if (count == 0) return;
  if (param == nullptr || grad == nullptr || m == nullptr || v == nullptr) fail("null device pointer");
  const double step = double(config.step);
  const AdamScalars<T> s{T(config.lr),
                         T(config.beta1),
                         T(config.beta2),
                         T(config.eps),
                         T(config.lr * config.weight_decay),
                         T(1 - std::pow(config.beta1, step)),
                         T(1 - std::pow(config.beta2, step))};
  const std::size_t blocks = (count + kThreads - 1) / kThreads;
  if (blocks > 0x7fffffffu) fail("count exceeds one grid");
  launch<adam_kernel<T>>(dim3(unsigned(blocks)), dim3(kThreads), 0, stream, count, s, param, grad, m, v);
}

template void adam_step<float>(const AdamConfig&, std::size_t, float*, const float*, float*, float*, StreamHandle);
template void adam_step<double>(const AdamConfig&, std::size_t, double*, const double*, double*, double*, StreamHandle);

}  // namespace gramgan::GG_BACKEND
