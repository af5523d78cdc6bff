// 2x2 pooling (kernels/pool.cu) and nearest x2 upsampling (kernels/resample.cu) against naive double-precision
// references, central finite differences, odd sizes, ties, NaN, bitwise determinism and argument checks; on the
// GPU, against the cpu backend.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include "tests/op_test_support.h"

namespace {

using gramgan::Pool;
using gramgan::test::Buffer;
using gramgan::test::expect_close;
using gramgan::test::numeric_gradient;
using gramgan::test::random_vector;
using gramgan::test::same_bytes;
using gramgan::test::to_double;

struct PoolRef {
  std::vector<double> y, dx;
};

// Window (oy, ox) of plane p is rows 2oy..2oy+1, columns 2ox..2ox+1; the max's gradient goes to the first
// strict maximum in row-major order.
PoolRef reference_pool(Pool pool, int planes, int h, int w, const std::vector<double>& x,
                       const std::vector<double>& dy) {
  const int oh = h / 2, ow = w / 2;
  PoolRef r{std::vector<double>(std::size_t(planes) * oh * ow), std::vector<double>(std::size_t(planes) * h * w, 0)};
  for (int p = 0; p < planes; ++p)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        const std::size_t o = (std::size_t(p) * oh + oy) * ow + ox;
        std::size_t best = 0;
        double sum = 0, best_value = 0;
        bool first = true;
        for (int dy_ = 0; dy_ < 2; ++dy_)
          for (int dx_ = 0; dx_ < 2; ++dx_) {
            const std::size_t i = (std::size_t(p) * h + 2 * oy + dy_) * w + 2 * ox + dx_;
            sum += x[i];
            if (first || x[i] > best_value) {
              best = i;
              best_value = x[i];
              first = false;
            }
          }
        if (pool == Pool::max) {
          r.y[o] = best_value;
          r.dx[best] = dy[o];
        } else {
          r.y[o] = sum / 4;
          for (int dy_ = 0; dy_ < 2; ++dy_)
            for (int dx_ = 0; dx_ < 2; ++dx_) r.dx[(std::size_t(p) * h + 2 * oy + dy_) * w + 2 * ox + dx_] = dy[o] / 4;
        }
      }
  return r;
}

template <class T>
struct PoolOut {
  std::vector<T> y, dx;
};

// dx starts as NaN so an element the kernel forgets to write shows.
template <class T, class Memory = gramgan::test::SimMemory>
PoolOut<T> run_pool(Pool pool, int planes, int h, int w, const std::vector<T>& x, const std::vector<T>& dy) {
  Buffer<T, Memory> x_d(x), dy_d(dy), y_d(dy.size()),
      dx_d(std::vector<T>(x.size(), std::numeric_limits<T>::quiet_NaN()));
#if GRAMGAN_HAVE_CUDA
  if constexpr (std::is_same_v<Memory, gramgan::test::CudaMemory>) {
    gramgan::cuda::pool2x2_forward(pool, planes, h, w, x_d.get(), y_d.get(), nullptr);
    gramgan::cuda::pool2x2_backward(pool, planes, h, w, x_d.get(), dy_d.get(), dx_d.get(), nullptr);
    GG_CUDA_CHECK(cudaDeviceSynchronize());
  } else
#endif
  {
    gramgan::sim::pool2x2_forward(pool, planes, h, w, x_d.get(), y_d.get(), nullptr);
    gramgan::sim::pool2x2_backward(pool, planes, h, w, x_d.get(), dy_d.get(), dx_d.get(), nullptr);
  }
  return {y_d.to_host(), dx_d.to_host()};
}

const char* pool_name(Pool pool) { return pool == Pool::max ? "max" : "average"; }

template <class T>
void check_pool(int planes, int h, int w, double rtol) {
  for (Pool pool : {Pool::max, Pool::average}) {
    SCOPED_TRACE(std::string(pool_name(pool)) + " planes=" + std::to_string(planes) + " h=" + std::to_string(h) +
                 " w=" + std::to_string(w));
    const auto x = random_vector<T>(std::size_t(planes) * h * w, 1);
    const auto dy = random_vector<T>(std::size_t(planes) * (h / 2) * (w / 2), 2);
    const auto got = run_pool(pool, planes, h, w, x, dy);
    const auto ref = reference_pool(pool, planes, h, w, to_double(x), to_double(dy));
    // Max and the gradients are exact; the average rounds three additions and a power-of-two scaling.
    expect_close(got.y, ref.y, rtol, rtol, "y");
    expect_close(got.dx, ref.dx, 0.0, 0.0, "dx");
  }
}

TEST(Pool, MatchesReferenceDouble) {
  check_pool<double>(6, 7, 9, 1e-15);    // odd: last row and column dropped
  check_pool<double>(3, 8, 10, 1e-15);   // even
  check_pool<double>(2, 33, 35, 1e-15);  // more than one block of outputs
  check_pool<double>(1, 2, 3, 1e-15);    // one window
}

TEST(Pool, MatchesReferenceFloat) {
  check_pool<float>(6, 7, 9, 1e-6);
  check_pool<float>(5, 31, 64, 1e-6);
}

