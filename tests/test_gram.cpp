// gram.cu against naive double-precision references on the cpu backend (and cuda vs cpu when a GPU is present).
// Channel counts straddle the 64-wide tiles (upper-triangle enumeration, mirroring) and planes straddle the
// 16-deep K stages and the 64-wide plane tiles of the backward. Large planes split K across blocks (partial Grams
// in the workspace, summed in a fixed order).
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "tests/op_test_support.h"

namespace {

using namespace gramgan::test;
namespace sim = gramgan::sim;

// G[n] = F_n F_n^T / (C P).
std::vector<double> gram_reference(int batch, int channels, int plane, const std::vector<double>& f) {
  std::vector<double> g(std::size_t(batch) * channels * channels);
  for (int n = 0; n < batch; ++n)
    for (int r = 0; r < channels; ++r)
      for (int c = 0; c < channels; ++c) {
        double sum = 0;
        for (int k = 0; k < plane; ++k)
          sum += f[(std::size_t(n) * channels + r) * plane + k] * f[(std::size_t(n) * channels + c) * plane + k];
        g[(std::size_t(n) * channels + r) * channels + c] = sum / (double(channels) * plane);
      }
  return g;
}

// dF[n] = (dG_n + dG_n^T) F_n / (C P).
std::vector<double> gram_backward_reference(int batch, int channels, int plane, const std::vector<double>& f,
                                            const std::vector<double>& dg) {
  std::vector<double> df(f.size());
  for (int n = 0; n < batch; ++n)
    for (int r = 0; r < channels; ++r)
      for (int k = 0; k < plane; ++k) {
        double sum = 0;
        for (int c = 0; c < channels; ++c) {
          const std::size_t base = std::size_t(n) * channels * channels;
          sum += (dg[base + std::size_t(r) * channels + c] + dg[base + std::size_t(c) * channels + r]) *
                 f[(std::size_t(n) * channels + c) * plane + k];
        }
        df[(std::size_t(n) * channels + r) * plane + k] = sum / (double(channels) * plane);
      }
  return df;
}

template <class T>
std::vector<T> run_gram_forward(int batch, int channels, int plane, const std::vector<T>& f) {
  Buffer<T> features(f), gram(std::size_t(batch) * channels * channels),
      workspace(sim::gram_forward_workspace(batch, channels, plane));
  sim::gram_forward(batch, channels, plane, features.get(), gram.get(), workspace.get(), nullptr);
  return gram.to_host();
}

template <class T>
std::vector<T> run_gram_backward(int batch, int channels, int plane, const std::vector<T>& f,
                                 const std::vector<T>& dg) {
  Buffer<T> features(f), dgram(dg), df(f.size());
  sim::gram_backward(batch, channels, plane, features.get(), dgram.get(), df.get(), nullptr);
  return df.to_host();
}

void expect_exactly_symmetric(const std::vector<double>& g, int batch, int channels) {
  for (int n = 0; n < batch; ++n)
    for (int r = 0; r < channels; ++r)
      for (int c = 0; c < r; ++c) {
        const std::size_t base = std::size_t(n) * channels * channels;
        ASSERT_EQ(g[base + std::size_t(r) * channels + c], g[base + std::size_t(c) * channels + r])
            << "image " << n << " (" << r << ", " << c << ")";
      }
}

TEST(GramForward, DoubleMatchesReferenceAcrossTiles) {
  const int batch = 2, channels = 70, plane = 37;
  const auto f = random_vector<double>(std::size_t(batch) * channels * plane, 1);
  const auto g = run_gram_forward(batch, channels, plane, f);
  expect_close(g, gram_reference(batch, channels, plane, f), 1e-15, 1e-12);
  expect_exactly_symmetric(g, batch, channels);
}

TEST(GramForward, FloatMatchesReferenceAndIsExactlySymmetric) {
  const int batch = 3, channels = 67, plane = 130;
  const auto f = random_vector<float>(std::size_t(batch) * channels * plane, 2);
  const auto g = run_gram_forward(batch, channels, plane, f);
  // Float sums of 130 products of magnitude <= 1, scaled by 1/(C P).
  expect_close(g, gram_reference(batch, channels, plane, to_double(f)), 1e-7, 1e-5);
  expect_exactly_symmetric(to_double(g), batch, channels);
}

TEST(GramForward, SingleChannelAndPlane) {
  const std::vector<double> f = {3.0, -2.0};  // batch 2, one channel, one pixel
  const auto g = run_gram_forward(2, 1, 1, f);
  EXPECT_EQ(g, (std::vector<double>{9.0, 4.0}));
}

TEST(GramForward, RepeatsBitwise) {
  const int batch = 2, channels = 65, plane = 50;
  const auto f = random_vector<float>(std::size_t(batch) * channels * plane, 3);
  EXPECT_TRUE(same_bytes(run_gram_forward(batch, channels, plane, f), run_gram_forward(batch, channels, plane, f)));
}

// batch 2, 70 channels: 6 upper tiles in all, so the plane is split into 25 chunks of 496 (the last one partial).
TEST(GramForward, SplitKMatchesReferenceAndRepeatsBitwise) {
  const int batch = 2, channels = 70, plane = 12345;
  const std::size_t total = std::size_t(batch) * channels * channels;
  ASSERT_GT(sim::gram_forward_workspace(batch, channels, plane), total) << "expected more than one split";
  const auto fd = random_vector<double>(std::size_t(batch) * channels * plane, 12);
  const auto ref = gram_reference(batch, channels, plane, fd);
  const auto gd = run_gram_forward(batch, channels, plane, fd);
  expect_close(gd, ref, 1e-15, 1e-12);
  expect_exactly_symmetric(gd, batch, channels);

  const auto f = random_vector<float>(fd.size(), 13);
  const auto first = run_gram_forward(batch, channels, plane, f), second = run_gram_forward(batch, channels, plane, f);
  EXPECT_TRUE(same_bytes(first, second));
  // Float sums of 12345 products of magnitude <= 1 in chunks of 496, scaled by 1/(C P).
  expect_close(first, gram_reference(batch, channels, plane, to_double(f)), 1e-7, 1e-5);
  expect_exactly_symmetric(to_double(first), batch, channels);
}

// The forward splits K exactly as the style loss does: the loss of features against their own Gram is zero.
TEST(GramForward, SplitKMatchesGramMseBitwise) {
  const int batch = 1, channels = 64, plane = 4096;
  const auto f = random_vector<float>(std::size_t(batch) * channels * plane, 14);
  const auto g = run_gram_forward(batch, channels, plane, f);
  Buffer<float> features(f), target(g), value(1), df(f.size()),
      workspace(sim::gram_mse_workspace(batch, channels, plane));
  sim::gram_mse_forward_backward(batch, channels, plane, features.get(), target.get(), false, value.get(), df.get(),
                                 workspace.get(), nullptr);
  EXPECT_EQ(value.to_host()[0], 0.0f);
}

TEST(GramBackward, DoubleMatchesReferenceAcrossTiles) {
  const int batch = 2, channels = 70, plane = 81;
  const auto f = random_vector<double>(std::size_t(batch) * channels * plane, 4);
  const auto dg = random_vector<double>(std::size_t(batch) * channels * channels, 5);  // not symmetric
  expect_close(run_gram_backward(batch, channels, plane, f, dg), gram_backward_reference(batch, channels, plane, f, dg),
               1e-15, 1e-12);
}

TEST(GramBackward, FloatMatchesReference) {
  const int batch = 2, channels = 19, plane = 70;
  const auto f = random_vector<float>(std::size_t(batch) * channels * plane, 6);
  const auto dg = random_vector<float>(std::size_t(batch) * channels * channels, 7);
  expect_close(run_gram_backward(batch, channels, plane, f, dg),
               gram_backward_reference(batch, channels, plane, to_double(f), to_double(dg)), 1e-7, 1e-5);
}

// L = sum_n sum_rc W[n,r,c] G[n,r,c]: gram_backward with dgram = W must be dL/dF.
TEST(GramBackward, MatchesCentralFiniteDifferences) {
  const int batch = 2, channels = 3, plane = 5;
  const auto f = random_vector<double>(std::size_t(batch) * channels * plane, 8);
  const auto w = random_vector<double>(std::size_t(batch) * channels * channels, 9);
  const auto loss = [&](const std::vector<double>& x) {
    const auto g = gram_reference(batch, channels, plane, x);
    double sum = 0;
    for (std::size_t i = 0; i < g.size(); ++i) sum += w[i] * g[i];
    return sum;
  };
  expect_close(run_gram_backward(batch, channels, plane, f, w), numeric_gradient(loss, f, 1e-6), 1e-9, 1e-7);
}

TEST(GramArguments, InvalidArgumentsThrow) {
  Buffer<float> a(16), b(16);
  EXPECT_THROW(sim::gram_forward(1, 0, 4, a.get(), b.get(), b.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(sim::gram_forward(1, 2, 0, a.get(), b.get(), b.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(sim::gram_forward(-1, 2, 2, a.get(), b.get(), b.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(sim::gram_forward<float>(1, 2, 2, nullptr, b.get(), b.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(sim::gram_forward_workspace(1, 0, 4), std::invalid_argument);
  EXPECT_EQ(sim::gram_forward_workspace(1, 2, 16), 0u);  // one split: no workspace needed
  {
    const int plane = 4096;  // one 64-channel tile: K is split
    Buffer<float> f(std::size_t(64) * plane), g(64 * 64);
    ASSERT_GT(sim::gram_forward_workspace(1, 64, plane), 0u);
    EXPECT_THROW(sim::gram_forward<float>(1, 64, plane, f.get(), g.get(), nullptr, nullptr), std::invalid_argument);
  }
  EXPECT_THROW(sim::gram_backward<float>(1, 2, 2, a.get(), nullptr, b.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(sim::gram_backward(1, 2, -3, a.get(), a.get(), b.get(), nullptr), std::invalid_argument);
}

#if GRAMGAN_HAVE_CUDA
TEST(GramCuda, ForwardAndBackwardMatchCpu) {
  if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  const int batch = 2, channels = 130, plane = 1000;
  const auto f = random_vector<float>(std::size_t(batch) * channels * plane, 10);
  const auto dg = random_vector<float>(std::size_t(batch) * channels * channels, 11);
  Buffer<float, CudaMemory> features(f), gram(dg.size()), dgram(dg), df(f.size()),
      workspace(gramgan::cuda::gram_forward_workspace(batch, channels, plane));
  gramgan::cuda::gram_forward(batch, channels, plane, features.get(), gram.get(), workspace.get(), nullptr);
  gramgan::cuda::gram_backward(batch, channels, plane, features.get(), dgram.get(), df.get(), nullptr);
  const auto g_cpu = run_gram_forward(batch, channels, plane, f);
  const auto g_gpu = gram.to_host();
  // Same summation order; only fma contraction may differ between nvcc and the host compiler.
  expect_close(g_gpu, to_double(g_cpu), 1e-7, 1e-5);
  expect_exactly_symmetric(to_double(g_gpu), batch, channels);
  expect_close(df.to_host(), to_double(run_gram_backward(batch, channels, plane, f, dg)), 1e-7, 1e-5);
}
#endif

}  // namespace
