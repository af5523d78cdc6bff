// Adaptive instance norm (kernels/adain.cu through engine/ops.h) against a naive double-precision reference and
// central finite differences, with content and style planes of different sizes, a large constant offset, bitwise
// determinism and argument checks; on the GPU, against the cpu backend.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "tests/op_test_support.h"

namespace {

using gramgan::Device;
using gramgan::DType;
using gramgan::Error;
using gramgan::Shape;
using gramgan::Tensor;
using gramgan::test::expect_close;
using gramgan::test::random_vector;
using gramgan::test::same_bytes;
namespace ops = gramgan::ops;

constexpr double kEps = 1e-5;

// N = 2, C = 3: content 9x13 (117, not a multiple of the block), style 6x5 (30).
const Shape kContent{2, 3, 9, 13};
const Shape kStyle{2, 3, 6, 5};

std::size_t count(const Shape& s) { return std::size_t(s[0] * s[1] * s[2] * s[3]); }
int plane(const Shape& s) { return int(s[2] * s[3]); }
int instances(const Shape& s) { return int(s[0] * s[1]); }

struct Moments {
  double mean, sigma;  // sigma = sqrt(unbiased variance + eps)
};

// long double and one correction step, so the large-offset test sees the exact statistics.
Moments moments(const double* u, int n) {
  long double sum = 0;
  for (int i = 0; i < n; ++i) sum += u[i];
  long double correction = 0;
  for (int i = 0; i < n; ++i) correction += u[i] - sum / n;
  const long double mean = sum / n + correction / n;
  long double squares = 0;
  for (int i = 0; i < n; ++i) squares += (u[i] - mean) * (u[i] - mean);
  return {double(mean), std::sqrt(double(squares / (n - 1)) + kEps)};
}

std::vector<double> reference_forward(const std::vector<double>& x, const std::vector<double>& s) {
  const int p = plane(kContent), ps = plane(kStyle);
  std::vector<double> y(x.size());
  for (int k = 0; k < instances(kContent); ++k) {
    const Moments mx = moments(x.data() + std::size_t(k) * p, p), ms = moments(s.data() + std::size_t(k) * ps, ps);
    for (int i = 0; i < p; ++i) {
      const std::size_t j = std::size_t(k) * p + i;
      y[j] = ms.sigma * (x[j] - mx.mean) / mx.sigma + ms.mean;
    }
  }
  return y;
}

// The gradients written out from the chain rule, term by term (independent of the kernel's folded form).
void reference_backward(const std::vector<double>& x, const std::vector<double>& s, const std::vector<double>& dy,
                        std::vector<double>& dx, std::vector<double>& ds) {
  const int p = plane(kContent), ps = plane(kStyle);
  dx.assign(x.size(), 0);
  ds.assign(s.size(), 0);
  for (int k = 0; k < instances(kContent); ++k) {
    const double* xk = x.data() + std::size_t(k) * p;
    const double* sk = s.data() + std::size_t(k) * ps;
    const double* gk = dy.data() + std::size_t(k) * p;
    const Moments mx = moments(xk, p), ms = moments(sk, ps);
    // y_i = ms.sigma xhat_i + ms.mean; xhat_i = (x_i - mean) / sigma.
    double dmean_s = 0, dsigma_s = 0, dxhat_dot_xhat = 0, dxhat_sum = 0;
    for (int i = 0; i < p; ++i) {
      const double xhat = (xk[i] - mx.mean) / mx.sigma, dxhat = gk[i] * ms.sigma;
      dmean_s += gk[i];
      dsigma_s += gk[i] * xhat;
      dxhat_sum += dxhat;
      dxhat_dot_xhat += dxhat * xhat;
    }
    for (int j = 0; j < p; ++j) {
      // d xhat_i / d x_j = (delta_ij - 1/p) / sigma - xhat_i xhat_j / ((p - 1) sigma)
      const double xhat_j = (xk[j] - mx.mean) / mx.sigma;
      dx[std::size_t(k) * p + j] =
          (gk[j] * ms.sigma - dxhat_sum / p) / mx.sigma - xhat_j * dxhat_dot_xhat / ((p - 1) * mx.sigma);
    }
    for (int j = 0; j < ps; ++j)
      ds[std::size_t(k) * ps + j] = dmean_s / ps + dsigma_s * (sk[j] - ms.mean) / ((ps - 1) * ms.sigma);
  }
}

template <class T>
Tensor tensor(const std::vector<double>& values, const Shape& shape, const Device& device = Device::cpu()) {
  const std::vector<T> cast(values.begin(), values.end());
  return Tensor::from_host(std::span<const T>(cast), shape, device);
}

template <class T>
std::vector<double> host(const Tensor& t) {
  const std::vector<T> v = t.to_host<T>();
  return std::vector<double>(v.begin(), v.end());
}

// Inputs exactly representable in float, so both dtypes see the same values.
std::vector<double> inputs(const Shape& shape, std::uint32_t seed, double offset = 0.0, double spread = 1.0) {
  std::vector<double> v = gramgan::test::to_double(random_vector<float>(count(shape), seed, -spread, spread));
  for (double& x : v) x += offset;
  return v;
}

template <class T>
class AdainTest : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(AdainTest, Types);

template <class T>
double tolerance() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-12;
}

