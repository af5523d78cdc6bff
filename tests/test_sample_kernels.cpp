// The sample kernels (tests/sample_kernels/) against naive double-precision references, on the cpu backend and,
// in a CUDA build with a device present, on the GPU. Sizes are chosen to miss the kernels' tile and warp
// multiples: edges are where tiled kernels go wrong.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/op_test_support.h"
#include "tests/sample_kernels/sample_kernels.h"

namespace {

using gramgan::test::Buffer;
using gramgan::test::random_vector;

// Each backend: its device memory (op_test_support.h) and its launchers, under one set of names the typed tests use.
struct SimBackend : gramgan::test::SimMemory {
  static constexpr const char* kName = "Sim";
  static bool available() { return true; }
  template <class... Args>
  static void gemm(Args... args) {
    gramgan::sim::samples::gemm_forward(args..., nullptr);
  }
  template <class... Args>
  static void reduce_sum(Args... args) {
    gramgan::sim::samples::reduce_sum_forward(args..., nullptr);
  }
  template <class... Args>
  static void histogram(Args... args) {
    gramgan::sim::samples::histogram_forward(args..., nullptr);
  }
  template <class... Args>
  static void block_reduce_forms(Args... args) {
    gramgan::sim::samples::block_reduce_forms(args..., nullptr);
  }
  template <class... Args>
  static void scale(Args... args) {
    gramgan::sim::samples::scale_forward(args..., nullptr);
  }
};

#if GRAMGAN_HAVE_CUDA
struct CudaBackend : gramgan::test::CudaMemory {
  static constexpr const char* kName = "Cuda";
  static bool available() { return gramgan::test::cuda_device_present(); }
  template <class... Args>
  static void gemm(Args... args) {
    gramgan::cuda::samples::gemm_forward(args..., nullptr);
  }
  template <class... Args>
  static void reduce_sum(Args... args) {
    gramgan::cuda::samples::reduce_sum_forward(args..., nullptr);
  }
  template <class... Args>
  static void histogram(Args... args) {
    gramgan::cuda::samples::histogram_forward(args..., nullptr);
  }
  template <class... Args>
  static void block_reduce_forms(Args... args) {
    gramgan::cuda::samples::block_reduce_forms(args..., nullptr);
  }
  template <class... Args>
  static void scale(Args... args) {
    gramgan::cuda::samples::scale_forward(args..., nullptr);
  }
};
using Backends = ::testing::Types<SimBackend, CudaBackend>;
#else
using Backends = ::testing::Types<SimBackend>;
#endif

struct BackendNames {
  template <class Backend>
  static std::string GetName(int) {
    return Backend::kName;
  }
};

template <class Backend>
class SampleKernelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Backend::available()) GTEST_SKIP() << "no CUDA device";
  }
};

// ---- gemm ----------------------------------------------------------------------------------------------------

template <class Backend>
class SampleKernelsGemm : public SampleKernelsTest<Backend> {};
TYPED_TEST_SUITE(SampleKernelsGemm, Backends, BackendNames);

// c = a * b for (m, n, k), with every matrix starting `offset` floats into its allocation (offset 1 breaks the
// 16-byte alignment the float4 path needs). Reference in double. Tolerance: a float dot product of length k,
// accumulated in any order, with or without FMA, is within gamma_k * sum_p |a_ip b_pj| of the exact value
// (Higham, Accuracy and Stability of Numerical Algorithms, 3.1), gamma_k <= (k + 1) * 2^-24 here. The bound is
// taken relative to sum |a b| rather than |c| because entries of c can cancel to near zero.
template <class Backend>
void check_gemm(int m, int n, int k, std::size_t offset = 0) {
  SCOPED_TRACE("gemm m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
               " offset=" + std::to_string(offset));
  const auto a = random_vector<float>(std::size_t(m) * k, 1);
  const auto b = random_vector<float>(std::size_t(k) * n, 2);
  Buffer<float, Backend> a_dev(a, offset), b_dev(b, offset), c_dev(std::size_t(m) * n, offset);
  Backend::gemm(a_dev.get(), b_dev.get(), c_dev.get(), m, n, k);
  const auto c = c_dev.to_host();

  const double rtol = (k + 1) * std::ldexp(1.0, -24);
  int failures = 0;
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double ref = 0, magnitude = 0;
      for (int p = 0; p < k; ++p) {
        const double term = double(a[std::size_t(i) * k + p]) * b[std::size_t(p) * n + j];
        ref += term;
        magnitude += std::abs(term);
      }
      const double got = c[std::size_t(i) * n + j];
      if (std::abs(got - ref) > rtol * magnitude && ++failures <= 5)
        ADD_FAILURE() << "c[" << i << "][" << j << "] = " << got << ", reference " << ref << ", tolerance "
                      << rtol * magnitude;
    }
  }
  EXPECT_EQ(failures, 0);
}

