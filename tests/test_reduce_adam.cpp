// reduce.cu and adam.cu against naive double-precision references on the cpu backend, NaN/Inf semantics,
// bitwise repeatability, argument checks; cuda vs cpu when a GPU is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "tests/op_test_support.h"

namespace {

using namespace gramgan::test;
using gramgan::AdamConfig;
using gramgan::Reduction;
namespace sim = gramgan::sim;

constexpr Reduction kAllReductions[] = {Reduction::sum, Reduction::mean, Reduction::sum_squares,
                                        Reduction::min, Reduction::max,  Reduction::count_nonfinite};

double reduce_reference(Reduction reduction, const std::vector<double>& x) {
  double acc = reduction == Reduction::min ? INFINITY : reduction == Reduction::max ? -INFINITY : 0.0;
  for (const double v : x) {
    switch (reduction) {
      case Reduction::sum:
      case Reduction::mean: acc += v; break;
      case Reduction::sum_squares: acc += v * v; break;
      case Reduction::min: acc = std::isnan(v) || std::isnan(acc) ? NAN : std::min(acc, v); break;
      case Reduction::max: acc = std::isnan(v) || std::isnan(acc) ? NAN : std::max(acc, v); break;
      case Reduction::count_nonfinite: acc += std::isfinite(v) ? 0.0 : 1.0; break;
    }
  }
  return reduction == Reduction::mean ? acc / double(x.size()) : acc;
}

template <class T>
T run_reduce(Reduction reduction, const std::vector<T>& x_host) {
  Buffer<T> x(x_host), out(1), workspace(sim::reduce_workspace(x_host.size()));
  sim::reduce(reduction, x_host.size(), x.get(), out.get(), workspace.get(), nullptr);
  return out.scalar();
}

TEST(ReduceAll, DoubleMatchesReference) {
  for (const std::size_t count : {std::size_t(1), std::size_t(257), std::size_t(300001)}) {
    const auto x = random_vector<double>(count, 70, -2.0, 1.0);
    for (const Reduction r : kAllReductions) expect_close(run_reduce(r, x), reduce_reference(r, x), 1e-13, 1e-12);
  }
}

TEST(ReduceAll, FloatMatchesReference) {
  const auto x = random_vector<float>(20000, 71, 0.5, 1.5);
  for (const Reduction r : kAllReductions) expect_close(run_reduce(r, x), reduce_reference(r, to_double(x)), 0, 1e-5);
}

TEST(ReduceAll, EveryReductionRepeatsBitwise) {
  const auto x = random_vector<float>(70001, 72);
  for (const Reduction r : kAllReductions) {
    const float first = run_reduce(r, x), second = run_reduce(r, x);
    EXPECT_TRUE(same_bytes(std::vector<float>{first}, std::vector<float>{second})) << int(r);
  }
}

TEST(ReduceNonFinite, NanPropagatesAndNonFiniteAreCounted) {
  for (const std::size_t where : {std::size_t(0), std::size_t(600), std::size_t(999)}) {
    auto x = random_vector<double>(1000, 73);
    x[where] = NAN;
    x[(where + 1) % 1000] = INFINITY;
    x[(where + 2) % 1000] = -INFINITY;
    EXPECT_TRUE(std::isnan(run_reduce(Reduction::min, x)));
    EXPECT_TRUE(std::isnan(run_reduce(Reduction::max, x)));
    EXPECT_TRUE(std::isnan(run_reduce(Reduction::sum, x)));
    EXPECT_EQ(run_reduce(Reduction::count_nonfinite, x), 3.0);
  }
  std::vector<float> inf_only(300, 1.0f);
  inf_only[5] = -INFINITY;
  EXPECT_EQ(run_reduce(Reduction::min, inf_only), -INFINITY);
  EXPECT_EQ(run_reduce(Reduction::max, inf_only), 1.0f);
}

TEST(ReduceEmpty, SumsAreZeroAndMinMaxMeanThrow) {
  const std::vector<double> empty;
  EXPECT_EQ(run_reduce(Reduction::sum, empty), 0.0);
  EXPECT_EQ(run_reduce(Reduction::sum_squares, empty), 0.0);
  EXPECT_EQ(run_reduce(Reduction::count_nonfinite, empty), 0.0);
  EXPECT_THROW(run_reduce(Reduction::min, empty), std::invalid_argument);
  EXPECT_THROW(run_reduce(Reduction::max, empty), std::invalid_argument);
  EXPECT_THROW(run_reduce(Reduction::mean, empty), std::invalid_argument);
}

TEST(ReduceArguments, NullPointersThrow) {
  Buffer<float> x(4), out(1);
  EXPECT_THROW(sim::reduce<float>(Reduction::sum, 4, nullptr, out.get(), out.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(sim::reduce<float>(Reduction::sum, 4, x.get(), out.get(), nullptr, nullptr), std::invalid_argument);
}

// ---- Adam ----

struct AdamState {
  std::vector<double> param, m, v;
};

void adam_reference(const AdamConfig& c, const std::vector<double>& grad, AdamState& s) {
  for (std::size_t i = 0; i < grad.size(); ++i) {
    s.param[i] -= c.lr * c.weight_decay * s.param[i];
    s.m[i] = c.beta1 * s.m[i] + (1 - c.beta1) * grad[i];
    s.v[i] = c.beta2 * s.v[i] + (1 - c.beta2) * grad[i] * grad[i];
    const double mhat = s.m[i] / (1 - std::pow(c.beta1, double(c.step)));
    const double vhat = s.v[i] / (1 - std::pow(c.beta2, double(c.step)));
    s.param[i] -= c.lr * mhat / (std::sqrt(vhat) + c.eps);
  }
}

template <class T>
void check_adam(double atol, double rtol) {
  const std::size_t count = 1000;
  AdamState ref{to_double(random_vector<T>(count, 80)), std::vector<double>(count, 0.0),
                std::vector<double>(count, 0.0)};
  std::vector<T> p0(ref.param.begin(), ref.param.end());
  Buffer<T> param(p0), m(std::vector<T>(count, T(0))), v(std::vector<T>(count, T(0))), grad(count);
  AdamConfig config;
  config.lr = 1e-2;
  config.weight_decay = 0.1;
  for (long long step = 1; step <= 3; ++step) {
    config.step = step;
    const auto g = random_vector<T>(count, 81 + std::uint32_t(step));
    Buffer<T> grad_step(g);
    sim::adam_step(config, count, param.get(), grad_step.get(), m.get(), v.get(), nullptr);
    adam_reference(config, to_double(g), ref);
  }
  expect_close(param.to_host(), ref.param, atol, rtol);
  expect_close(m.to_host(), ref.m, atol, rtol);
  expect_close(v.to_host(), ref.v, atol, rtol);
}

TEST(AdamStep, DoubleMatchesReferenceOverSteps) { check_adam<double>(1e-15, 1e-12); }
// Float: lr-sized updates of O(1) parameters; the first step's mhat / sqrt(vhat) ~ +-1 is sensitive to v's rounding.
TEST(AdamStep, FloatMatchesReferenceOverSteps) { check_adam<float>(1e-6, 1e-5); }

TEST(AdamStep, NoDecayKeepsInfiniteParameterAndZeroGradientKeepsParameter) {
  const std::vector<double> p0 = {INFINITY, 2.0};
  Buffer<double> param(p0), grad(std::vector<double>{1.0, 0.0}), m(std::vector<double>(2, 0.0)),
      v(std::vector<double>(2, 0.0));
  sim::adam_step(AdamConfig{}, 2, param.get(), grad.get(), m.get(), v.get(), nullptr);
  const auto p = param.to_host();
  EXPECT_EQ(p[0], INFINITY);
  EXPECT_EQ(p[1], 2.0);
}

TEST(AdamArguments, InvalidConfigThrows) {
  Buffer<float> a(4), b(4), c(4), d(4);
  const auto call = [&](AdamConfig config) { sim::adam_step(config, 4, a.get(), b.get(), c.get(), d.get(), nullptr); };
  AdamConfig bad;
  bad.lr = -1;
  EXPECT_THROW(call(bad), std::invalid_argument);
  bad = AdamConfig{};
  bad.beta1 = 1.0;
  EXPECT_THROW(call(bad), std::invalid_argument);
  bad = AdamConfig{};
  bad.beta2 = -0.1;
  EXPECT_THROW(call(bad), std::invalid_argument);
  bad = AdamConfig{};
  bad.eps = 0;
  EXPECT_THROW(call(bad), std::invalid_argument);
  bad = AdamConfig{};
  bad.step = 0;
  EXPECT_THROW(call(bad), std::invalid_argument);
  bad = AdamConfig{};
  bad.weight_decay = -1;
  EXPECT_THROW(call(bad), std::invalid_argument);
  EXPECT_THROW(sim::adam_step<float>(AdamConfig{}, 4, a.get(), nullptr, c.get(), d.get(), nullptr),
               std::invalid_argument);
}

#if GRAMGAN_HAVE_CUDA
TEST(ReduceCuda, MatchesCpu) {
  if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  const auto x = random_vector<float>(1000003, 90);
  for (const Reduction r : kAllReductions) {
    Buffer<float, CudaMemory> xb(x), out(1), workspace(gramgan::cuda::reduce_workspace(x.size()));
    gramgan::cuda::reduce(r, x.size(), xb.get(), out.get(), workspace.get(), nullptr);
    expect_close(out.scalar(), run_reduce(r, x), 1e-6, 1e-5);
  }
}

TEST(AdamCuda, MatchesCpu) {
  if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  const std::size_t count = 100000;
  const auto p = random_vector<float>(count, 91), g = random_vector<float>(count, 92);
  AdamConfig config;
  config.weight_decay = 0.01;
  Buffer<float, CudaMemory> pc(p), gc(g), mc(std::vector<float>(count, 0.0f)), vc(std::vector<float>(count, 0.0f));
  Buffer<float> ps(p), gs(g), ms(std::vector<float>(count, 0.0f)), vs(std::vector<float>(count, 0.0f));
  gramgan::cuda::adam_step(config, count, pc.get(), gc.get(), mc.get(), vc.get(), nullptr);
  sim::adam_step(config, count, ps.get(), gs.get(), ms.get(), vs.get(), nullptr);
  expect_close(pc.to_host(), to_double(ps.to_host()), 1e-7, 1e-6);
}
#endif

}  // namespace
