// gram.cu against naive double-precision references on the cpu backend (and cuda vs cpu when a GPU is present).
// Channel counts straddle the 64-wide tiles (upper-triangle enumeration, mirroring) and planes straddle the
// 16-deep K stages and the 64-wide plane tiles of the backward. Large planes split K across blocks (partial Grams
// in the workspace, summed in a fixed order). The tf32 forward (tensor cores) within a TF32 bound of double and bit
// for bit against the host tensor-core model (tests/tf32_test_support.h), per architecture and thread order.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "cudasim/mma_model.h"
#include "cudasim/runtime.h"
#include "tests/op_test_support.h"
#include "tests/tf32_test_support.h"

namespace {

using namespace gramgan::test;
using gramgan::GramShape;
using gramgan::Precision;
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
std::vector<T> run_gram_forward(int batch, int channels, int plane, const std::vector<T>& f,
                                Precision precision = Precision::fp32) {
  const GramShape shape{batch, channels, plane, precision};
  Buffer<T> features(f), gram(std::size_t(batch) * channels * channels), workspace(sim::gram_forward_workspace(shape));
  sim::gram_forward(shape, features.get(), gram.get(), workspace.get(), nullptr);
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
  ASSERT_GT(sim::gram_forward_workspace({batch, channels, plane}), total) << "expected more than one split";
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
  EXPECT_THROW(sim::gram_forward({1, 0, 4}, a.get(), b.get(), b.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(sim::gram_forward({1, 2, 0}, a.get(), b.get(), b.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(sim::gram_forward({-1, 2, 2}, a.get(), b.get(), b.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(sim::gram_forward<float>({1, 2, 2}, nullptr, b.get(), b.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(sim::gram_forward_workspace({1, 0, 4}), std::invalid_argument);
  EXPECT_EQ(sim::gram_forward_workspace({1, 2, 16}), 0u);  // one split: no workspace needed
  {
    const int plane = 4096;  // one 64-channel tile: K is split
    Buffer<float> f(std::size_t(64) * plane), g(64 * 64);
    ASSERT_GT(sim::gram_forward_workspace({1, 64, plane}), 0u);
    EXPECT_THROW(sim::gram_forward<float>({1, 64, plane}, f.get(), g.get(), nullptr, nullptr), std::invalid_argument);
  }
  EXPECT_THROW(sim::gram_backward<float>(1, 2, 2, a.get(), nullptr, b.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(sim::gram_backward(1, 2, -3, a.get(), a.get(), b.get(), nullptr), std::invalid_argument);
}

// ---- tf32 (tensor cores, gram_tiles_tf32_kernel) ----------------------------------------------------------------

// |F| elementwise: the Gram of |F| is the magnitude (sum of |terms|) the TF32 bound is relative to.
std::vector<double> absolute(std::vector<double> v) {
  for (double& x : v) x = std::abs(x);
  return v;
}

// The Gram's host model: per image, per split chunk [s chunk, (s + 1) chunk) of the plane, model_gemm of the rows
// rounded to TF32 with their transpose (the kernel's chain of tensor-core dots, padded to 32-deep stages); the
// partials added in FP32 in split order, then scaled, as gram_forward does.
std::vector<float> model_gram(int batch, int channels, int plane, int chunk, const std::vector<float>& f, int sm) {
  const float scale = float(1.0 / (double(channels) * double(plane)));
  const std::vector<float> fr = rounded(f);
  std::vector<float> g(std::size_t(batch) * channels * channels);
  for (int n = 0; n < batch; ++n) {
    std::vector<float> sum(std::size_t(channels) * channels);
    for (int k_begin = 0, s = 0; k_begin < plane; k_begin += chunk, ++s) {
      const int depth = std::min(chunk, plane - k_begin);
      std::vector<float> a(std::size_t(channels) * depth), b(a.size());
      for (int r = 0; r < channels; ++r)
        for (int k = 0; k < depth; ++k) {
          const float v = fr[(std::size_t(n) * channels + r) * plane + k_begin + k];
          a[std::size_t(r) * depth + k] = v;
          b[std::size_t(k) * channels + r] = v;
        }
      const std::vector<float> partial = model_gemm(a, b, channels, channels, depth, sm);
      for (std::size_t i = 0; i < sum.size(); ++i) sum[i] = s == 0 ? partial[i] : sum[i] + partial[i];
    }
    for (std::size_t i = 0; i < sum.size(); ++i) g[std::size_t(n) * channels * channels + i] = sum[i] * scale;
  }
  return g;
}

// The cases: {batch, channels, plane, chunk}. 70 channels straddle the 64-wide tiles (3 upper tiles per image);
// plane 37 is one split of two 32-deep stages, the second partial. 20 channels and plane 1100 split K (one tile:
// gram_split takes min(256 blocks, 1100 / 512 rounded up) = 3 splits, chunks of 367 rounded up to 384, the last
// 332 deep); the workspace size checks the split count.
struct Tf32Case {
  int batch, channels, plane, chunk;
};
const Tf32Case kTf32Cases[] = {{2, 70, 37, 37}, {1, 20, 1100, 384}};

int splits_of(const Tf32Case& c) { return (c.plane + c.chunk - 1) / c.chunk; }

void expect_split_plan(const Tf32Case& c) {
  const std::size_t total = std::size_t(c.batch) * c.channels * c.channels;
  const int splits = splits_of(c);
  ASSERT_EQ(sim::gram_forward_workspace({c.batch, c.channels, c.plane}), splits > 1 ? splits * total : 0);
}

// Against double within the bound of tests/tf32_test_support.h: operands rounded to TF32, 14 units of 2^-24 per
// MMA of a split's chain, one per split add, two for the scale (its rounding and the multiply). Prints the
// largest error relative to the magnitude. Exactly symmetric, as the fp32 Gram.
TEST(GramTf32, WithinTf32BoundOfDouble) {
  double worst = 0;
  for (const Tf32Case& c : kTf32Cases) {
    SCOPED_TRACE("batch " + std::to_string(c.batch) + ", channels " + std::to_string(c.channels) + ", plane " +
                 std::to_string(c.plane));
    expect_split_plan(c);
    const auto f = random_vector<float>(std::size_t(c.batch) * c.channels * c.plane, 20 + c.plane);
    const auto g = run_gram_forward(c.batch, c.channels, c.plane, f, Precision::tf32);
    const auto fd = to_double(f);
    expect_tf32_close(g, gram_reference(c.batch, c.channels, c.plane, fd),
                      gram_reference(c.batch, c.channels, c.plane, absolute(fd)), kTf32Product,
                      14 * mma_steps(c.chunk) + splits_of(c) + 2, "gram", &worst);
    expect_exactly_symmetric(to_double(g), c.batch, c.channels);
    EXPECT_FALSE(same_bytes(g, run_gram_forward(c.batch, c.channels, c.plane, f))) << "tf32 ran the fp32 kernel";
  }
  std::printf("tf32 gram, max |error| / sum|terms| vs double: %.3g (bound about 2^-10 = %.3g)\n", worst,
              std::ldexp(1.0, -10));
}

// Bit for bit against the host model on each architecture's model (sm_80/86/89 chain two k = 4 halves and keep
// 24 fractional bits, sm_90 one k = 8 step and 25), in both simulator thread orders.
TEST(GramTf32, BitwiseAgainstTensorCoreModelInBothThreadOrders) {
  const int saved_sm = cudasim::architecture();
  const cudasim::ThreadOrder saved_order = cudasim::thread_order();
  for (const Tf32Case& c : kTf32Cases) {
    expect_split_plan(c);
    const auto f = random_vector<float>(std::size_t(c.batch) * c.channels * c.plane, 40 + c.plane);
    for (int sm : {80, 86, 89, 90}) {
      const std::vector<float> model = model_gram(c.batch, c.channels, c.plane, c.chunk, f, sm);
      for (auto order : {cudasim::ThreadOrder::forward, cudasim::ThreadOrder::reverse}) {
        SCOPED_TRACE("channels " + std::to_string(c.channels) + ", plane " + std::to_string(c.plane) + ", sm_" +
                     std::to_string(sm) + (order == cudasim::ThreadOrder::forward ? ", forward" : ", reverse"));
        cudasim::set_architecture(sm);
        cudasim::set_thread_order(order);
        EXPECT_TRUE(same_bytes(run_gram_forward(c.batch, c.channels, c.plane, f, Precision::tf32), model));
      }
    }
  }
  cudasim::set_architecture(saved_sm);
  cudasim::set_thread_order(saved_order);
}

// The two architectures' models differ on these inputs, so the test above tells them apart.
TEST(GramTf32, ArchitectureModelsDiffer) {
  const Tf32Case c = kTf32Cases[1];
  const auto f = random_vector<float>(std::size_t(c.batch) * c.channels * c.plane, 40 + c.plane);
  EXPECT_FALSE(same_bytes(model_gram(c.batch, c.channels, c.plane, c.chunk, f, 80),
                          model_gram(c.batch, c.channels, c.plane, c.chunk, f, 90)));
}

#if GRAMGAN_HAVE_CUDA
TEST(GramCuda, ForwardAndBackwardMatchCpu) {
  if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  const int batch = 2, channels = 130, plane = 1000;
  const auto f = random_vector<float>(std::size_t(batch) * channels * plane, 10);
  const auto dg = random_vector<float>(std::size_t(batch) * channels * channels, 11);
  Buffer<float, CudaMemory> features(f), gram(dg.size()), dgram(dg), df(f.size()),
      workspace(gramgan::cuda::gram_forward_workspace({batch, channels, plane}));
  gramgan::cuda::gram_forward({batch, channels, plane}, features.get(), gram.get(), workspace.get(), nullptr);
  gramgan::cuda::gram_backward(batch, channels, plane, features.get(), dgram.get(), df.get(), nullptr);
  const auto g_cpu = run_gram_forward(batch, channels, plane, f);
  const auto g_gpu = gram.to_host();
  // Same summation order; only fma contraction may differ between nvcc and the host compiler.
  expect_close(g_gpu, to_double(g_cpu), 1e-7, 1e-5);
  expect_exactly_symmetric(to_double(g_gpu), batch, channels);
  expect_close(df.to_host(), to_double(run_gram_backward(batch, channels, plane, f, dg)), 1e-7, 1e-5);
}

// The tf32 Gram on the GPU's tensor cores equals the simulator's model of its architecture bit for bit (the MMAs,
// the TF32 rounding, the FP32 split sum and scale: none can be contracted).
TEST(GramTf32Cuda, BitwiseEqualsSimulatorModel) {
  if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  const int sm = modelled_device_architecture();
  if (sm == 0) GTEST_SKIP() << "no tensor-core model for this GPU's architecture";
  const int saved = cudasim::architecture();
  cudasim::set_architecture(sm);
  for (const GramShape shape : {GramShape{2, 70, 37, Precision::tf32}, GramShape{1, 20, 1100, Precision::tf32},
                                GramShape{2, 130, 1000, Precision::tf32}}) {
    SCOPED_TRACE("channels " + std::to_string(shape.channels) + ", plane " + std::to_string(shape.plane) + ", sm_" +
                 std::to_string(sm));
    const auto f = random_vector<float>(std::size_t(shape.batch) * shape.channels * shape.plane, 60);
    Buffer<float, CudaMemory> features(f), gram(std::size_t(shape.batch) * shape.channels * shape.channels),
        workspace(gramgan::cuda::gram_forward_workspace(shape));
    gramgan::cuda::gram_forward(shape, features.get(), gram.get(), workspace.get(), nullptr);
    EXPECT_TRUE(
        same_bytes(gram.to_host(), run_gram_forward(shape.batch, shape.channels, shape.plane, f, Precision::tf32)));
  }
  cudasim::set_architecture(saved);
}
#endif

}  // namespace
