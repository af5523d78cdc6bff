// tv.cu and losses.cu against naive double-precision references on the cpu backend: values, gradients (also by
// central finite differences in double), bitwise repeatability of every reduction, argument checks; cuda vs cpu
// when a GPU is present. Element counts straddle the 256-thread blocks and the 1024-block cap of the reductions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "tests/op_test_support.h"

namespace {

using namespace gramgan::test;
using gramgan::TvMode;
namespace sim = gramgan::sim;

// ---- total variation ----

struct TvShape {
  int batch, channels, height, width;
  std::size_t size() const { return std::size_t(batch) * channels * height * width; }
};

double tv_reference(TvMode mode, double eps, const TvShape& s, const std::vector<double>& x) {
  double sum = 0;
  for (int p = 0; p < s.batch * s.channels; ++p)
    for (int i = 0; i + 1 < s.height; ++i)
      for (int j = 0; j + 1 < s.width; ++j) {
        const auto at = [&](int r, int c) { return x[(std::size_t(p) * s.height + r) * s.width + c]; };
        const double dh = at(i, j) - at(i + 1, j), dw = at(i, j) - at(i, j + 1);
        sum += mode == TvMode::sqrt ? std::sqrt(dh * dh + dw * dw + eps) : dh * dh + dw * dw;
      }
  return sum / (double(s.batch) * s.channels * (s.height - 1) * (s.width - 1));
}

// Scatter form of the gradient (the kernel gathers), as an independent check.
std::vector<double> tv_gradient_reference(TvMode mode, double eps, const TvShape& s, const std::vector<double>& x) {
  std::vector<double> g(x.size(), 0.0);
  const double scale = 1.0 / (double(s.batch) * s.channels * (s.height - 1) * (s.width - 1));
  for (int p = 0; p < s.batch * s.channels; ++p)
    for (int i = 0; i + 1 < s.height; ++i)
      for (int j = 0; j + 1 < s.width; ++j) {
        const auto index = [&](int r, int c) { return (std::size_t(p) * s.height + r) * s.width + c; };
        const double dh = x[index(i, j)] - x[index(i + 1, j)], dw = x[index(i, j)] - x[index(i, j + 1)];
        const double k = mode == TvMode::sqrt ? 1.0 / std::sqrt(dh * dh + dw * dw + eps) : 2.0;
        g[index(i, j)] += (dh + dw) * k * scale;
        g[index(i + 1, j)] -= dh * k * scale;
        g[index(i, j + 1)] -= dw * k * scale;
      }
  return g;
}

template <class T>
std::pair<T, std::vector<T>> run_tv(TvMode mode, T eps, const TvShape& s, const std::vector<T>& x_host) {
  Buffer<T> x(x_host), value(1), dx(x_host.size()),
      workspace(sim::tv_workspace(s.batch, s.channels, s.height, s.width));
  sim::tv_forward_backward(mode, eps, s.batch, s.channels, s.height, s.width, x.get(), value.get(), dx.get(),
                           workspace.get(), nullptr);
  return {value.scalar(), dx.to_host()};
}

// Both modes, eps 1e-8, against the references: the value to rtol `value_rtol`, dx to `dx_atol` + `dx_rtol` |ref|.
template <class T>
void check_tv(const TvShape& s, std::uint32_t seed, double value_rtol, double dx_atol, double dx_rtol) {
  const auto x = random_vector<T>(s.size(), seed);
  const auto xd = to_double(x);
  for (const TvMode mode : {TvMode::sqrt, TvMode::squared}) {
    const auto [value, dx] = run_tv(mode, T(1e-8), s, x);
    expect_close(value, tv_reference(mode, 1e-8, s, xd), 0, value_rtol);
    expect_close(dx, tv_gradient_reference(mode, 1e-8, s, xd), dx_atol, dx_rtol);
  }
}

TEST(TvForwardBackward, DoubleMatchesReferenceBothModes) {
  check_tv<double>({2, 3, 70, 90}, 20, 1e-12, 1e-18, 1e-12);  // 37800 pixels: 148 first-pass blocks
}

// Per pixel at most three terms of size ~1 / (terms); float rounding of differences and 1/f.
TEST(TvForwardBackward, FloatMatchesReference) { check_tv<float>({3, 2, 17, 33}, 21, 1e-5, 1e-9, 1e-4); }

TEST(TvForwardBackward, GradientMatchesFiniteDifferences) {
  const TvShape s{2, 2, 4, 5};
  // Random values keep every term away from flat regions, where sqrt's gradient changes fast.
  const auto x = random_vector<double>(s.size(), 22);
  for (const TvMode mode : {TvMode::sqrt, TvMode::squared}) {
    const double eps = 1e-4;
    const auto numeric =
        numeric_gradient([&](const std::vector<double>& v) { return tv_reference(mode, eps, s, v); }, x);
    expect_close(run_tv(mode, eps, s, x).second, numeric, 1e-9, 1e-6);
  }
}

TEST(TvForwardBackward, FlatImageHasZeroGradientAndSqrtEpsValue) {
  const TvShape s{1, 1, 3, 2};
  const auto [value, dx] = run_tv(TvMode::sqrt, 1e-8, s, std::vector<double>(s.size(), 0.5));
  EXPECT_DOUBLE_EQ(value, std::sqrt(1e-8));
  for (const double g : dx) EXPECT_EQ(g, 0.0);
}

TEST(TvForwardBackward, RepeatsBitwise) {
  const TvShape s{2, 3, 40, 41};
  const auto x = random_vector<float>(s.size(), 23);
  const auto first = run_tv(TvMode::sqrt, 1e-8f, s, x), second = run_tv(TvMode::sqrt, 1e-8f, s, x);
  EXPECT_TRUE(same_bytes(std::vector<float>{first.first}, std::vector<float>{second.first}));
  EXPECT_TRUE(same_bytes(first.second, second.second));
}

TEST(TvArguments, InvalidArgumentsThrow) {
  Buffer<float> x(64), value(1), dx(64), workspace(8);
  const auto call = [&](int n, int c, int h, int w, float eps = 1e-8f) {
    sim::tv_forward_backward(TvMode::sqrt, eps, n, c, h, w, x.get(), value.get(), dx.get(), workspace.get(), nullptr);
  };
  EXPECT_THROW(call(1, 1, 1, 8), std::invalid_argument);
  EXPECT_THROW(call(1, 1, 8, 1), std::invalid_argument);
  EXPECT_THROW(call(0, 1, 4, 4), std::invalid_argument);
  EXPECT_THROW(call(1, 1, 4, 4, -1.0f), std::invalid_argument);
  EXPECT_THROW(sim::tv_workspace(1, 1, 1, 4), std::invalid_argument);
  EXPECT_THROW(sim::tv_forward_backward<float>(TvMode::squared, 0.0f, 1, 1, 4, 4, nullptr, value.get(), dx.get(),
                                               workspace.get(), nullptr),
               std::invalid_argument);
}

// ---- content: MSE ----

template <class T>
std::pair<T, std::vector<T>> run_mse(const std::vector<T>& p, const std::vector<T>& t) {
  Buffer<T> prediction(p), target(t), value(1), dp(p.size()), workspace(sim::mse_workspace(p.size()));
  sim::mse_forward_backward(p.size(), prediction.get(), target.get(), value.get(), dp.get(), workspace.get(), nullptr);
  return {value.scalar(), dp.to_host()};
}

TEST(MseForwardBackward, DoubleMatchesReference) {
  for (const std::size_t count : {std::size_t(1), std::size_t(1003), std::size_t(300001)}) {  // 1, 4, 1024 blocks
    const auto p = random_vector<double>(count, 30), t = random_vector<double>(count, 31);
    double sum = 0;
    std::vector<double> grad(count);
    for (std::size_t i = 0; i < count; ++i) {
      sum += (p[i] - t[i]) * (p[i] - t[i]);
      grad[i] = 2 * (p[i] - t[i]) / double(count);
    }
    const auto [value, dp] = run_mse(p, t);
    expect_close(value, sum / double(count), 0, 1e-12);
    expect_close(dp, grad, 0, 1e-15);
  }
}

TEST(MseForwardBackward, FloatMatchesReferenceAndRepeatsBitwise) {
  const std::size_t count = 5000;
  const auto p = random_vector<float>(count, 32), t = random_vector<float>(count, 33);
  double sum = 0;
  for (std::size_t i = 0; i < count; ++i) sum += (double(p[i]) - t[i]) * (double(p[i]) - t[i]);
  const auto first = run_mse(p, t), second = run_mse(p, t);
  expect_close(first.first, sum / double(count), 0, 1e-5);
  EXPECT_TRUE(same_bytes(std::vector<float>{first.first}, std::vector<float>{second.first}));
  EXPECT_TRUE(same_bytes(first.second, second.second));
}

TEST(MseArguments, InvalidArgumentsThrow) {
  Buffer<float> a(4), b(4), v(1), w(1);
  EXPECT_THROW(sim::mse_forward_backward(0, a.get(), b.get(), v.get(), a.get(), w.get(), nullptr),
               std::invalid_argument);
  EXPECT_THROW(sim::mse_forward_backward<float>(4, a.get(), nullptr, v.get(), a.get(), w.get(), nullptr),
               std::invalid_argument);
}

// ---- style: Gram MSE ----

struct GramMseResult {
  double value;
  std::vector<double> grad;
};

// value = (1/N) sum_n mean_ij (G_n - T_n)_ij^2 and its gradient, straight from the definitions. `target` holds
// C^2 values (T_n = T for every n) or N C^2 (one per image).
GramMseResult gram_mse_reference(int batch, int channels, int plane, const std::vector<double>& f,
                                 const std::vector<double>& target) {
  const double cp = double(channels) * plane;
  const std::size_t square = std::size_t(channels) * channels;
  const bool per_image = target.size() != square;
  GramMseResult out{0.0, std::vector<double>(f.size(), 0.0)};
  for (int n = 0; n < batch; ++n) {
    const double* fn = f.data() + std::size_t(n) * channels * plane;
    const double* tn = target.data() + (per_image ? std::size_t(n) * square : 0);
    std::vector<double> diff(square);
    for (int r = 0; r < channels; ++r)
      for (int c = 0; c < channels; ++c) {
        double g = 0;
        for (int k = 0; k < plane; ++k) g += fn[std::size_t(r) * plane + k] * fn[std::size_t(c) * plane + k];
        diff[std::size_t(r) * channels + c] = g / cp - tn[std::size_t(r) * channels + c];
        out.value += diff[std::size_t(r) * channels + c] * diff[std::size_t(r) * channels + c];
      }
    // dvalue/dG = 2 diff / (N C^2); dG_rc/dF_ak = (delta_ra F_ck + delta_ca F_rk) / (C P).
    const double k_scale = 2.0 / (double(batch) * channels * channels * cp);
    for (int a = 0; a < channels; ++a)
      for (int k = 0; k < plane; ++k) {
        double sum = 0;
        for (int c = 0; c < channels; ++c)
          sum += (diff[std::size_t(a) * channels + c] + diff[std::size_t(c) * channels + a]) *
                 fn[std::size_t(c) * plane + k];
        out.grad[(std::size_t(n) * channels + a) * plane + k] = sum * k_scale;
      }
  }
  out.value /= double(batch) * channels * channels;
  return out;
}

template <class T>
std::pair<T, std::vector<T>> run_gram_mse(int batch, int channels, int plane, const std::vector<T>& f,
                                          const std::vector<T>& target) {
  Buffer<T> features(f), target_gram(target), value(1), df(f.size()),
      workspace(sim::gram_mse_workspace(batch, channels, plane));
  const bool per_image = target.size() != std::size_t(channels) * channels;
  sim::gram_mse_forward_backward(batch, channels, plane, features.get(), target_gram.get(), per_image, value.get(),
                                 df.get(), workspace.get(), nullptr);
  return {value.scalar(), df.to_host()};
}

std::vector<double> symmetric_target(int channels, std::uint32_t seed, double scale) {
  auto t = random_vector<double>(std::size_t(channels) * channels, seed);
  for (int r = 0; r < channels; ++r)
    for (int c = 0; c < r; ++c) t[std::size_t(r) * channels + c] = t[std::size_t(c) * channels + r];
  for (auto& x : t) x *= scale;
  return t;
}

// In double: features from `seed`, a symmetric target from seed + 1; value to 1e-12, gradient to 1e-18 + 1e-11 |ref|.
void check_gram_mse_double(int batch, int channels, int plane, std::uint32_t seed) {
  const auto f = random_vector<double>(std::size_t(batch) * channels * plane, seed);
  const auto t = symmetric_target(channels, seed + 1, 0.3);
  const auto ref = gram_mse_reference(batch, channels, plane, f, t);
  const auto [value, df] = run_gram_mse(batch, channels, plane, f, t);
  expect_close(value, ref.value, 0, 1e-12);
  expect_close(df, ref.grad, 1e-18, 1e-11);
}

TEST(GramMseForwardBackward, DoubleMatchesReferenceAcrossTiles) { check_gram_mse_double(2, 67, 45, 40); }

// Few tiles, long K: three K splits reduced in order.
TEST(GramMseForwardBackward, SplitKMatchesReference) { check_gram_mse_double(2, 5, 1500, 42); }

TEST(GramMseForwardBackward, FloatMatchesReferenceAndRepeatsBitwise) {
  const int batch = 3, channels = 20, plane = 700;
  const auto f = random_vector<float>(std::size_t(batch) * channels * plane, 44);
  const auto t = symmetric_target(channels, 45, 0.3);
  const std::vector<float> tf(t.begin(), t.end());
  const auto ref = gram_mse_reference(batch, channels, plane, to_double(f), to_double(tf));
  const auto first = run_gram_mse(batch, channels, plane, f, tf), second = run_gram_mse(batch, channels, plane, f, tf);
  expect_close(first.first, ref.value, 0, 1e-5);
  expect_close(first.second, ref.grad, 1e-9, 1e-4);
  EXPECT_TRUE(same_bytes(std::vector<float>{first.first}, std::vector<float>{second.first}));
  EXPECT_TRUE(same_bytes(first.second, second.second));
}

TEST(GramMseForwardBackward, GradientMatchesFiniteDifferences) {
  const int batch = 2, channels = 3, plane = 6;
  const auto f = random_vector<double>(std::size_t(batch) * channels * plane, 46);
  // Not symmetric on purpose: the gradient must stay exact for any target.
  const auto t = random_vector<double>(std::size_t(channels) * channels, 47, -0.3, 0.3);
  const auto numeric = numeric_gradient(
      [&](const std::vector<double>& x) { return gram_mse_reference(batch, channels, plane, x, t).value; }, f);
  expect_close(run_gram_mse(batch, channels, plane, f, t).second, numeric, 1e-10, 1e-6);
}

// Arbitrary style: every image against its own target (not symmetric, so each T_n's transpose is read right), in
// one tile and across tiles with K split.
TEST(GramMseForwardBackward, PerImageTargetsMatchReference) {
  for (const auto& [batch, channels, plane] : {std::tuple{3, 4, 9}, std::tuple{2, 67, 45}, std::tuple{3, 5, 1500}}) {
    const auto f = random_vector<double>(std::size_t(batch) * channels * plane, 48);
    const auto t = random_vector<double>(std::size_t(batch) * channels * channels, 49, -0.3, 0.3);
    const auto ref = gram_mse_reference(batch, channels, plane, f, t);
    const auto [value, df] = run_gram_mse(batch, channels, plane, f, t);
    expect_close(value, ref.value, 0, 1e-12);
    expect_close(df, ref.grad, 1e-18, 1e-11);
  }
}

// A per-image target that repeats one Gram gives the shared target's bits.
TEST(GramMseForwardBackward, RepeatedPerImageTargetEqualsSharedBitwise) {
  const int batch = 3, channels = 6, plane = 50;
  const auto f = random_vector<float>(std::size_t(batch) * channels * plane, 52);
  const auto td = symmetric_target(channels, 53, 0.3);
  const std::vector<float> shared(td.begin(), td.end());
  std::vector<float> repeated;
  for (int n = 0; n < batch; ++n) repeated.insert(repeated.end(), shared.begin(), shared.end());
  const auto a = run_gram_mse(batch, channels, plane, f, shared), b = run_gram_mse(batch, channels, plane, f, repeated);
  EXPECT_TRUE(same_bytes(std::vector<float>{a.first}, std::vector<float>{b.first}));
  EXPECT_TRUE(same_bytes(a.second, b.second));
}

TEST(GramMseArguments, InvalidArgumentsThrow) {
  Buffer<float> a(64), v(1);
  EXPECT_THROW(sim::gram_mse_workspace(0, 3, 4), std::invalid_argument);
  EXPECT_THROW(sim::gram_mse_workspace(1, 3, 0), std::invalid_argument);
  EXPECT_THROW(sim::gram_mse_forward_backward(1, 0, 4, a.get(), a.get(), false, v.get(), a.get(), a.get(), nullptr),
               std::invalid_argument);
  EXPECT_THROW(
      sim::gram_mse_forward_backward<float>(1, 2, 4, a.get(), nullptr, false, v.get(), a.get(), a.get(), nullptr),
      std::invalid_argument);
}

// ---- adversarial: LSGAN ----

TEST(LsganForwardBackward, DiscriminatorMatchesReferenceAndRepeatsBitwise) {
  const std::size_t count_real = 1000, count_fake = 300;
  const auto r = random_vector<double>(count_real, 50), f = random_vector<double>(count_fake, 51);
  double sum_real = 0, sum_fake = 0;
  std::vector<double> dr_ref(count_real), df_ref(count_fake);
  for (std::size_t i = 0; i < count_real; ++i) {
    sum_real += (r[i] - 1) * (r[i] - 1);
    dr_ref[i] = 2 * (r[i] - 1) / double(count_real);
  }
  for (std::size_t i = 0; i < count_fake; ++i) {
    sum_fake += f[i] * f[i];
    df_ref[i] = 2 * f[i] / double(count_fake);
  }
  std::vector<double> values;
  std::vector<std::vector<double>> grads;
  for (int run = 0; run < 2; ++run) {
    Buffer<double> real(r), fake(f), value(1), dreal(count_real), dfake(count_fake),
        workspace(sim::lsgan_workspace(count_real, count_fake));
    sim::lsgan_d_forward_backward(count_real, real.get(), count_fake, fake.get(), value.get(), dreal.get(), dfake.get(),
                                  workspace.get(), nullptr);
    values.push_back(value.scalar());
    grads.push_back(dreal.to_host());
    expect_close(dfake.to_host(), df_ref, 0, 1e-15);
  }
  expect_close(values[0], sum_real / double(count_real) + sum_fake / double(count_fake), 0, 1e-12);
  expect_close(grads[0], dr_ref, 0, 1e-15);
  EXPECT_TRUE(same_bytes(std::vector<double>{values[0]}, std::vector<double>{values[1]}));
}

TEST(LsganForwardBackward, GeneratorMatchesReferenceAndRepeatsBitwise) {
  const std::size_t count = 777;
  const auto f = random_vector<float>(count, 52);
  double sum = 0;
  std::vector<double> grad(count);
  for (std::size_t i = 0; i < count; ++i) {
    sum += (double(f[i]) - 1) * (double(f[i]) - 1);
    grad[i] = 2 * (double(f[i]) - 1) / double(count);
  }
  std::vector<float> values;
  for (int run = 0; run < 2; ++run) {
    Buffer<float> fake(f), value(1), dfake(count), workspace(sim::lsgan_workspace(0, count));
    sim::lsgan_g_forward_backward(count, fake.get(), value.get(), dfake.get(), workspace.get(), nullptr);
    values.push_back(value.scalar());
    expect_close(dfake.to_host(), grad, 0, 1e-6);
  }
  expect_close(values[0], sum / double(count), 0, 1e-5);
  EXPECT_TRUE(same_bytes(std::vector<float>{values[0]}, std::vector<float>{values[1]}));
}

TEST(LsganArguments, InvalidArgumentsThrow) {
  Buffer<float> a(4), v(1), w(4);
  EXPECT_THROW(sim::lsgan_g_forward_backward(0, a.get(), v.get(), a.get(), w.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(sim::lsgan_d_forward_backward(4, a.get(), 0, a.get(), v.get(), a.get(), a.get(), w.get(), nullptr),
               std::invalid_argument);
  EXPECT_THROW(
      sim::lsgan_d_forward_backward<float>(4, a.get(), 4, nullptr, v.get(), a.get(), a.get(), w.get(), nullptr),
      std::invalid_argument);
}

#if GRAMGAN_HAVE_CUDA
TEST(GramMseCuda, MatchesCpu) {
  if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  const int batch = 2, channels = 70, plane = 4000;
  const auto f = random_vector<float>(std::size_t(batch) * channels * plane, 60);
  const auto td = symmetric_target(channels, 61, 0.3);
  const std::vector<float> t(td.begin(), td.end());
  Buffer<float, CudaMemory> features(f), target(t), value(1), df(f.size()),
      workspace(gramgan::cuda::gram_mse_workspace(batch, channels, plane));
  gramgan::cuda::gram_mse_forward_backward(batch, channels, plane, features.get(), target.get(), false, value.get(),
                                           df.get(), workspace.get(), nullptr);
  const auto cpu = run_gram_mse(batch, channels, plane, f, t);
  expect_close(value.scalar(), cpu.first, 0, 1e-5);
  expect_close(df.to_host(), to_double(cpu.second), 1e-10, 1e-4);
}

TEST(TvCuda, MatchesCpu) {
  if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  const TvShape s{2, 3, 130, 257};
  const auto x = random_vector<float>(s.size(), 62);
  for (const TvMode mode : {TvMode::sqrt, TvMode::squared}) {
    Buffer<float, CudaMemory> xb(x), value(1), dx(x.size()),
        workspace(gramgan::cuda::tv_workspace(s.batch, s.channels, s.height, s.width));
    gramgan::cuda::tv_forward_backward(mode, 1e-8f, s.batch, s.channels, s.height, s.width, xb.get(), value.get(),
                                       dx.get(), workspace.get(), nullptr);
    const auto cpu = run_tv(mode, 1e-8f, s, x);
    expect_close(value.scalar(), cpu.first, 0, 1e-5);
    expect_close(dx.to_host(), to_double(cpu.second), 1e-12, 1e-4);
  }
}
#endif

}  // namespace