TYPED_TEST(AdainTest, ForwardMatchesReference) {
  using T = TypeParam;
  const auto x = inputs(kContent, 1), s = inputs(kStyle, 2, 0.5, 3.0);
  const ops::AdainOutputs out = ops::adain_forward(tensor<T>(x, kContent), tensor<T>(s, kStyle), kEps);
  ASSERT_EQ(out.y.shape(), kContent);
  expect_close(host<T>(out.y), reference_forward(x, s), tolerance<T>(), tolerance<T>(), "y");
  // The saved statistics are those of the reference.
  const auto style_mean = host<T>(out.style_mean), style_std = host<T>(out.style_std);
  const auto content_mean = host<T>(out.content_mean), content_inv_std = host<T>(out.content_inv_std);
  for (int k = 0; k < instances(kContent); ++k) {
    const Moments mx = moments(x.data() + std::size_t(k) * plane(kContent), plane(kContent));
    const Moments ms = moments(s.data() + std::size_t(k) * plane(kStyle), plane(kStyle));
    expect_close(content_mean[k], mx.mean, tolerance<T>(), tolerance<T>());
    expect_close(content_inv_std[k], 1.0 / mx.sigma, tolerance<T>(), tolerance<T>());
    expect_close(style_mean[k], ms.mean, tolerance<T>(), tolerance<T>());
    expect_close(style_std[k], ms.sigma, tolerance<T>(), tolerance<T>());
  }
}

TYPED_TEST(AdainTest, OutputTakesTheStyleStatistics) {
  using T = TypeParam;
  const auto x = inputs(kContent, 3), s = inputs(kStyle, 4, -2.0, 0.25);
  const auto y = host<T>(ops::adain_forward(tensor<T>(x, kContent), tensor<T>(s, kStyle), kEps).y);
  for (int k = 0; k < instances(kContent); ++k) {
    const Moments my = moments(y.data() + std::size_t(k) * plane(kContent), plane(kContent));
    const Moments ms = moments(s.data() + std::size_t(k) * plane(kStyle), plane(kStyle));
    expect_close(my.mean, ms.mean, 10 * tolerance<T>(), 10 * tolerance<T>());
    // sigma(y)^2 = ms.sigma^2 var / (var + eps); the content spread (~0.6) makes that ratio 1 - 3e-5.
    const double var_x = std::pow(moments(x.data() + std::size_t(k) * plane(kContent), plane(kContent)).sigma, 2);
    const double expected = ms.sigma * std::sqrt((var_x - kEps) / var_x);
    expect_close(std::sqrt(my.sigma * my.sigma - kEps), expected, 10 * tolerance<T>(), 10 * tolerance<T>());
  }
}

TYPED_TEST(AdainTest, BackwardMatchesReference) {
  using T = TypeParam;
  const auto x = inputs(kContent, 5), s = inputs(kStyle, 6, 1.0, 2.0), dy = inputs(kContent, 7);
  const Tensor xt = tensor<T>(x, kContent), st = tensor<T>(s, kStyle);
  const ops::AdainOutputs saved = ops::adain_forward(xt, st, kEps);
  const ops::AdainGrads grads = ops::adain_backward(xt, st, tensor<T>(dy, kContent), saved);
  std::vector<double> dx, ds;
  reference_backward(x, s, dy, dx, ds);
  expect_close(host<T>(grads.dcontent), dx, 5 * tolerance<T>(), 5 * tolerance<T>(), "dcontent");
  expect_close(host<T>(grads.dstyle), ds, 5 * tolerance<T>(), 5 * tolerance<T>(), "dstyle");
}

