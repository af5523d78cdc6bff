// Instance norm (kernels/norm.cu) against a naive double-precision reference, central finite differences, a large
// constant offset, bitwise determinism and argument checks; on the GPU, against the cpu backend.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "tests/op_test_support.h"

namespace {

using gramgan::test::Buffer;
using gramgan::test::expect_close;
using gramgan::test::numeric_gradient;
using gramgan::test::random_vector;
using gramgan::test::same_bytes;

struct Shape {
  int batch, channels, plane;
  std::size_t count() const { return std::size_t(batch) * channels * plane; }
  std::size_t instances() const { return std::size_t(batch) * channels; }
};

struct ForwardRef {
  std::vector<double> y, mean, inv_std;
};

ForwardRef reference_forward(const Shape& s, double eps, const std::vector<double>& x, const std::vector<double>& gamma,
                             const std::vector<double>& beta) {
  ForwardRef r{std::vector<double>(s.count()), std::vector<double>(s.instances()), std::vector<double>(s.instances())};
  for (std::size_t k = 0; k < s.instances(); ++k) {
    const int c = int(k % s.channels);
    const double* xi = x.data() + k * s.plane;
    // long double and one correction step: the large-offset test needs the mean well below ulp(offset) * plane.
    long double sum = 0;
    for (int i = 0; i < s.plane; ++i) sum += xi[i];
    long double correction = 0;
    for (int i = 0; i < s.plane; ++i) correction += xi[i] - sum / s.plane;
    const long double mean = sum / s.plane + correction / s.plane;
    double var = 0;
    for (int i = 0; i < s.plane; ++i) var += double((xi[i] - mean) * (xi[i] - mean));
    var /= s.plane;
    const double inv_std = 1.0 / std::sqrt(var + eps);
    r.mean[k] = double(mean);
    r.inv_std[k] = inv_std;
    for (int i = 0; i < s.plane; ++i) r.y[k * s.plane + i] = gamma[c] * double(xi[i] - mean) * inv_std + beta[c];
  }
  return r;
}

struct BackwardRef {
  std::vector<double> dx, dgamma, dbeta;
};

// Statistics recomputed in double from x, so the reference does not inherit the kernel's saved values.
BackwardRef reference_backward(const Shape& s, double eps, const std::vector<double>& x, const std::vector<double>& dy,
                               const std::vector<double>& gamma) {
  const std::vector<double> ones(s.channels, 1.0), zeros(s.channels, 0.0);
  const ForwardRef f = reference_forward(s, eps, x, ones, zeros);  // y = xhat
  BackwardRef r{std::vector<double>(s.count()), std::vector<double>(s.channels), std::vector<double>(s.channels)};
  for (std::size_t k = 0; k < s.instances(); ++k) {
    const int c = int(k % s.channels);
    double mean_dy = 0, mean_dy_xhat = 0;
    for (int i = 0; i < s.plane; ++i) {
      mean_dy += dy[k * s.plane + i];
      mean_dy_xhat += dy[k * s.plane + i] * f.y[k * s.plane + i];
    }
    r.dbeta[c] += mean_dy;
    r.dgamma[c] += mean_dy_xhat;
    mean_dy /= s.plane;
    mean_dy_xhat /= s.plane;
    for (int i = 0; i < s.plane; ++i) {
      const std::size_t j = k * s.plane + i;
      r.dx[j] = gamma[c] * f.inv_std[k] * (dy[j] - mean_dy - f.y[j] * mean_dy_xhat);
    }
  }
  return r;
}

template <class T>
struct Outputs {
  std::vector<T> y, mean, inv_std, dx, dgamma, dbeta;
};

template <class T, class Memory = gramgan::test::SimMemory>
Outputs<T> run(const Shape& s, T eps, const std::vector<T>& x, const std::vector<T>& gamma, const std::vector<T>& beta,
               const std::vector<T>& dy) {
  Buffer<T, Memory> x_d(x), gamma_d(gamma), beta_d(beta), dy_d(dy), y_d(s.count()), mean_d(s.instances()),
      inv_std_d(s.instances()), dx_d(s.count()), dgamma_d(std::size_t(s.channels)), dbeta_d(std::size_t(s.channels)),
      workspace_d(gramgan::sim::instance_norm_backward_workspace(s.batch, s.channels));
#if GRAMGAN_HAVE_CUDA
  if constexpr (std::is_same_v<Memory, gramgan::test::CudaMemory>) {
    gramgan::cuda::instance_norm_forward(s.batch, s.channels, s.plane, eps, x_d.get(), gamma_d.get(), beta_d.get(),
                                         y_d.get(), mean_d.get(), inv_std_d.get(), nullptr);
    gramgan::cuda::instance_norm_backward(s.batch, s.channels, s.plane, x_d.get(), dy_d.get(), gamma_d.get(),
                                          mean_d.get(), inv_std_d.get(), dx_d.get(), dgamma_d.get(), dbeta_d.get(),
                                          workspace_d.get(), nullptr);
    GG_CUDA_CHECK(cudaDeviceSynchronize());
  } else
#endif
  {
    gramgan::sim::instance_norm_forward(s.batch, s.channels, s.plane, eps, x_d.get(), gamma_d.get(), beta_d.get(),
                                        y_d.get(), mean_d.get(), inv_std_d.get(), nullptr);
    gramgan::sim::instance_norm_backward(s.batch, s.channels, s.plane, x_d.get(), dy_d.get(), gamma_d.get(),
                                         mean_d.get(), inv_std_d.get(), dx_d.get(), dgamma_d.get(), dbeta_d.get(),
                                         workspace_d.get(), nullptr);
  }
  return {y_d.to_host(), mean_d.to_host(), inv_std_d.to_host(), dx_d.to_host(), dgamma_d.to_host(), dbeta_d.to_host()};
}

// Forward and backward against the reference. Tolerances atol + rtol |ref|: double at 1e-12 relative to the
// O(1) values; float sums of up to a few thousand terms in a tree stay within ~1e-5.
template <class T>
void check_against_reference(const Shape& s, double atol, double rtol, double offset = 0, double spread = 1) {
  SCOPED_TRACE("batch=" + std::to_string(s.batch) + " channels=" + std::to_string(s.channels) +
               " plane=" + std::to_string(s.plane));
  const T eps = T(1e-5);
  const auto x = random_vector<T>(s.count(), 1, offset - spread, offset + spread);
  const auto gamma = random_vector<T>(std::size_t(s.channels), 2, 0.5, 1.5);
  const auto beta = random_vector<T>(std::size_t(s.channels), 3);
  const auto dy = random_vector<T>(s.count(), 4);
  const auto got = run(s, eps, x, gamma, beta, dy);
  const auto xd = gramgan::test::to_double(x), gd = gramgan::test::to_double(gamma);
  const auto f = reference_forward(s, double(eps), xd, gd, gramgan::test::to_double(beta));
  const auto b = reference_backward(s, double(eps), xd, gramgan::test::to_double(dy), gd);
  expect_close(got.y, f.y, atol, rtol, "y");
  expect_close(got.mean, f.mean, atol, rtol, "mean");
  expect_close(got.inv_std, f.inv_std, atol, rtol, "inv_std");
  expect_close(got.dx, b.dx, atol, rtol, "dx");
  // dgamma and dbeta sum batch * plane terms of O(1): scale the tolerance with it.
  const double terms = double(s.batch) * s.plane;
  expect_close(got.dgamma, b.dgamma, atol * terms, rtol, "dgamma");
  expect_close(got.dbeta, b.dbeta, atol * terms, rtol, "dbeta");
}

TEST(InstanceNorm, MatchesReferenceDouble) {
  check_against_reference<double>({3, 5, 300}, 1e-12, 1e-12);
  check_against_reference<double>({2, 3, 7}, 1e-12, 1e-12);
  check_against_reference<double>({1, 2, 1}, 1e-12, 1e-12);  // plane of one: var = 0, y = beta
  check_against_reference<double>({2, 2, 1531}, 1e-12, 1e-12);
}

TEST(InstanceNorm, MatchesReferenceFloat) {
  check_against_reference<float>({3, 5, 300}, 2e-5, 2e-5);
  check_against_reference<float>({2, 3, 7}, 2e-5, 2e-5);
  check_against_reference<float>({2, 2, 1531}, 2e-5, 2e-5);
}

// x = 1e4 + noise of std ~0.06 in float: E[x^2] - E[x]^2 would lose every digit (ulp(1e8) = 8 in float). The
// two-pass statistics keep y and inv_std at float accuracy; dx stays accurate because the backward pass removes
// the rounding of the saved mean (ulp(1e4) ~ 1e-3, large against the std).
TEST(InstanceNorm, StableWithLargeOffsetFloat) { check_against_reference<float>({2, 3, 1000}, 2e-4, 2e-4, 1e4, 0.1); }

TEST(InstanceNorm, StableWithLargeOffsetDouble) {
  check_against_reference<double>({2, 3, 1000}, 1e-9, 1e-9, 1e8, 1e-2);
}

// L = sum(w * y): dL/dx, dL/dgamma, dL/dbeta from the backward pass with dy = w, against central differences of
// the forward kernel in double (h = 1e-6, truncation and rounding errors ~1e-9).
TEST(InstanceNormBackward, MatchesFiniteDifferences) {
  const Shape s{2, 3, 5};
  const double eps = 1e-5, h = 1e-6;
  const auto x = random_vector<double>(s.count(), 11);
  const auto gamma = random_vector<double>(std::size_t(s.channels), 12, 0.5, 1.5);
  const auto beta = random_vector<double>(std::size_t(s.channels), 13);
  const auto w = random_vector<double>(s.count(), 14);
  const auto grads = run(s, eps, x, gamma, beta, w);

  Buffer<double> x_d(x), gamma_d(gamma), beta_d(beta), y_d(s.count()), mean_d(s.instances()), inv_std_d(s.instances());
  const auto loss = [&](const std::vector<double>& xv, const std::vector<double>& gv, const std::vector<double>& bv) {
    x_d.set(xv);
    gamma_d.set(gv);
    beta_d.set(bv);
    gramgan::sim::instance_norm_forward(s.batch, s.channels, s.plane, eps, x_d.get(), gamma_d.get(), beta_d.get(),
                                        y_d.get(), mean_d.get(), inv_std_d.get(), nullptr);
    const auto y = y_d.to_host();
    double sum = 0;
    for (std::size_t i = 0; i < y.size(); ++i) sum += w[i] * y[i];
    return sum;
  };
  using V = std::vector<double>;
  expect_close(grads.dx, numeric_gradient([&](const V& v) { return loss(v, gamma, beta); }, x, h), 1e-7, 1e-6, "dx");
  expect_close(grads.dgamma, numeric_gradient([&](const V& v) { return loss(x, v, beta); }, gamma, h), 1e-7, 1e-6,
               "dgamma");
  expect_close(grads.dbeta, numeric_gradient([&](const V& v) { return loss(x, gamma, v); }, beta, h), 1e-7, 1e-6,
               "dbeta");
}

TEST(InstanceNorm, BitwiseDeterministic) {
  const Shape s{3, 4, 2049};
  const auto x = random_vector<float>(s.count(), 21);
  const auto gamma = random_vector<float>(std::size_t(s.channels), 22);
  const auto beta = random_vector<float>(std::size_t(s.channels), 23);
  const auto dy = random_vector<float>(s.count(), 24);
  const auto a = run(s, 1e-5f, x, gamma, beta, dy);
  const auto b = run(s, 1e-5f, x, gamma, beta, dy);
  EXPECT_TRUE(same_bytes(a.y, b.y));
  EXPECT_TRUE(same_bytes(a.mean, b.mean));
  EXPECT_TRUE(same_bytes(a.inv_std, b.inv_std));
  EXPECT_TRUE(same_bytes(a.dx, b.dx));
  EXPECT_TRUE(same_bytes(a.dgamma, b.dgamma));
  EXPECT_TRUE(same_bytes(a.dbeta, b.dbeta));
}

TEST(InstanceNorm, RejectsInvalidArguments) {
  Buffer<float> x(12), gamma(3), beta(3), y(12), mean(4), inv_std(4), dx(12), dgamma(3), dbeta(3), ws(8);
  const auto forward = [&](int n, int c, int p, float eps, const float* xp, float* yp) {
    gramgan::sim::instance_norm_forward(n, c, p, eps, xp, gamma.get(), beta.get(), yp, mean.get(), inv_std.get(),
                                        nullptr);
  };
  EXPECT_NO_THROW(forward(2, 2, 3, 1e-5f, x.get(), y.get()));
  EXPECT_THROW(forward(0, 2, 3, 1e-5f, x.get(), y.get()), std::invalid_argument);
  EXPECT_THROW(forward(2, -1, 3, 1e-5f, x.get(), y.get()), std::invalid_argument);
  EXPECT_THROW(forward(2, 2, 0, 1e-5f, x.get(), y.get()), std::invalid_argument);
  EXPECT_THROW(forward(2, 2, 3, -1.0f, x.get(), y.get()), std::invalid_argument);
  EXPECT_THROW(forward(2, 2, 3, std::nanf(""), x.get(), y.get()), std::invalid_argument);
  EXPECT_THROW(forward(2, 2, 3, 1e-5f, nullptr, y.get()), std::invalid_argument);
  EXPECT_THROW(forward(2, 2, 3, 1e-5f, x.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(gramgan::sim::instance_norm_forward(2, 2, 3, 1e-5f, x.get(), static_cast<const float*>(nullptr),
                                                   beta.get(), y.get(), mean.get(), inv_std.get(), nullptr),
               std::invalid_argument);
  const auto backward = [&](int n, float* workspace, float* dgamma_p) {
    gramgan::sim::instance_norm_backward(n, 2, 3, x.get(), y.get(), gamma.get(), mean.get(), inv_std.get(), dx.get(),
                                         dgamma_p, dbeta.get(), workspace, nullptr);
  };
  EXPECT_NO_THROW(backward(2, ws.get(), dgamma.get()));
  EXPECT_THROW(backward(0, ws.get(), dgamma.get()), std::invalid_argument);
  EXPECT_THROW(backward(2, nullptr, dgamma.get()), std::invalid_argument);
  EXPECT_THROW(backward(2, ws.get(), nullptr), std::invalid_argument);
  EXPECT_EQ(gramgan::sim::instance_norm_backward_workspace(2, 2), 8u);
  EXPECT_THROW(gramgan::sim::instance_norm_backward_workspace(0, 2), std::invalid_argument);
}

#if GRAMGAN_HAVE_CUDA
// The GPU kernels are the same source; nvcc contracts FMAs and sums in the same tree, so results agree to a few
// ulps of the values (dgamma, dbeta: of the batch * plane sums).
template <class T>
void check_gpu_matches_cpu(const Shape& s, double tolerance) {
  const auto x = random_vector<T>(s.count(), 31, 3.0, 5.0);
  const auto gamma = random_vector<T>(std::size_t(s.channels), 32);
  const auto beta = random_vector<T>(std::size_t(s.channels), 33);
  const auto dy = random_vector<T>(s.count(), 34);
  const auto cpu = run(s, T(1e-5), x, gamma, beta, dy);
  const auto gpu = run<T, gramgan::test::CudaMemory>(s, T(1e-5), x, gamma, beta, dy);
  const double terms = double(s.batch) * s.plane;
  expect_close(gpu.y, gramgan::test::to_double(cpu.y), tolerance, tolerance, "y");
  expect_close(gpu.mean, gramgan::test::to_double(cpu.mean), tolerance, tolerance, "mean");
  expect_close(gpu.inv_std, gramgan::test::to_double(cpu.inv_std), tolerance, tolerance, "inv_std");
  expect_close(gpu.dx, gramgan::test::to_double(cpu.dx), tolerance, tolerance, "dx");
  expect_close(gpu.dgamma, gramgan::test::to_double(cpu.dgamma), tolerance * terms, tolerance, "dgamma");
  expect_close(gpu.dbeta, gramgan::test::to_double(cpu.dbeta), tolerance * terms, tolerance, "dbeta");
}

TEST(InstanceNormGpu, MatchesCpuBackend) {
  if (!gramgan::test::cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  check_gpu_matches_cpu<float>({3, 5, 1531}, 1e-5);
  check_gpu_matches_cpu<double>({3, 5, 1531}, 1e-13);
}
#endif

}  // namespace