// Ties go to the first element of the window; a NaN wins the window so it propagates.
TEST(Pool, MaxTiesAndNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // planes=1, 2x6: windows {1,1,1,1}, {0,2,2,0}, {3,nan,3,1}.
  const std::vector<float> x = {1, 1, 0, 2, 3, nan, 1, 1, 2, 0, 3, 1};
  const std::vector<float> dy = {10, 20, 30};
  const auto got = run_pool(Pool::max, 1, 2, 6, x, dy);
  EXPECT_EQ(got.y[0], 1.0f);
  EXPECT_EQ(got.y[1], 2.0f);
  EXPECT_TRUE(std::isnan(got.y[2]));
  const std::vector<float> dx = {10, 0, 0, 20, 0, 30, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(got.dx, dx);
}

// L = sum(w * y) in double; inputs are a shuffled ladder with steps of 1e-2, so no window has close values and
// x +- h (h = 1e-6) never changes which element is the maximum.
TEST(Pool, BackwardMatchesFiniteDifferences) {
  const int planes = 2, h = 5, w = 7;
  const std::size_t count = std::size_t(planes) * h * w, out = std::size_t(planes) * (h / 2) * (w / 2);
  const double step = 1e-6;
  std::vector<double> x(count);
  std::iota(x.begin(), x.end(), 0.0);
  std::shuffle(x.begin(), x.end(), std::mt19937(3));
  for (auto& v : x) v = (v - count / 2.0) * 1e-2;
  const auto wts = random_vector<double>(out, 4);
  for (Pool pool : {Pool::max, Pool::average}) {
    SCOPED_TRACE(pool_name(pool));
    const auto grads = run_pool(pool, planes, h, w, x, wts);
    Buffer<double> x_d(x), y_d(out);
    const auto loss = [&](const std::vector<double>& v) {
      x_d.set(v);
      gramgan::sim::pool2x2_forward(pool, planes, h, w, x_d.get(), y_d.get(), nullptr);
      const auto y = y_d.to_host();
      double sum = 0;
      for (std::size_t i = 0; i < out; ++i) sum += wts[i] * y[i];
      return sum;
    };
    expect_close(grads.dx, numeric_gradient(loss, x, step), 1e-8, 1e-7, "dx");
  }
}

TEST(Pool, BitwiseDeterministic) {
  const auto x = random_vector<float>(3 * 37 * 41, 5), dy = random_vector<float>(3 * 18 * 20, 6);
  for (Pool pool : {Pool::max, Pool::average}) {
    const auto a = run_pool(pool, 3, 37, 41, x, dy), b = run_pool(pool, 3, 37, 41, x, dy);
    EXPECT_TRUE(same_bytes(a.y, b.y)) << pool_name(pool);
    EXPECT_TRUE(same_bytes(a.dx, b.dx)) << pool_name(pool);
  }
}

TEST(Pool, RejectsInvalidArguments) {
  Buffer<float> x(16), y(4), dx(16);
  const float* cx = x.get();
  EXPECT_NO_THROW(gramgan::sim::pool2x2_forward(Pool::max, 1, 4, 4, cx, y.get(), nullptr));
  EXPECT_THROW(gramgan::sim::pool2x2_forward(Pool::max, 0, 4, 4, cx, y.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(gramgan::sim::pool2x2_forward(Pool::max, 1, 1, 4, cx, y.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(gramgan::sim::pool2x2_forward(Pool::average, 1, 4, 1, cx, y.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(gramgan::sim::pool2x2_forward(static_cast<Pool>(7), 1, 4, 4, cx, y.get(), nullptr),
               std::invalid_argument);
  EXPECT_THROW(gramgan::sim::pool2x2_forward(Pool::max, 1, 4, 4, static_cast<const float*>(nullptr), y.get(), nullptr),
               std::invalid_argument);
  EXPECT_THROW(gramgan::sim::pool2x2_backward(Pool::max, 1, 4, 4, static_cast<const float*>(nullptr), y.get(), dx.get(),
                                              nullptr),
               std::invalid_argument);
  // Average pooling does not read x.
  EXPECT_NO_THROW(gramgan::sim::pool2x2_backward(Pool::average, 1, 4, 4, static_cast<const float*>(nullptr), y.get(),
                                                 dx.get(), nullptr));
  EXPECT_THROW(
      gramgan::sim::pool2x2_backward(Pool::average, 1, 4, 4, cx, y.get(), static_cast<float*>(nullptr), nullptr),
      std::invalid_argument);
}

// ---- upsample2x ----

template <class T>
void check_upsample(int planes, int h, int w) {
  SCOPED_TRACE("planes=" + std::to_string(planes) + " h=" + std::to_string(h) + " w=" + std::to_string(w));
  const std::size_t count = std::size_t(planes) * h * w, out = count * 4;
  const auto x = random_vector<T>(count, 7), dy = random_vector<T>(out, 8);
  Buffer<T> x_d(x), y_d(out), dy_d(dy), dx_d(std::vector<T>(count, std::numeric_limits<T>::quiet_NaN()));
  gramgan::sim::upsample2x_forward(planes, h, w, x_d.get(), y_d.get(), nullptr);
  gramgan::sim::upsample2x_backward(planes, h, w, dy_d.get(), dx_d.get(), nullptr);
  std::vector<double> y_ref(out), dx_ref(count, 0.0);
  for (int p = 0; p < planes; ++p)
    for (int i = 0; i < 2 * h; ++i)
      for (int j = 0; j < 2 * w; ++j) {
        const std::size_t o = (std::size_t(p) * 2 * h + i) * 2 * w + j, s = (std::size_t(p) * h + i / 2) * w + j / 2;
        y_ref[o] = x[s];
        dx_ref[s] += dy[o];
      }
  expect_close(y_d.to_host(), y_ref, 0.0, 0.0, "y");
  // Four terms of O(1): three roundings.
  expect_close(dx_d.to_host(), dx_ref, 4 * std::numeric_limits<T>::epsilon(), 0.0, "dx");
}

TEST(Upsample, MatchesReference) {
  check_upsample<double>(3, 7, 9);
  check_upsample<double>(1, 1, 1);
  check_upsample<float>(5, 13, 17);
  check_upsample<float>(2, 40, 33);
}

TEST(Upsample, BackwardMatchesFiniteDifferences) {
  const int planes = 2, h = 3, w = 4;
  const std::size_t count = std::size_t(planes) * h * w, out = 4 * count;
  const double step = 1e-6;
  const auto x = random_vector<double>(count, 9);
  const auto wts = random_vector<double>(out, 10);
  Buffer<double> x_d(x), y_d(out), w_d(wts), dx_d(count);
  gramgan::sim::upsample2x_backward(planes, h, w, w_d.get(), dx_d.get(), nullptr);
  const auto loss = [&](const std::vector<double>& v) {
    x_d.set(v);
    gramgan::sim::upsample2x_forward(planes, h, w, x_d.get(), y_d.get(), nullptr);
    const auto y = y_d.to_host();
    double sum = 0;
    for (std::size_t i = 0; i < out; ++i) sum += wts[i] * y[i];
    return sum;
  };
  expect_close(dx_d.to_host(), numeric_gradient(loss, x, step), 1e-8, 1e-7, "dx");
}

TEST(Upsample, BitwiseDeterministic) {
  const auto dy = random_vector<float>(4 * 3 * 21 * 19, 11);
  const auto run = [&] {
    Buffer<float> dy_d(dy), dx_d(3 * 21 * 19);
    gramgan::sim::upsample2x_backward(3, 21, 19, dy_d.get(), dx_d.get(), nullptr);
    return dx_d.to_host();
  };
  EXPECT_TRUE(same_bytes(run(), run()));
}

TEST(Upsample, RejectsInvalidArguments) {
  Buffer<float> x(4), y(16);
  const float* cx = x.get();
  EXPECT_THROW(gramgan::sim::upsample2x_forward(0, 2, 2, cx, y.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(gramgan::sim::upsample2x_forward(1, 2, -2, cx, y.get(), nullptr), std::invalid_argument);
  EXPECT_THROW(gramgan::sim::upsample2x_forward(1, 2, 2, cx, static_cast<float*>(nullptr), nullptr),
               std::invalid_argument);
  EXPECT_THROW(gramgan::sim::upsample2x_backward(1, 2, 2, static_cast<const float*>(nullptr), y.get(), nullptr),
               std::invalid_argument);
}

#if GRAMGAN_HAVE_CUDA
// Max pooling, upsampling and the power-of-two average are exact on both backends; the average's sum may round
// differently only if nvcc reassociated it, which it does not, and no product feeds an addition (nothing to
// contract into an FMA), so the comparison is exact.
TEST(PoolGpu, MatchesCpuBackend) {
  if (!gramgan::test::cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  const int planes = 5, h = 37, w = 41;
  const auto x = random_vector<float>(std::size_t(planes) * h * w, 12);
  const auto dy = random_vector<float>(std::size_t(planes) * (h / 2) * (w / 2), 13);
  for (Pool pool : {Pool::max, Pool::average}) {
    const auto cpu = run_pool(pool, planes, h, w, x, dy);
    const auto gpu = run_pool<float, gramgan::test::CudaMemory>(pool, planes, h, w, x, dy);
    EXPECT_TRUE(same_bytes(cpu.y, gpu.y)) << pool_name(pool);
    EXPECT_TRUE(same_bytes(cpu.dx, gpu.dx)) << pool_name(pool);
  }
  const auto up = random_vector<float>(std::size_t(planes) * 4 * h * w, 14);
  Buffer<float> up_s(up), dx_s(std::size_t(planes) * h * w);
  Buffer<float, gramgan::test::CudaMemory> up_c(up), dx_c(std::size_t(planes) * h * w);
  gramgan::sim::upsample2x_backward(planes, h, w, up_s.get(), dx_s.get(), nullptr);
  gramgan::cuda::upsample2x_backward(planes, h, w, up_c.get(), dx_c.get(), nullptr);
  EXPECT_TRUE(same_bytes(dx_s.to_host(), dx_c.to_host()));
}
#endif

}  // namespace