// L = sum(y * dy); central differences of L in double against the backward pass, for every input element.
TEST(Adain, BackwardMatchesFiniteDifferences) {
  const auto x = inputs(kContent, 8), s = inputs(kStyle, 9, 0.3, 1.5), dy = inputs(kContent, 10);
  const auto loss = [&](const std::vector<double>& xv, const std::vector<double>& sv) {
    const auto y = host<double>(ops::adain_forward(tensor<double>(xv, kContent), tensor<double>(sv, kStyle), kEps).y);
    double sum = 0;
    for (std::size_t i = 0; i < y.size(); ++i) sum += y[i] * dy[i];
    return sum;
  };
  const Tensor xt = tensor<double>(x, kContent), st = tensor<double>(s, kStyle);
  const ops::AdainGrads grads =
      ops::adain_backward(xt, st, tensor<double>(dy, kContent), ops::adain_forward(xt, st, kEps));
  // Perturbs every 7th element of the content (wrt_style false) or of the style features.
  const auto check = [&](bool wrt_style, const std::vector<double>& analytic, const char* what) {
    constexpr double h = 1e-6;
    std::vector<double> xv = x, sv = s;
    std::vector<double>& wrt = wrt_style ? sv : xv;
    for (std::size_t i = 0; i < wrt.size(); i += 7) {
      const double saved = wrt[i];
      wrt[i] = saved + h;
      const double up = loss(xv, sv);
      wrt[i] = saved - h;
      const double down = loss(xv, sv);
      wrt[i] = saved;
      expect_close(analytic[i], (up - down) / (2 * h), 1e-8, 1e-6);
      if (HasFailure()) FAIL() << what << "[" << i << "]";
    }
  };
  check(false, host<double>(grads.dcontent), "dcontent");
  check(true, host<double>(grads.dstyle), "dstyle");
}

TEST(Adain, LargeOffsetKeepsTheStatistics) {
  // |mean| = 1e4 against a spread of 1: E[x^2] - E[x]^2 would lose everything in float.
  const auto x = inputs(kContent, 11, 1e4), s = inputs(kStyle, 12);
  const auto y = host<float>(ops::adain_forward(tensor<float>(x, kContent), tensor<float>(s, kStyle), kEps).y);
  expect_close(y, reference_forward(x, s), 2e-3, 2e-3, "y");
}

TEST(Adain, Deterministic) {
  const Tensor x = tensor<float>(inputs(kContent, 13), kContent), s = tensor<float>(inputs(kStyle, 14), kStyle);
  const Tensor dy = tensor<float>(inputs(kContent, 15), kContent);
  const auto run = [&] {
    const ops::AdainOutputs out = ops::adain_forward(x, s);
    const ops::AdainGrads g = ops::adain_backward(x, s, dy, out);
    return std::vector<std::vector<float>>{out.y.to_host<float>(), g.dcontent.to_host<float>(),
                                           g.dstyle.to_host<float>()};
  };
  const auto a = run(), b = run();
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(same_bytes(a[i], b[i])) << "output " << i;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Adain, RejectsMismatchedInputs) {
  const Tensor x = Tensor::zeros({2, 3, 4, 4}), s = Tensor::zeros({2, 3, 5, 5});
  EXPECT_NE(error_of([&] {
              ops::adain_forward(x, Tensor::zeros({2, 4, 5, 5}));
            }).find("batch and channels"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              ops::adain_forward(x, Tensor::zeros({2, 3, 5, 5}, DType::float64));
            }).find("float64"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              ops::adain_forward(Tensor::zeros({2, 3, 1, 1}), s);
            }).find("at least 2"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ops::adain_forward(x, s, -1.0); }).find("eps"), std::string::npos);
  const ops::AdainOutputs saved = ops::adain_forward(x, s);
  EXPECT_NE(error_of([&] {
              ops::adain_backward(x, s, Tensor::zeros({2, 3, 4, 5}), saved);
            }).find("dy"),
            std::string::npos);
  ops::AdainOutputs wrong = saved;
  wrong.style_std = Tensor::zeros({3});
  EXPECT_NE(error_of([&] { ops::adain_backward(x, s, x, wrong); }).find("style_std"), std::string::npos);
}

TEST(AdainCuda, MatchesCpuBackend) {
  if (!gramgan::cuda_available()) GTEST_SKIP() << "no GPU";
  const auto x = inputs(kContent, 16), s = inputs(kStyle, 17, 0.5, 2.0), dy = inputs(kContent, 18);
  const auto run = [&](const Device& device) {
    const Tensor xt = tensor<float>(x, kContent, device), st = tensor<float>(s, kStyle, device);
    const ops::AdainOutputs out = ops::adain_forward(xt, st);
    const ops::AdainGrads g = ops::adain_backward(xt, st, tensor<float>(dy, kContent, device), out);
    return std::vector<std::vector<double>>{host<float>(out.y), host<float>(g.dcontent), host<float>(g.dstyle)};
  };
  const auto cpu = run(Device::cpu()), gpu = run(Device::cuda());
  // nvcc contracts multiply-adds, so the backends agree to rounding, not bitwise.
  for (std::size_t i = 0; i < cpu.size(); ++i) expect_close(gpu[i], cpu[i], 1e-5, 1e-5, "output " + std::to_string(i));
}

}  // namespace