TYPED_TEST(SampleKernelsGemm, MatchesReferenceAtEdgeSizes) {
  check_gemm<TypeParam>(1, 1, 1);
  check_gemm<TypeParam>(17, 33, 9);
  check_gemm<TypeParam>(64, 64, 64);    // exactly one tile, all float4 paths
  check_gemm<TypeParam>(129, 70, 200);  // a vectorised, b and c scalar (n % 4 != 0), partial tiles
  check_gemm<TypeParam>(65, 128, 36);   // one row into a second tile row, k not a multiple of the stage depth
}

TYPED_TEST(SampleKernelsGemm, MisalignedPointersTakeTheScalarPath) { check_gemm<TypeParam>(70, 68, 36, 1); }

TYPED_TEST(SampleKernelsGemm, EmptyInnerDimensionGivesZeros) {
  Buffer<float, TypeParam> a_dev(1), b_dev(1), c_dev(std::vector<float>(3 * 5, 7.0f));
  TypeParam::gemm(a_dev.get(), b_dev.get(), c_dev.get(), 3, 5, 0);
  for (float v : c_dev.to_host()) EXPECT_EQ(v, 0.0f);
}

// ---- reduce_sum ----------------------------------------------------------------------------------------------

template <class Backend>
class SampleKernelsReduce : public SampleKernelsTest<Backend> {};
TYPED_TEST_SUITE(SampleKernelsReduce, Backends, BackendNames);

template <class Backend, class T>
T device_sum(const Buffer<T, Backend>& x, std::size_t count) {
  Buffer<T, Backend> out(1), partials(gramgan::sim::samples::kReduceMaxBlocks);
  Backend::reduce_sum(static_cast<const T*>(x.get()), count, out.get(), partials.get());
  return out.to_host()[0];
}

const std::size_t kReduceLengths[] = {0, 1, 31, 32, 33, 1000, std::size_t(1) << 20, (std::size_t(1) << 20) + 1};

// Tolerance: atol 0, rtol 32 u relative to sum |x_i| (u = 2^-24 float, 2^-53 double). Every element passes
// through at most 29 additions (a thread's strided chain <= 5, warp tree 5, block tree 5, then the same for the
// partials with a chain <= 4), and a summation tree of depth d errs by at most gamma_d * sum |x_i|.
template <class Backend, class T>
void check_reduce(std::size_t count) {
  SCOPED_TRACE("reduce length " + std::to_string(count));
  const auto x = random_vector<T>(count, 3);
  Buffer<T, Backend> x_dev(x);
  const T got = device_sum(x_dev, count);
  double ref = 0, magnitude = 0;
  for (T v : x) {
    ref += v;
    magnitude += std::abs(double(v));
  }
  const double u = std::ldexp(1.0, -std::numeric_limits<T>::digits);
  EXPECT_LE(std::abs(double(got) - ref), 32 * u * magnitude) << "got " << got << ", reference " << ref;

  const T again = device_sum(x_dev, count);
  EXPECT_EQ(std::memcmp(&got, &again, sizeof(T)), 0) << "two runs gave " << got << " and " << again;
}

TYPED_TEST(SampleKernelsReduce, FloatMatchesReferenceAndRepeatsBitwise) {
  for (std::size_t count : kReduceLengths) check_reduce<TypeParam, float>(count);
}

TYPED_TEST(SampleKernelsReduce, DoubleMatchesReferenceAndRepeatsBitwise) {
  for (std::size_t count : kReduceLengths) check_reduce<TypeParam, double>(count);
}

