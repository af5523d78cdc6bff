// Elementwise ops (kernels/elementwise.cu) against naive double-precision references, central finite differences,
// aligned and misaligned pointers (vector and scalar paths), bitwise determinism and argument checks; on the GPU,
// against the cpu backend.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "tests/op_test_support.h"

namespace {

using gramgan::Activation;
using gramgan::test::Buffer;
using gramgan::test::expect_close;
using gramgan::test::numeric_gradient;
using gramgan::test::random_vector;
using gramgan::test::same_bytes;
using gramgan::test::to_double;

constexpr Activation kActivations[] = {Activation::relu, Activation::leaky_relu, Activation::tanh,
                                       Activation::tanh_unit};
constexpr double kSlope = 0.2;

double reference_forward(Activation a, double x) {
  switch (a) {
    case Activation::relu: return x > 0 ? x : 0;
    case Activation::leaky_relu: return x > 0 ? x : kSlope * x;
    case Activation::tanh: return std::tanh(x);
    case Activation::tanh_unit: return (std::tanh(x) + 1) / 2;
  }
  return NAN;
}

double reference_derivative(Activation a, double x) {
  switch (a) {
    case Activation::relu: return x > 0 ? 1 : 0;
    case Activation::leaky_relu: return x > 0 ? 1 : kSlope;
    case Activation::tanh: return 1 - std::tanh(x) * std::tanh(x);
    case Activation::tanh_unit: return (1 - std::tanh(x) * std::tanh(x)) / 2;
  }
  return NAN;
}

std::string name(Activation a) { return "activation " + std::to_string(int(a)); }

// Forward and backward of every activation over `count` elements starting `offset` elements into their
// allocations (offset 1 defeats the 16-byte packs). x includes exact zeros: relu's derivative there is 0.
template <class T>
void check_activations(std::size_t count, std::size_t offset, double atol, double rtol) {
  auto x = random_vector<T>(count, 1, -4, 4);
  for (std::size_t i = 0; i < count; i += 17) x[i] = T(0);
  const auto dy = random_vector<T>(count, 2);
  for (Activation a : kActivations) {
    SCOPED_TRACE(name(a) + " count=" + std::to_string(count) + " offset=" + std::to_string(offset));
    Buffer<T> x_d(x, offset), y_d(count, offset), dy_d(dy, offset), dx_d(count, offset);
    gramgan::sim::activation_forward(a, T(kSlope), count, x_d.get(), y_d.get(), nullptr);
    gramgan::sim::activation_backward(a, T(kSlope), count, x_d.get(), y_d.get(), dy_d.get(), dx_d.get(), nullptr);
    std::vector<double> y_ref(count), dx_ref(count);
    for (std::size_t i = 0; i < count; ++i) {
      y_ref[i] = reference_forward(a, double(x[i]));
      dx_ref[i] = double(dy[i]) * reference_derivative(a, double(x[i]));
    }
    expect_close(y_d.to_host(), y_ref, atol, rtol, "y");
    // tanh's gradient is computed from y, which carries the forward's rounding: 1 - y^2 loses relative accuracy as
    // |y| -> 1, so the absolute tolerance applies to dy (O(1)).
    expect_close(dx_d.to_host(), dx_ref, atol, rtol, "dx");
  }
}

TEST(Activation, MatchesReferenceDouble) {
  check_activations<double>(1037, 0, 1e-15, 1e-13);
  check_activations<double>(1037, 1, 1e-15, 1e-13);
  check_activations<double>(3, 0, 1e-15, 1e-13);
}

TEST(Activation, MatchesReferenceFloat) {
  check_activations<float>(1037, 0, 1e-6, 1e-6);
  check_activations<float>(1037, 1, 1e-6, 1e-6);
  check_activations<float>(5, 3, 1e-6, 1e-6);
}

// dx from the backward kernel against central differences of the forward kernel, in double, with every |x| >= 1e-3
// so that x +- h never crosses the relu / leaky_relu kink. Elementwise, so one pair of launches perturbs every
// element at once.
TEST(Activation, BackwardMatchesFiniteDifferences) {
  const std::size_t count = 301;
  const double h = 1e-6;
  auto x = random_vector<double>(count, 3, -3, 3);
  for (auto& v : x)
    if (std::abs(v) < 1e-3) v = v < 0 ? -1e-3 : 1e-3;
  const auto dy = random_vector<double>(count, 4);
  for (Activation a : kActivations) {
    SCOPED_TRACE(name(a));
    std::vector<double> plus(count), minus(count);
    for (std::size_t i = 0; i < count; ++i) {
      plus[i] = x[i] + h;
      minus[i] = x[i] - h;
    }
    Buffer<double> x_d(x), y_d(count), dy_d(dy), dx_d(count), plus_d(plus), minus_d(minus), y_plus(count),
        y_minus(count);
    gramgan::sim::activation_forward(a, kSlope, count, x_d.get(), y_d.get(), nullptr);
    gramgan::sim::activation_backward(a, kSlope, count, x_d.get(), y_d.get(), dy_d.get(), dx_d.get(), nullptr);
    gramgan::sim::activation_forward(a, kSlope, count, plus_d.get(), y_plus.get(), nullptr);
    gramgan::sim::activation_forward(a, kSlope, count, minus_d.get(), y_minus.get(), nullptr);
    const auto yp = y_plus.to_host(), ym = y_minus.to_host();
    std::vector<double> numeric(count);
    for (std::size_t i = 0; i < count; ++i) numeric[i] = dy[i] * (yp[i] - ym[i]) / (2 * h);
    expect_close(dx_d.to_host(), numeric, 1e-8, 1e-7, "dx");
  }
}

// tanh_unit keeps relative accuracy far in the negative tail, where (tanh(x) + 1) / 2 would return 0 or noise.
TEST(Activation, TanhUnitAccurateInNegativeTail) {
  const std::vector<float> x = {-5.0f, -10.0f, -20.0f, -40.0f};
  Buffer<float> x_d(x), y_d(x.size());
  gramgan::sim::activation_forward(Activation::tanh_unit, 0.0f, x.size(), x_d.get(), y_d.get(), nullptr);
  std::vector<double> ref;
  for (float v : x) ref.push_back(1.0 / (1.0 + std::exp(-2.0 * v)));
  expect_close(y_d.to_host(), ref, 0.0, 1e-6, "y");
}

template <class T>
void check_arithmetic(std::size_t count, std::size_t offset, double rtol) {
  SCOPED_TRACE("count=" + std::to_string(count) + " offset=" + std::to_string(offset));
  const auto a = random_vector<T>(count, 5), b = random_vector<T>(count, 6);
  const T alpha = T(-1.75);
  Buffer<T> a_d(a, offset), b_d(b, offset), y_d(count, offset), acc_d(b, offset), alpha_d(std::vector<T>{alpha});
  std::vector<double> sum(count), scaled(count);
  for (std::size_t i = 0; i < count; ++i) {
    sum[i] = double(a[i]) + double(b[i]);
    scaled[i] = double(alpha) * double(a[i]);
  }
  gramgan::sim::add(count, a_d.get(), b_d.get(), y_d.get(), nullptr);
  expect_close(y_d.to_host(), sum, 0.0, rtol, "add");
  gramgan::sim::accumulate(count, a_d.get(), acc_d.get(), nullptr);
  expect_close(acc_d.to_host(), sum, 0.0, rtol, "accumulate");
  gramgan::sim::scale(count, alpha, a_d.get(), y_d.get(), nullptr);
  expect_close(y_d.to_host(), scaled, 0.0, rtol, "scale");
  gramgan::sim::scale_by(count, static_cast<const T*>(alpha_d.get()), a_d.get(), y_d.get(), nullptr);
  expect_close(y_d.to_host(), scaled, 0.0, rtol, "scale_by");
}

// One rounding each: half an ulp of the result.
TEST(Elementwise, AddAccumulateScaleMatchReference) {
  for (std::size_t offset : {0, 1}) {
    check_arithmetic<double>(1037, offset, 1.2e-16);
    check_arithmetic<float>(1037, offset, 6e-8);
  }
  check_arithmetic<float>(1, 0, 6e-8);
  // Past the grid cap (2048 blocks x 256 threads x 4 floats): the grid-stride loop and the scalar tail.
  check_arithmetic<float>(2048 * 256 * 4 + 13, 0, 6e-8);
}

TEST(Elementwise, ZeroCountIsANoOp) {
  EXPECT_NO_THROW(gramgan::sim::add<float>(0, nullptr, nullptr, nullptr, nullptr));
  EXPECT_NO_THROW(gramgan::sim::activation_forward<double>(Activation::relu, 0.0, 0, nullptr, nullptr, nullptr));
}

template <class T>
void check_channel_affine(int batch, int channels, int plane, double rtol) {
  SCOPED_TRACE("batch=" + std::to_string(batch) + " channels=" + std::to_string(channels) +
               " plane=" + std::to_string(plane));
  const std::size_t count = std::size_t(batch) * channels * plane;
  const auto x = random_vector<T>(count, 7), dy = random_vector<T>(count, 8);
  const auto scale = random_vector<T>(std::size_t(channels), 9, 0.5, 2.0);
  const auto shift = random_vector<T>(std::size_t(channels), 10);
  Buffer<T> x_d(x), dy_d(dy), scale_d(scale), shift_d(shift), y_d(count), dx_d(count);
  gramgan::sim::channel_affine_forward(batch, channels, plane, x_d.get(), scale_d.get(), shift_d.get(), y_d.get(),
                                       nullptr);
  gramgan::sim::channel_affine_backward(batch, channels, plane, dy_d.get(), scale_d.get(), dx_d.get(), nullptr);
  std::vector<double> y_ref(count), dx_ref(count);
  for (std::size_t i = 0; i < count; ++i) {
    const int c = int((i / plane) % channels);
    y_ref[i] = double(x[i]) * scale[c] + shift[c];
    dx_ref[i] = double(dy[i]) * scale[c];
  }
  // Up to two roundings (no FMA assumed) of values O(1): atol for results that cancel near 0.
  expect_close(y_d.to_host(), y_ref, 4 * rtol, 2 * rtol, "y");
  expect_close(dx_d.to_host(), dx_ref, 0.0, rtol, "dx");
}

TEST(Elementwise, ChannelAffineMatchesReference) {
  check_channel_affine<double>(3, 5, 301, 1.2e-16);
  check_channel_affine<float>(3, 5, 301, 6e-8);
  check_channel_affine<float>(2, 3, 17000, 6e-8);  // more than 64 blocks along the plane
  check_channel_affine<double>(1, 1, 1, 1.2e-16);
}

// Central differences of L = sum(w * y) in double; the op is affine, so differences are exact to rounding.
TEST(Elementwise, ChannelAffineBackwardMatchesFiniteDifferences) {
  const int batch = 2, channels = 3, plane = 4;
  const std::size_t count = std::size_t(batch) * channels * plane;
  const double h = 1e-6;
  const auto x = random_vector<double>(count, 11);
  const auto w = random_vector<double>(count, 12);
  const auto scale = random_vector<double>(std::size_t(channels), 13), shift = random_vector<double>(3, 14);
  Buffer<double> x_d(x), y_d(count), w_d(w), dx_d(count), scale_d(scale), shift_d(shift);
  gramgan::sim::channel_affine_backward(batch, channels, plane, w_d.get(), scale_d.get(), dx_d.get(), nullptr);
  const auto loss = [&](const std::vector<double>& v) {
    x_d.set(v);
    gramgan::sim::channel_affine_forward(batch, channels, plane, x_d.get(), scale_d.get(), shift_d.get(), y_d.get(),
                                         nullptr);
    const auto y = y_d.to_host();
    double sum = 0;
    for (std::size_t i = 0; i < count; ++i) sum += w[i] * y[i];
    return sum;
  };
  expect_close(dx_d.to_host(), numeric_gradient(loss, x, h), 1e-8, 1e-7, "dx");
}

TEST(Elementwise, BitwiseDeterministic) {
  const std::size_t count = 4099;
  const auto x = random_vector<float>(count, 15), dy = random_vector<float>(count, 16);
  const auto run = [&] {
    Buffer<float> x_d(x), y_d(count), dy_d(dy), dx_d(count), scale_d(std::vector<float>{1.5f, -0.5f}),
        shift_d(std::vector<float>{0.25f, 2.0f}), z_d(count / 2 * 2);
    gramgan::sim::activation_forward(Activation::tanh_unit, 0.0f, count, x_d.get(), y_d.get(), nullptr);
    gramgan::sim::activation_backward(Activation::tanh_unit, 0.0f, count, x_d.get(), y_d.get(), dy_d.get(), dx_d.get(),
                                      nullptr);
    gramgan::sim::channel_affine_forward(1, 2, int(count / 2), x_d.get(), scale_d.get(), shift_d.get(), z_d.get(),
                                         nullptr);
    return std::vector<std::vector<float>>{y_d.to_host(), dx_d.to_host(), z_d.to_host()};
  };
  const auto a = run(), b = run();
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(same_bytes(a[i], b[i])) << "output " << i;
}

TEST(Elementwise, RejectsInvalidArguments) {
  Buffer<float> x(8), y(8), dx(8), scale(2);
  const float* cx = x.get();
  EXPECT_THROW(
      gramgan::sim::activation_forward(Activation::relu, 0.0f, 8, static_cast<const float*>(nullptr), y.get(), nullptr),
      std::invalid_argument);
  EXPECT_THROW(gramgan::sim::activation_forward(static_cast<Activation>(42), 0.0f, 8, cx, y.get(), nullptr),
               std::invalid_argument);
  // relu differentiates from x, tanh from y: the pointer each needs must be there.
  EXPECT_THROW(gramgan::sim::activation_backward(Activation::relu, 0.0f, 8, static_cast<const float*>(nullptr), cx, cx,
                                                 dx.get(), nullptr),
               std::invalid_argument);
  EXPECT_THROW(gramgan::sim::activation_backward(Activation::tanh, 0.0f, 8, cx, static_cast<const float*>(nullptr), cx,
                                                 dx.get(), nullptr),
               std::invalid_argument);
  EXPECT_NO_THROW(gramgan::sim::activation_backward(Activation::tanh, 0.0f, 8, static_cast<const float*>(nullptr), cx,
                                                    cx, dx.get(), nullptr));
  EXPECT_THROW(gramgan::sim::add(8, cx, static_cast<const float*>(nullptr), y.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(gramgan::sim::accumulate(8, cx, static_cast<float*>(nullptr), nullptr), std::invalid_argument);
  EXPECT_THROW(gramgan::sim::scale(8, 2.0f, cx, static_cast<float*>(nullptr), nullptr), std::invalid_argument);
  EXPECT_THROW(gramgan::sim::scale_by(8, static_cast<const float*>(nullptr), cx, y.get(), nullptr),
               std::invalid_argument);
  EXPECT_THROW(gramgan::sim::channel_affine_forward(0, 2, 4, cx, scale.get(), scale.get(), y.get(), nullptr),
               std::invalid_argument);
  EXPECT_THROW(gramgan::sim::channel_affine_forward(1, 2, 4, cx, scale.get(), static_cast<const float*>(nullptr),
                                                    y.get(), nullptr),
               std::invalid_argument);
  EXPECT_THROW(gramgan::sim::channel_affine_backward(1, 2, -4, cx, scale.get(), dx.get(), nullptr),
               std::invalid_argument);
}

#if GRAMGAN_HAVE_CUDA
// Same source on the GPU; tanh / exp differ from glibc's by a few ulps, and nvcc may contract x * s + b to an FMA.
TEST(ElementwiseGpu, MatchesCpuBackend) {
  if (!gramgan::test::cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  using Cuda = gramgan::test::CudaMemory;
  const std::size_t count = 100003;
  const auto x = random_vector<float>(count, 17, -4, 4), dy = random_vector<float>(count, 18);
  const auto scale = random_vector<float>(7, 19), shift = random_vector<float>(7, 20);
  for (Activation a : kActivations) {
    SCOPED_TRACE(name(a));
    Buffer<float> x_s(x), y_s(count), dy_s(dy), dx_s(count);
    Buffer<float, Cuda> x_c(x), y_c(count), dy_c(dy), dx_c(count);
    gramgan::sim::activation_forward(a, 0.2f, count, x_s.get(), y_s.get(), nullptr);
    gramgan::sim::activation_backward(a, 0.2f, count, x_s.get(), y_s.get(), dy_s.get(), dx_s.get(), nullptr);
    gramgan::cuda::activation_forward(a, 0.2f, count, x_c.get(), y_c.get(), nullptr);
    gramgan::cuda::activation_backward(a, 0.2f, count, x_c.get(), y_c.get(), dy_c.get(), dx_c.get(), nullptr);
    expect_close(y_c.to_host(), to_double(y_s.to_host()), 1e-6, 1e-6, "y");
    expect_close(dx_c.to_host(), to_double(dx_s.to_host()), 1e-6, 1e-6, "dx");
  }
  Buffer<float> x_s(x), sc_s(scale), sh_s(shift), y_s(count);
  Buffer<float, Cuda> x_c(x), sc_c(scale), sh_c(shift), y_c(count);
  gramgan::sim::channel_affine_forward(7, 1, int(count / 7), x_s.get(), sc_s.get(), sh_s.get(), y_s.get(), nullptr);
  gramgan::cuda::channel_affine_forward(7, 1, int(count / 7), x_c.get(), sc_c.get(), sh_c.get(), y_c.get(), nullptr);
  expect_close(y_c.to_host(), to_double(y_s.to_host()), 1e-6, 1e-6, "channel_affine");
}
#endif

}  // namespace