TYPED_TEST(SampleKernelsReduce, SumOfOnesIsExact) {
  const std::size_t count = (std::size_t(1) << 20) + 1;
  Buffer<float, TypeParam> x(std::vector<float>(count, 1.0f));
  EXPECT_EQ(device_sum(x, count), float(count));
}

// ---- block_reduce forms (kernels/block_reduce.cuh) -------------------------------------------------------------

template <class Backend>
class SampleKernelsBlockReduceForms : public SampleKernelsTest<Backend> {};
TYPED_TEST_SUITE(SampleKernelsBlockReduceForms, Backends, BackendNames);

// Values whose sums depend on the order (magnitudes from 2^-30 to 2^30, both signs), signed zeros (the min of +0
// and -0 depends on the operand order) and, in the last block, NaN and infinities.
template <class T>
std::vector<T> order_sensitive_values(int blocks) {
  const std::size_t count = std::size_t(blocks) * 256 * gramgan::kBlockReduceValues;
  std::vector<T> x(count);
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> mantissa(-1.0, 1.0);
  std::uniform_int_distribution<int> exponent(-30, 30), kind(0, 9);
  for (std::size_t i = 0; i < count; ++i) {
    const int k = kind(rng);
    x[i] = k == 0 ? T(0) : k == 1 ? -T(0) : T(std::ldexp(mantissa(rng), exponent(rng)));
  }
  const std::size_t last = count - 256 * gramgan::kBlockReduceValues;
  // Value 1 of the last block: non-negative with zeros of both signs, so its min is a zero whose sign the
  // operand order decides.
  for (int t = 0; t < 256; ++t) {
    T& value = x[last + std::size_t(t) * gramgan::kBlockReduceValues + 1];
    value = t % 3 == 0 ? (t % 2 == 0 ? T(0) : -T(0)) : std::abs(value);
  }
  x[last + 5] = std::numeric_limits<T>::quiet_NaN();
  x[last + 301] = std::numeric_limits<T>::infinity();
  x[last + 302] = -std::numeric_limits<T>::infinity();
  return x;
}

// What every thread of block b must receive for value v: each warp's lanes folded by halving (lane i with lane
// i + offset, offset 16, 8, ..., 1), then the 8 warp results in order. Written out here, independently.
template <class T, class Op>
T halving_tree(const std::vector<T>& x, int block, int v, Op op) {
  const int values = gramgan::kBlockReduceValues;
  T warp_results[8];
  for (int w = 0; w < 8; ++w) {
    T lanes[32];
    for (int i = 0; i < 32; ++i) lanes[i] = x[(std::size_t(block) * 256 + 32 * w + i) * values + v];
    for (int offset = 16; offset > 0; offset /= 2)
      for (int i = 0; i < offset; ++i) lanes[i] = op(lanes[i], lanes[i + offset]);
    warp_results[w] = lanes[0];
  }
  T result = warp_results[0];
  for (int w = 1; w < 8; ++w) result = op(result, warp_results[w]);
  return result;
}

template <class T>
bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// The same bits, except that any NaN matches a NaN: a GPU returns the canonical NaN (0x7fffffff) from arithmetic
// on a NaN operand where x86 keeps the operand's payload, so a NaN's bits tell nothing about the tree. A NaN where
// a number is expected (or the reverse) still fails.
template <class T>
bool same_result(T got, T expected) {
  if (std::isnan(expected)) return std::isnan(got);
  return same_bits(got, expected);
}

template <class Backend, class T>
void check_forms(gramgan::BlockReduceOp op_kind) {
  using gramgan::BlockReduceOp;
  SCOPED_TRACE(std::string(op_kind == BlockReduceOp::sum   ? "sum"
                           : op_kind == BlockReduceOp::min ? "min"
                                                           : "max") +
               (sizeof(T) == 4 ? " float" : " double"));
  const int blocks = 5, values = gramgan::kBlockReduceValues;
  const auto x = order_sensitive_values<T>(blocks);
  Buffer<T, Backend> x_dev(x), shuffled_dev(x.size()), staged_dev(x.size());
  Backend::block_reduce_forms(static_cast<const T*>(x_dev.get()), blocks, op_kind, shuffled_dev.get(),
                              staged_dev.get());
  const auto shuffled = shuffled_dev.to_host(), staged = staged_dev.to_host();
  const auto op = [&](T a, T b) {
    if (op_kind == BlockReduceOp::sum) return a + b;
    if (op_kind == BlockReduceOp::min) return b < a ? b : a;
    return b > a ? b : a;
  };
  int mismatches = 0;
  for (int b = 0; b < blocks; ++b) {
    for (int v = 0; v < values; ++v) {
      const T expected = halving_tree(x, b, v, op);
      for (int t = 0; t < 256 && mismatches < 5; ++t) {
        const std::size_t i = (std::size_t(b) * 256 + t) * values + v;
        if (same_result(shuffled[i], expected) && same_result(staged[i], expected)) continue;
        ++mismatches;
        ADD_FAILURE() << "block " << b << " thread " << t << " value " << v << ": shuffled " << shuffled[i]
                      << ", staged " << staged[i] << ", halving tree " << expected;
      }
    }
  }
}

TYPED_TEST(SampleKernelsBlockReduceForms, ShuffledAndStagedGiveTheHalvingTreeBitwise) {
  using gramgan::BlockReduceOp;
  for (BlockReduceOp op : {BlockReduceOp::sum, BlockReduceOp::min, BlockReduceOp::max}) {
    check_forms<TypeParam, float>(op);
    check_forms<TypeParam, double>(op);
  }
}

// The sums really depend on the order (else the check above could not tell the forms from a different tree).
TEST(SampleKernelsBlockReduceForms, TheTestValuesSumDifferentlyInAnotherOrder) {
  const auto x = order_sensitive_values<float>(1);
  const int values = gramgan::kBlockReduceValues;
  float sequential = 0.0f;
  for (int t = 0; t < 256; ++t) sequential += x[std::size_t(t) * values];
  const float tree = halving_tree(x, 0, 0, [](float a, float b) { return a + b; });
  EXPECT_FALSE(same_bits(sequential, tree)) << "both orders gave " << tree;
}

// ---- histogram -----------------------------------------------------------------------------------------------

template <class Backend>
class SampleKernelsHistogram : public SampleKernelsTest<Backend> {};
TYPED_TEST_SUITE(SampleKernelsHistogram, Backends, BackendNames);

template <class Backend, class T>
void check_histogram(const std::vector<T>& x, int bins) {
  SCOPED_TRACE("histogram of " + std::to_string(x.size()) + " values into " + std::to_string(bins) + " bins");
  std::vector<unsigned> ref(bins, 0);
  for (T v : x) {
    const long long value = v;
    if (value >= 0 && value < bins) ++ref[value];
  }
  Buffer<T, Backend> x_dev(x);
  // Garbage first: the launcher must overwrite counts, not add to them.
  Buffer<unsigned, Backend> counts(std::vector<unsigned>(bins, 0xdeadbeefu));
  Backend::histogram(static_cast<const T*>(x_dev.get()), x.size(), bins, counts.get());
  EXPECT_EQ(counts.to_host(), ref);
}

template <class T>
std::vector<T> uniform_ints(std::size_t count, int low, int high, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(low, high);
  std::vector<T> v(count);
  for (auto& x : v) x = T(dist(rng));
  return v;
}

TYPED_TEST(SampleKernelsHistogram, BytesCountExactly) {
  check_histogram<TypeParam>(uniform_ints<std::uint8_t>(100003, 0, 255, 4), 256);
  check_histogram<TypeParam>(uniform_ints<std::uint8_t>(100003, 0, 255, 5), 7);  // most values fall outside
  check_histogram<TypeParam>(std::vector<std::uint8_t>(70001, 0), 1);            // every thread on one bin
  check_histogram<TypeParam>(std::vector<std::uint8_t>{}, 256);
}

TYPED_TEST(SampleKernelsHistogram, IntsCountExactlyAndSkipOutOfRange) {
  check_histogram<TypeParam>(uniform_ints<int>(100003, -50, 1049, 6), 1000);
  check_histogram<TypeParam>(uniform_ints<int>(33, -2, 40, 7), 37);
  const int max_bins = gramgan::sim::samples::kHistogramMaxBins;
  check_histogram<TypeParam>(uniform_ints<int>(200000, 0, max_bins, 8), max_bins);
}

TYPED_TEST(SampleKernelsHistogram, RejectsBinCountsOutOfRange) {
  Buffer<int, TypeParam> x(1);
  Buffer<unsigned, TypeParam> counts(gramgan::sim::samples::kHistogramMaxBins + 1);
  EXPECT_THROW(TypeParam::histogram(static_cast<const int*>(x.get()), 1, 0, counts.get()), std::invalid_argument);
  EXPECT_THROW(TypeParam::histogram(static_cast<const int*>(x.get()), 1, gramgan::sim::samples::kHistogramMaxBins + 1,
                                    counts.get()),
               std::invalid_argument);
}

// ---- scale ---------------------------------------------------------------------------------------------------

template <class Backend>
class SampleKernelsScale : public SampleKernelsTest<Backend> {};
TYPED_TEST_SUITE(SampleKernelsScale, Backends, BackendNames);

// Tolerance: a * x + b in float, fused or not, is within 2u (|a x| + |b|) of the exact value (u = 2^-24).
TYPED_TEST(SampleKernelsScale, MatchesReference) {
  const float a = 1.5f, b = -0.25f;
  for (std::size_t count :
       {std::size_t(0), std::size_t(1), std::size_t(255), std::size_t(256), std::size_t(257), std::size_t(100000)}) {
    SCOPED_TRACE("scale length " + std::to_string(count));
    const auto x = random_vector<float>(count, 9);
    Buffer<float, TypeParam> x_dev(x), y_dev(count);
    TypeParam::scale(static_cast<const float*>(x_dev.get()), y_dev.get(), count, a, b);
    const auto y = y_dev.to_host();
    for (std::size_t i = 0; i < count; ++i) {
      const double ref = double(a) * x[i] + b;
      const double tol = 2 * std::ldexp(1.0, -24) * (std::abs(double(a) * x[i]) + std::abs(double(b)));
      ASSERT_LE(std::abs(y[i] - ref), tol) << "y[" << i << "] = " << y[i] << ", reference " << ref;
    }
  }
}

// ---- the simulator's thread order ----------------------------------------------------------------------------

// Runs `body` with the block's threads started forward, then reversed, restoring the order the process had.
template <class Body>
void in_both_thread_orders(Body body) {
  const cudasim::ThreadOrder saved = cudasim::thread_order();
  try {
    for (auto order : {cudasim::ThreadOrder::forward, cudasim::ThreadOrder::reverse}) {
      cudasim::set_thread_order(order);
      body();
    }
  } catch (...) {
    cudasim::set_thread_order(saved);
    throw;
  }
  cudasim::set_thread_order(saved);
}

// A missing barrier or an order-dependent summation shows as different bits between the two orders.
TEST(SampleKernelsSimThreadOrder, ReduceAndGemmGiveTheSameBitsInBothOrders) {
  const std::size_t count = 100003;
  Buffer<double, SimBackend> x(random_vector<double>(count, 10));
  std::vector<double> sums;
  in_both_thread_orders([&] { sums.push_back(device_sum(x, count)); });
  ASSERT_EQ(sums.size(), 2u);
  EXPECT_EQ(std::memcmp(&sums[0], &sums[1], sizeof(double)), 0) << sums[0] << " vs " << sums[1];

  const int m = 129, n = 70, k = 200;
  Buffer<float, SimBackend> a(random_vector<float>(std::size_t(m) * k, 11));
  Buffer<float, SimBackend> b(random_vector<float>(std::size_t(k) * n, 12));
  std::vector<std::vector<float>> products;
  in_both_thread_orders([&] {
    Buffer<float, SimBackend> c(std::size_t(m) * n);
    SimBackend::gemm(static_cast<const float*>(a.get()), static_cast<const float*>(b.get()), c.get(), m, n, k);
    products.push_back(c.to_host());
  });
  ASSERT_EQ(products.size(), 2u);
  EXPECT_EQ(std::memcmp(products[0].data(), products[1].data(), sizeof(float) * products[0].size()), 0);
}

}  // namespace
