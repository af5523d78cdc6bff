// conv2d (kernels/conv2d.cu) against naive double-precision loops: forward, the exact adjoint for the data
// gradient, the weight and bias gradients; inner-product (adjoint) identities in double; bitwise determinism;
// the tf32 passes within a derived TF32 bound of double and bit for bit against the tensor-core model;
// argument checks; and, with a GPU, the cuda backend against the cpu one. Shapes miss the tile multiples (16, 64,
// 128 along channels and pixels) and cover every kernel size, stride and padding the models use.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cudasim/mma_model.h"
#include "kernels/conv2d_nvcc_tiles.h"
#include "tests/op_test_support.h"
#include "tests/tf32_test_support.h"

namespace {

using gramgan::Conv2dShape;
using gramgan::Padding;
using gramgan::test::Buffer;
using gramgan::test::expect_tf32_close;
using gramgan::test::kTf32Product;
using gramgan::test::kTf32Unit;
using gramgan::test::mma_steps;
using gramgan::test::model_gemm;
using gramgan::test::random_vector;
using gramgan::test::rounded;
using gramgan::test::same_bytes;
using gramgan::test::to_double;

// ---- backends --------------------------------------------------------------------------------------------------

// Each backend: its device memory (op_test_support.h), its weight-gradient workspace size and its three launchers,
// under one set of names.
struct SimBackend : gramgan::test::SimMemory {
  static std::size_t workspace(const Conv2dShape& s) { return gramgan::sim::conv2d_backward_weight_workspace(s); }
  template <class T>
  static void forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y) {
    gramgan::sim::conv2d_forward(s, x, w, b, y, nullptr);
  }
  template <class T>
  static void backward_data(const Conv2dShape& s, const T* dy, const T* w, T* dx) {
    gramgan::sim::conv2d_backward_data(s, dy, w, dx, nullptr);
  }
  template <class T>
  static void backward_weight(const Conv2dShape& s, const T* x, const T* dy, T* dw, T* db, T* ws) {
    gramgan::sim::conv2d_backward_weight(s, x, dy, dw, db, ws, nullptr);
  }
};

// The simulator running the tile shapes of the CUDA build (kernels/conv2d_nvcc_tiles.h), float only.
struct SimNvccTilesBackend : SimBackend {
  static void forward(const Conv2dShape& s, const float* x, const float* w, const float* b, float* y) {
    gramgan::sim::nvcc_tiles::conv2d_forward(s, x, w, b, y, nullptr);
  }
  static void backward_data(const Conv2dShape& s, const float* dy, const float* w, float* dx) {
    gramgan::sim::nvcc_tiles::conv2d_backward_data(s, dy, w, dx, nullptr);
  }
  static void backward_weight(const Conv2dShape& s, const float* x, const float* dy, float* dw, float* db, float* ws) {
    gramgan::sim::nvcc_tiles::conv2d_backward_weight(s, x, dy, dw, db, ws, nullptr);
  }
};

#if GRAMGAN_HAVE_CUDA
struct CudaBackend : gramgan::test::CudaMemory {
  static std::size_t workspace(const Conv2dShape& s) { return gramgan::cuda::conv2d_backward_weight_workspace(s); }
  template <class T>
  static void forward(const Conv2dShape& s, const T* x, const T* w, const T* b, T* y) {
    gramgan::cuda::conv2d_forward(s, x, w, b, y, nullptr);
  }
  template <class T>
  static void backward_data(const Conv2dShape& s, const T* dy, const T* w, T* dx) {
    gramgan::cuda::conv2d_backward_data(s, dy, w, dx, nullptr);
  }
  template <class T>
  static void backward_weight(const Conv2dShape& s, const T* x, const T* dy, T* dw, T* db, T* ws) {
    gramgan::cuda::conv2d_backward_weight(s, x, dy, dw, db, ws, nullptr);
  }
};
#endif

// ---- sizes and data ------------------------------------------------------------------------------------------

struct Sizes {
  std::size_t x, w, y;
  int oh, ow;
};
Sizes sizes_of(const Conv2dShape& s) {
  const int oh = s.out_height(), ow = s.out_width();
  return {std::size_t(s.batch) * s.in_channels * s.height * s.width,
          std::size_t(s.out_channels) * s.in_channels * s.kernel_h * s.kernel_w,
          std::size_t(s.batch) * s.out_channels * oh * ow, oh, ow};
}

std::vector<double> absolute(std::vector<double> v) {
  for (auto& x : v) x = std::abs(x);
  return v;
}

std::string describe(const Conv2dShape& s) {
  return "N=" + std::to_string(s.batch) + " Cin=" + std::to_string(s.in_channels) + " " + std::to_string(s.height) +
         "x" + std::to_string(s.width) + " Cout=" + std::to_string(s.out_channels) +
         " k=" + std::to_string(s.kernel_h) + "x" + std::to_string(s.kernel_w) + " s=" + std::to_string(s.stride) +
         " pad=" + std::to_string(s.pad) + (s.padding == Padding::reflect ? " reflect" : " zeros");
}

// ---- the naive references (double) ---------------------------------------------------------------------------

// The input index padded coordinate i reads, -1 for a zero (PyTorch's ReflectionPad2d / zero padding).
int source(int i, int size, Padding padding) {
  if (padding == Padding::reflect) return i < 0 ? -i : (i >= size ? 2 * (size - 1) - i : i);
  return i >= 0 && i < size ? i : -1;
}

// Visits every (n, co, oh, ow, ci, kh, kw) whose tap reads a pixel, with the flat indices of y, weight, x.
template <class F>
void for_each_tap(const Conv2dShape& s, F f) {
  const int oh_count = s.out_height(), ow_count = s.out_width();
  for (int n = 0; n < s.batch; ++n)
    for (int co = 0; co < s.out_channels; ++co)
      for (int oh = 0; oh < oh_count; ++oh)
        for (int ow = 0; ow < ow_count; ++ow)
          for (int ci = 0; ci < s.in_channels; ++ci)
            for (int kh = 0; kh < s.kernel_h; ++kh)
              for (int kw = 0; kw < s.kernel_w; ++kw) {
                const int ih = source(oh * s.stride - s.pad + kh, s.height, s.padding);
                const int iw = source(ow * s.stride - s.pad + kw, s.width, s.padding);
                if (ih < 0 || iw < 0) continue;
                const std::size_t yi = ((std::size_t(n) * s.out_channels + co) * oh_count + oh) * ow_count + ow;
                const std::size_t wi = ((std::size_t(co) * s.in_channels + ci) * s.kernel_h + kh) * s.kernel_w + kw;
                const std::size_t xi = ((std::size_t(n) * s.in_channels + ci) * s.height + ih) * s.width + iw;
                f(yi, wi, xi);
              }
}

std::vector<double> reference_forward(const Conv2dShape& s, const std::vector<double>& x, const std::vector<double>& w,
                                      const std::vector<double>* b) {
  const Sizes z = sizes_of(s);
  std::vector<double> y(z.y, 0.0);
  if (b != nullptr)
    for (std::size_t i = 0; i < z.y; ++i) y[i] = (*b)[(i / (std::size_t(z.oh) * z.ow)) % s.out_channels];
  for_each_tap(s, [&](std::size_t yi, std::size_t wi, std::size_t xi) { y[yi] += w[wi] * x[xi]; });
  return y;
}

// The adjoint of x -> conv(x): every tap's read sends dy w back to the pixel it read.
std::vector<double> reference_backward_data(const Conv2dShape& s, const std::vector<double>& dy,
                                            const std::vector<double>& w) {
  std::vector<double> dx(sizes_of(s).x, 0.0);
  for_each_tap(s, [&](std::size_t yi, std::size_t wi, std::size_t xi) { dx[xi] += w[wi] * dy[yi]; });
  return dx;
}

std::vector<double> reference_backward_weight(const Conv2dShape& s, const std::vector<double>& x,
                                              const std::vector<double>& dy) {
  std::vector<double> dw(sizes_of(s).w, 0.0);
  for_each_tap(s, [&](std::size_t yi, std::size_t wi, std::size_t xi) { dw[wi] += dy[yi] * x[xi]; });
  return dw;
}

std::vector<double> reference_backward_bias(const Conv2dShape& s, const std::vector<double>& dy) {
  const Sizes z = sizes_of(s);
  std::vector<double> db(s.out_channels, 0.0);
  for (std::size_t i = 0; i < z.y; ++i) db[(i / (std::size_t(z.oh) * z.ow)) % s.out_channels] += dy[i];
  return db;
}

// |got - ref| <= terms u magnitude, magnitude = the same sum over |terms| (the reference run on absolute values).
// A sum of `terms` rounded products in any order, with or without FMA, is within gamma_terms magnitude of the
// exact value (Higham, Accuracy and Stability of Numerical Algorithms, 3.1); gamma_n <= 1.01 n u here.
template <class T>
void expect_close(const std::vector<T>& got, const std::vector<double>& ref, const std::vector<double>& magnitude,
                  double terms, const char* what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  const double u = std::ldexp(1.0, -std::numeric_limits<T>::digits);
  int failures = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double tolerance = 1.01 * terms * u * magnitude[i];
    if (!(std::abs(double(got[i]) - ref[i]) <= tolerance) && ++failures <= 5)
      ADD_FAILURE() << what << "[" << i << "] = " << got[i] << ", reference " << ref[i] << ", tolerance " << tolerance;
  }
  EXPECT_EQ(failures, 0) << what;
}

// ---- cases -----------------------------------------------------------------------------------------------------

Conv2dShape make(int n, int cin, int h, int w, int cout, int k, int stride, int pad, Padding padding, int kw = 0) {
  Conv2dShape s;
  s.batch = n, s.in_channels = cin, s.height = h, s.width = w, s.out_channels = cout;
  s.kernel_h = k, s.kernel_w = kw > 0 ? kw : k, s.stride = stride, s.pad = pad, s.padding = padding;
  return s;
}

const Padding kZeros = Padding::zeros, kReflect = Padding::reflect;

std::vector<Conv2dShape> cases() {
  return {
      make(2, 3, 11, 13, 32, 3, 1, 1, kReflect),   // 3 -> 32, VGG/generator 3x3
      make(2, 32, 9, 7, 3, 3, 1, 1, kZeros),       // 32 -> 3
      make(1, 3, 12, 11, 8, 9, 1, 4, kReflect),    // c9s1 generator head
      make(2, 8, 10, 9, 3, 9, 1, 4, kReflect),     // c9s1 generator tail
      make(2, 5, 10, 9, 7, 4, 2, 1, kZeros),       // PatchGAN 4x4 stride 2
      make(1, 5, 9, 10, 7, 4, 1, 1, kZeros),       // PatchGAN 4x4 stride 1
      make(2, 5, 11, 10, 7, 3, 2, 1, kReflect),    // generator downsampling
      make(1, 64, 6, 5, 64, 3, 1, 1, kZeros),      // 64 -> 64, small spatial
      make(2, 7, 8, 9, 5, 1, 1, 0, kZeros),        // 1x1
      make(1, 4, 7, 8, 6, 2, 2, 0, kZeros),        // 2x2 stride 2
      make(1, 3, 9, 8, 5, 5, 2, 2, kReflect),      // 5x5 stride 2 reflect
      make(1, 6, 10, 11, 4, 7, 1, 3, kReflect),    // 7x7
      make(1, 2, 3, 4, 3, 5, 1, 2, kReflect),      // both mirrors hit the middle row: 3 reads of one pixel
      make(1, 3, 5, 6, 130, 3, 1, 1, kZeros),      // Cout > 128: two large row tiles
      make(1, 130, 5, 4, 2, 3, 2, 1, kReflect),    // Cin > 128 (data gradient), stride 2
      make(1, 72, 12, 11, 70, 3, 1, 1, kReflect),  // large tiles in both GEMM dimensions, partial at both ends
      make(2, 20, 15, 11, 24, 3, 2, 1, kReflect),  // medium tiles; data gradient over two 256-pixel tiles
      make(2, 3, 24, 20, 8, 3, 1, 1, kReflect),    // enough pixels for several weight-gradient splits
      make(1, 4, 6, 9, 5, 3, 2, 2, kZeros, 5),     // 3x5 kernel, pad 2 beyond the kernel's reach on rows
      // Stride-2 data gradients by sub-pixel phase: a 1x1 kernel, whose odd phases no tap reads (their dx is 0),
      // and a single row, whose odd-row phases have no pixels.
      make(2, 5, 7, 6, 4, 1, 2, 0, kZeros),
      make(1, 3, 1, 9, 4, 3, 2, 1, kZeros),
      // The direct forward (nvcc: at most 4 output channels, 9x9 or 4x4 stride 1): row segments inside the image and
      // mirrored at both edges, a partial last group of 8 pixels, one and four output channels.
      make(1, 4, 7, 37, 3, 9, 1, 4, kReflect),
      // The simulator's direct forward (16 pixels by 16 channels a thread): 3x3 row segments read in place and
      // mirrored, a partial channel group (20 = 16 + 4) and a partial pixel group (40 = 16 + 16 + 8).
      make(2, 5, 6, 40, 20, 3, 1, 1, kReflect),
      make(2, 6, 6, 21, 1, 4, 1, 1, kZeros),
      make(1, 3, 5, 16, 4, 4, 1, 1, kZeros),
      // The direct data gradient (stride 1; nvcc: 3x3 with at most 4 input channels): 9x9 on 5x6, where a pixel is
      // read as itself and both its mirrors on rows and columns; 3x3 with a partial channel group (20) and 37
      // columns (segments read in place, mirrored columns at both edges); 4 channels over several 8-pixel groups.
      make(1, 3, 5, 6, 2, 9, 1, 4, kReflect),
      make(1, 20, 5, 37, 6, 3, 1, 1, kReflect),
      make(2, 4, 6, 37, 5, 3, 1, 1, kZeros),
      // The simulator's direct weight gradient (9x9, at most 4 output channels) over 4 splits of 416 pixels.
      make(1, 2, 40, 40, 3, 9, 1, 4, kReflect),
  };
}

// ---- running the three passes -----------------------------------------------------------------------------------

template <class T>
struct Inputs {
  std::vector<T> x, w, b, dy;
};

// x, weight, bias and dy from seeds seed, seed + 1, seed + 2, seed + 3.
template <class T>
Inputs<T> inputs_for(const Conv2dShape& s, std::uint32_t seed) {
  const Sizes z = sizes_of(s);
  return {random_vector<T>(z.x, seed), random_vector<T>(z.w, seed + 1), random_vector<T>(s.out_channels, seed + 2),
          random_vector<T>(z.y, seed + 3)};
}

template <class T>
struct Outputs {
  std::vector<T> y, dx, dweight, dbias;  // dbias empty when run without bias
};

// forward, backward_data and backward_weight on one backend; without bias, neither bias nor dbias is passed.
template <class Backend, class T>
Outputs<T> run_passes(const Conv2dShape& s, const Inputs<T>& in, bool with_bias = true) {
  const Sizes z = sizes_of(s);
  Buffer<T, Backend> x(in.x), w(in.w), b(in.b), dy(in.dy), y(z.y), dx(z.x), dw(z.w), db(s.out_channels);
  Buffer<T, Backend> ws(Backend::workspace(s));
  Backend::forward(s, x.get(), w.get(), with_bias ? b.get() : nullptr, y.get());
  Backend::backward_data(s, dy.get(), w.get(), dx.get());
  Backend::backward_weight(s, x.get(), dy.get(), dw.get(), with_bias ? db.get() : nullptr, ws.get());
  return {y.to_host(), dx.to_host(), dw.to_host(), with_bias ? db.to_host() : std::vector<T>{}};
}

// ---- forward / backward against the references ---------------------------------------------------------------

template <class Backend, class T>
void check_case(const Conv2dShape& s, bool with_bias, std::uint32_t seed) {
  SCOPED_TRACE(describe(s) + (with_bias ? " bias" : "") + (sizeof(T) == 4 ? " float" : " double"));
  const Sizes z = sizes_of(s);
  const Inputs<T> in = inputs_for<T>(s, seed);
  const Outputs<T> out = run_passes<Backend>(s, in, with_bias);

  const auto xd = to_double(in.x), wd = to_double(in.w), bd = to_double(in.b), dyd = to_double(in.dy);
  const auto xa = absolute(xd), wa = absolute(wd), ba = absolute(bd), dya = absolute(dyd);
  const double taps = double(s.kernel_h) * s.kernel_w;
  expect_close(out.y, reference_forward(s, xd, wd, with_bias ? &bd : nullptr),
               reference_forward(s, xa, wa, with_bias ? &ba : nullptr), s.in_channels * taps + 2, "y");
  // A pixel read through up to 3 x 3 mirrored positions is summed first, then multiplied: depth 9 + the GEMM's.
  expect_close(out.dx, reference_backward_data(s, dyd, wd), reference_backward_data(s, dya, wa),
               s.out_channels * taps + 12, "dx");
  // Split-K: a chain over each split's pixels, then the splits (at most 64) in order.
  const double pixels = double(s.batch) * z.oh * z.ow;
  expect_close(out.dweight, reference_backward_weight(s, xd, dyd), reference_backward_weight(s, xa, dya), pixels + 66,
               "dweight");
  if (with_bias)
    expect_close(out.dbias, reference_backward_bias(s, dyd), reference_backward_bias(s, dya), pixels + 66, "dbias");
}

// Bias on every other case, alternating between the two types, so each case runs with and without one.
TEST(Conv2dSim, DoubleMatchesReference) {
  const auto all = cases();
  for (std::size_t i = 0; i < all.size(); ++i) check_case<SimBackend, double>(all[i], i % 2 == 0, 100 + 10 * i);
}

TEST(Conv2dSim, FloatMatchesReference) {
  const auto all = cases();
  for (std::size_t i = 0; i < all.size(); ++i) check_case<SimBackend, float>(all[i], i % 2 == 1, 200 + 10 * i);
}

// dweight must be written (=), not accumulated, and dbias == nullptr must leave no trace.
TEST(Conv2dSim, OutputsAreOverwrittenAndNullBiasSkipped) {
  const auto s = make(2, 3, 8, 7, 5, 3, 1, 1, kReflect);
  const Sizes z = sizes_of(s);
  Buffer<double, SimBackend> x(random_vector<double>(z.x, 1)), dy(random_vector<double>(z.y, 2));
  Buffer<double, SimBackend> dw1(std::vector<double>(z.w, 7.0)), dw2(std::vector<double>(z.w, -3.0));
  Buffer<double, SimBackend> db(std::vector<double>(s.out_channels, 5.0));
  Buffer<double, SimBackend> ws(gramgan::sim::conv2d_backward_weight_workspace(s));
  SimBackend::backward_weight(s, x.get(), dy.get(), dw1.get(), static_cast<double*>(nullptr), ws.get());
  SimBackend::backward_weight(s, x.get(), dy.get(), dw2.get(), db.get(), ws.get());
  EXPECT_EQ(dw1.to_host(), dw2.to_host());
  EXPECT_NE(db.to_host(), std::vector<double>(s.out_channels, 5.0));
}

// ---- adjoint identities in double ------------------------------------------------------------------------------

double dot(const std::vector<double>& a, const std::vector<double>& b, double* magnitude) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sum += a[i] * b[i];
    *magnitude += std::abs(a[i] * b[i]);
  }
  return sum;
}

// <conv(x; w), dy> = <x, backward_data(dy)> = <w, backward_weight(x, dy)>, and <b, dbias> = sum_i dy_i b[c(i)],
// each to 1e-12 of the sum of |terms| on both sides (the kernels' rounding is ~1e-14 for these depths).
TEST(Conv2dSim, AdjointIdentitiesHoldInDouble) {
  std::uint32_t seed = 300;
  for (const auto& s : cases()) {
    SCOPED_TRACE(describe(s));
    const Sizes z = sizes_of(s);
    Inputs<double> in;
    in.x = random_vector<double>(z.x, ++seed);
    in.w = random_vector<double>(z.w, ++seed);
    in.dy = random_vector<double>(z.y, ++seed);
    in.b = random_vector<double>(s.out_channels, ++seed);
    const auto& [x, w, b, dy] = in;
    const Outputs<double> plain = run_passes<SimBackend>(s, in, false), biased = run_passes<SimBackend>(s, in);
    const auto &y = plain.y, &yb = biased.y;

    double magnitude = 0;
    const double lhs = dot(y, dy, &magnitude);
    const double via_data = dot(x, biased.dx, &magnitude);
    EXPECT_NEAR(lhs, via_data, 1e-12 * magnitude) << "<conv(x), dy> vs <x, conv_backward_data(dy)>";
    magnitude = 0;
    dot(y, dy, &magnitude);
    const double via_weight = dot(w, biased.dweight, &magnitude);
    EXPECT_NEAR(lhs, via_weight, 1e-12 * magnitude) << "<conv(x; w), dy> vs <w, conv_backward_weight(x, dy)>";
    std::vector<double> bias_part(z.y);
    for (std::size_t i = 0; i < z.y; ++i) bias_part[i] = yb[i] - y[i];
    magnitude = 0;
    const double bias_lhs = dot(bias_part, dy, &magnitude);
    EXPECT_NEAR(bias_lhs, dot(b, biased.dbias, &magnitude), 1e-12 * magnitude) << "<b, dbias>";
  }
}

// ---- determinism -----------------------------------------------------------------------------------------------

template <class T>
bool same_bits(const Outputs<T>& a, const Outputs<T>& b) {
  return same_bytes(a.y, b.y) && same_bytes(a.dx, b.dx) && same_bytes(a.dweight, b.dweight) &&
         same_bytes(a.dbias, b.dbias);
}

// Twice in each thread order: the same bits every time (a race or an order-dependent sum would differ).
TEST(Conv2dSim, BitwiseRepeatableInBothThreadOrders) {
  const cudasim::ThreadOrder saved = cudasim::thread_order();
  for (const auto& s : {make(2, 3, 24, 20, 70, 3, 1, 1, kReflect), make(2, 20, 9, 10, 130, 4, 2, 1, kZeros)}) {
    SCOPED_TRACE(describe(s));
    const auto in_float = inputs_for<float>(s, 7);
    const auto in_double = inputs_for<double>(s, 7);
    std::vector<Outputs<float>> floats;
    std::vector<Outputs<double>> doubles;
    for (auto order : {cudasim::ThreadOrder::forward, cudasim::ThreadOrder::reverse}) {
      cudasim::set_thread_order(order);
      for (int run = 0; run < 2; ++run) {
        floats.push_back(run_passes<SimBackend>(s, in_float));
        doubles.push_back(run_passes<SimBackend>(s, in_double));
      }
    }
    cudasim::set_thread_order(saved);
    for (std::size_t i = 1; i < floats.size(); ++i) {
      EXPECT_TRUE(same_bits(floats[0], floats[i])) << "float run " << i;
      EXPECT_TRUE(same_bits(doubles[0], doubles[i])) << "double run " << i;
    }
  }
}

// The simulator's own tile shapes (deeper stages, a wider large tile) against the CUDA build's, both simulated:
// every pass, every case, bit for bit. A shape changes which thread sums an output, never the order of the sum,
// and the weight gradient's split plan is the nvcc tiles' for both; the cases cover all three block rows, K depths
// of many stages and a weight-gradient split that ends mid-stage of the deeper tiles.
TEST(Conv2dSim, SimulatorTilesGiveTheBitsOfTheNvccTiles) {
  const auto all = cases();
  for (std::size_t i = 0; i < all.size(); ++i) {
    SCOPED_TRACE(describe(all[i]));
    const auto in = inputs_for<float>(all[i], 400 + 10 * i);
    EXPECT_TRUE(same_bits(run_passes<SimBackend>(all[i], in), run_passes<SimNvccTilesBackend>(all[i], in)));
  }
}

// ---- argument checks -------------------------------------------------------------------------------------------

TEST(Conv2dArguments, InvalidShapesThrow) {
  Buffer<float, SimBackend> buf(4096);
  float* p = buf.get();
  const auto all_throw = [&](const Conv2dShape& s) {
    SCOPED_TRACE(describe(s));
    EXPECT_THROW(gramgan::sim::conv2d_forward(s, p, p, p, p, nullptr), std::invalid_argument);
    EXPECT_THROW(gramgan::sim::conv2d_backward_data(s, p, p, p, nullptr), std::invalid_argument);
    EXPECT_THROW(gramgan::sim::conv2d_backward_weight(s, p, p, p, p, p, nullptr), std::invalid_argument);
    EXPECT_THROW(gramgan::sim::conv2d_backward_weight_workspace(s), std::invalid_argument);
  };
  const auto good = make(1, 2, 6, 6, 3, 3, 1, 1, kReflect);
  for (int field = 0; field < 7; ++field) {
    auto s = good;
    int* sizes[] = {&s.batch, &s.in_channels, &s.height, &s.width, &s.out_channels, &s.kernel_h, &s.kernel_w};
    *sizes[field] = field % 2 == 0 ? 0 : -2;
    all_throw(s);
  }
  for (int stride : {0, 3, -1}) {
    auto s = good;
    s.stride = stride;
    all_throw(s);
  }
  auto s = good;
  s.pad = -1;
  all_throw(s);
  s = good;
  s.pad = 6;  // reflection needs pad < height and width
  all_throw(s);
  s = make(1, 2, 8, 3, 3, 3, 1, 3, kReflect);  // pad == width
  all_throw(s);
  s = make(1, 2, 4, 4, 3, 5, 1, 0, kZeros);  // kernel larger than the input: empty output
  all_throw(s);
  s = make(1, 2, 2, 4, 3, 3, 2, 0, kZeros);  // (2 - 3) / 2 + 1 would truncate to a bogus 1
  all_throw(s);

  EXPECT_THROW(gramgan::sim::conv2d_forward(good, static_cast<float*>(nullptr), p, p, p, nullptr),
               std::invalid_argument);
  EXPECT_THROW(gramgan::sim::conv2d_backward_weight(good, p, p, p, p, static_cast<float*>(nullptr), nullptr),
               std::invalid_argument);
  try {
    gramgan::sim::conv2d_forward(make(1, 2, 6, 6, 3, 3, 3, 1, kZeros), p, p, p, p, nullptr);
    ADD_FAILURE() << "stride 3 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("conv2d_forward: stride must be 1 or 2"), std::string::npos) << e.what();
  }
  // Valid edge cases do not throw: pad = size - 1 with reflection, a kernel exactly the padded size.
  EXPECT_NO_THROW(gramgan::sim::conv2d_forward(make(1, 2, 4, 4, 3, 3, 1, 3, kReflect), p, p, p, p, nullptr));
  EXPECT_NO_THROW(gramgan::sim::conv2d_forward(make(1, 2, 4, 4, 3, 6, 1, 1, kZeros), p, p, p, p, nullptr));
}

// ---- tf32 (tensor cores, kernels/conv2d_mma.cuh) --------------------------------------------------------------

Conv2dShape tf32(Conv2dShape s) {
  s.precision = gramgan::Precision::tf32;
  return s;
}

// Each tf32 pass against the double references within the bound above, for every case; prints the largest error
// relative to the magnitude per pass (the figures of the closing note).
TEST(Conv2dTf32, WithinTf32BoundOfDouble) {
  const auto all = cases();
  double worst[4] = {};
  for (std::size_t i = 0; i < all.size(); ++i) {
    const Conv2dShape s = tf32(all[i]);
    SCOPED_TRACE(describe(s));
    const Sizes z = sizes_of(s);
    const Inputs<float> in = inputs_for<float>(s, 500 + 10 * i);
    const Outputs<float> out = run_passes<SimBackend>(s, in);
    const auto xd = to_double(in.x), wd = to_double(in.w), bd = to_double(in.b), dyd = to_double(in.dy);
    const auto xa = absolute(xd), wa = absolute(wd), ba = absolute(bd), dya = absolute(dyd);
    const double taps = double(s.kernel_h) * s.kernel_w, pixels = double(s.batch) * z.oh * z.ow;
    const auto splits = double(SimBackend::workspace(s) / (z.w + s.out_channels));
    expect_tf32_close(out.y, reference_forward(s, xd, wd, &bd), reference_forward(s, xa, wa, &ba), kTf32Product,
                      14 * mma_steps(s.in_channels * taps) + 1, "y", &worst[0]);
    expect_tf32_close(out.dx, reference_backward_data(s, dyd, wd), reference_backward_data(s, dya, wa), kTf32Product,
                      14 * mma_steps(s.out_channels * taps) + 9, "dx", &worst[1]);
    expect_tf32_close(out.dweight, reference_backward_weight(s, xd, dyd), reference_backward_weight(s, xa, dya),
                      kTf32Product, 14 * mma_steps(pixels / splits + 32) + splits, "dweight", &worst[2]);
    // dbias: FP32 sums of dy rounded to TF32 (one rounding per term), then the splits.
    expect_tf32_close(out.dbias, reference_backward_bias(s, dyd), reference_backward_bias(s, dya), kTf32Unit,
                      pixels + 66, "dbias", &worst[3]);
  }
  std::printf(
      "tf32 conv2d, max |error| / sum|terms| vs double: forward %.3g, data %.3g, weight %.3g, bias %.3g "
      "(bound about 2^-10 = %.3g)\n",
      worst[0], worst[1], worst[2], worst[3], std::ldexp(1.0, -10));
}

// im2col(x) rounded to TF32: (K = Cin KH KW, N = pixels), and its transpose for the weight gradient.
std::vector<float> im2col_tf32(const Conv2dShape& s, const std::vector<float>& x, bool transposed) {
  const int oh = s.out_height(), ow = s.out_width(), depth = s.in_channels * s.kernel_h * s.kernel_w;
  const int pixels = s.batch * oh * ow;
  std::vector<float> b(std::size_t(depth) * pixels, 0.0f);
  for (int p = 0; p < pixels; ++p)
    for (int k = 0; k < depth; ++k) {
      const int n = p / (oh * ow), r = p % (oh * ow) / ow, c = p % ow;
      const int ci = k / (s.kernel_h * s.kernel_w), kh = k / s.kernel_w % s.kernel_h, kw = k % s.kernel_w;
      const int ih = source(r * s.stride - s.pad + kh, s.height, s.padding);
      const int iw = source(c * s.stride - s.pad + kw, s.width, s.padding);
      if (ih < 0 || iw < 0) continue;
      const float v = x[((std::size_t(n) * s.in_channels + ci) * s.height + ih) * s.width + iw];
      b[transposed ? std::size_t(p) * depth + k : std::size_t(k) * pixels + p] = cudasim::tf32_round(v);
    }
  return b;
}

// The tf32 data gradient's model, dx as NCHW: per sub-pixel phase (one at stride 1; at stride 2 the pixels
// (2i + py, 2j + px), which only the taps (kh, kw) of the parity of (py + pad, px + pad) read), the GEMM of
// weight^T rounded to TF32, (Cin, (co, kh, kw) of the phase's taps), and B: element ((co, kh, kw), pixel) sums in
// FP32 the dy read there, in the kernel's order: the padded rows that read the pixel's row (itself, the mirror
// below, the mirror above), each with the padded columns likewise; then rounded to TF32.
std::vector<float> model_data_gradient_tf32(const Conv2dShape& s, const std::vector<float>& w,
                                            const std::vector<float>& dy, int sm) {
  const int oh = s.out_height(), ow = s.out_width(), area = s.kernel_h * s.kernel_w, st = s.stride;
  const bool reflect = s.padding == Padding::reflect;
  const auto readers = [&](int i, int size) {
    std::vector<int> r = {i + s.pad};
    if (reflect && i >= 1 && i <= s.pad) r.push_back(s.pad - i);
    if (reflect && i < size - 1 && i >= size - 1 - s.pad) r.push_back(2 * (size - 1) - i + s.pad);
    return r;
  };
  std::vector<float> dx(std::size_t(s.batch) * s.in_channels * s.height * s.width, 0.0f);
  for (int py = 0; py < st; ++py)
    for (int px = 0; px < st; ++px) {
      std::vector<std::pair<int, int>> taps;  // the phase's (kh, kw), in K order
      for (int kh = 0; kh < s.kernel_h; ++kh)
        for (int kw = 0; kw < s.kernel_w; ++kw)
          if ((kh - py - s.pad) % st == 0 && (kw - px - s.pad) % st == 0) taps.emplace_back(kh, kw);
      std::vector<std::array<int, 3>> pixels;  // the phase's (n, ih, iw), in column order
      for (int n = 0; n < s.batch; ++n)
        for (int ih = py; ih < s.height; ih += st)
          for (int iw = px; iw < s.width; iw += st) pixels.push_back({n, ih, iw});
      const int depth = s.out_channels * int(taps.size()), columns = int(pixels.size());
      if (depth == 0 || columns == 0) continue;
      std::vector<float> wt(std::size_t(s.in_channels) * depth), b(std::size_t(depth) * columns);
      for (int ci = 0; ci < s.in_channels; ++ci)
        for (int k = 0; k < depth; ++k) {
          const auto [kh, kw] = taps[std::size_t(k) % taps.size()];
          const int co = k / int(taps.size());
          wt[std::size_t(ci) * depth + k] =
              cudasim::tf32_round(w[(std::size_t(co) * s.in_channels + ci) * area + kh * s.kernel_w + kw]);
        }
      for (int c = 0; c < columns; ++c) {
        const auto [n, ih, iw] = pixels[std::size_t(c)];
        for (int k = 0; k < depth; ++k) {
          const auto [kh, kw] = taps[std::size_t(k) % taps.size()];
          const int co = k / int(taps.size());
          float v = 0;
          for (int ph : readers(ih, s.height))
            for (int pw : readers(iw, s.width)) {
              const int dh = ph - kh, dw = pw - kw;
              if (dh < 0 || dw < 0 || dh % st != 0 || dw % st != 0 || dh / st >= oh || dw / st >= ow) continue;
              v += dy[((std::size_t(n) * s.out_channels + co) * oh + dh / st) * ow + dw / st];
            }
          b[std::size_t(k) * columns + c] = cudasim::tf32_round(v);
        }
      }
      const std::vector<float> gemm = model_gemm(wt, b, s.in_channels, columns, depth, sm);
      for (int ci = 0; ci < s.in_channels; ++ci)
        for (int c = 0; c < columns; ++c) {
          const auto [n, ih, iw] = pixels[std::size_t(c)];
          dx[((std::size_t(n) * s.in_channels + ci) * s.height + ih) * s.width + iw] =
              gemm[std::size_t(ci) * columns + c];
        }
    }
  return dx;
}

// (rows, n, plane) -> the GEMM's (rows, n plane), and back.
std::vector<float> channels_by_pixels(const std::vector<float>& t, int batch, int rows, int plane, bool to_nchw) {
  std::vector<float> out(t.size());
  for (int n = 0; n < batch; ++n)
    for (int r = 0; r < rows; ++r)
      for (int p = 0; p < plane; ++p) {
        const std::size_t nchw = (std::size_t(n) * rows + r) * plane + p,
                          gemm = (std::size_t(r) * batch + n) * plane + p;
        out[to_nchw ? nchw : gemm] = t[to_nchw ? gemm : nchw];
      }
  return out;
}

// Every tf32 pass bit for bit against the host model, on each architecture's model (sm_80 and sm_90 differ in
// the tensor cores' arithmetic; 86 and 89 share sm_80's but have less shared memory). The weight-gradient cases
// take one split (at most 512 pixels), whose summation order the model rebuilds without the split plan.
TEST(Conv2dTf32, BitwiseAgainstTensorCoreModel) {
  const int saved = cudasim::architecture();
  const std::vector<Conv2dShape> shapes = {
      make(2, 3, 11, 13, 32, 3, 1, 1, kReflect), make(2, 32, 9, 7, 3, 3, 1, 1, kZeros),
      make(2, 5, 10, 9, 7, 4, 2, 1, kZeros),     make(1, 72, 12, 11, 70, 3, 1, 1, kReflect),
      make(1, 2, 3, 4, 3, 5, 1, 2, kReflect),    make(1, 3, 5, 6, 130, 3, 1, 1, kZeros),
      make(1, 130, 5, 4, 2, 3, 2, 1, kReflect),  make(2, 20, 15, 11, 24, 3, 2, 1, kReflect)};
  for (int sm : {80, 86, 89, 90}) {
    cudasim::set_architecture(sm);
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      const Conv2dShape s = tf32(shapes[i]);
      SCOPED_TRACE(describe(s) + " sm_" + std::to_string(sm));
      const Sizes z = sizes_of(s);
      ASSERT_EQ(SimBackend::workspace(s), z.w + s.out_channels) << "a case of one split";
      const Inputs<float> in = inputs_for<float>(s, 700 + 10 * i);
      const Outputs<float> out = run_passes<SimBackend>(s, in);
      const int depth = s.in_channels * s.kernel_h * s.kernel_w, out_plane = z.oh * z.ow;

      std::vector<float> y =
          model_gemm(rounded(in.w), im2col_tf32(s, in.x, false), s.out_channels, s.batch * out_plane, depth, sm);
      for (std::size_t e = 0; e < y.size(); ++e) y[e] += in.b[e / (std::size_t(s.batch) * out_plane)];
      EXPECT_TRUE(same_bytes(out.y, channels_by_pixels(y, s.batch, s.out_channels, out_plane, true))) << "y";

      EXPECT_TRUE(same_bytes(out.dx, model_data_gradient_tf32(s, in.w, in.dy, sm))) << "dx";

      const std::vector<float> dy_rows = rounded(channels_by_pixels(in.dy, s.batch, s.out_channels, out_plane, false));
      const int pixels = s.batch * out_plane;
      EXPECT_TRUE(
          same_bytes(out.dweight, model_gemm(dy_rows, im2col_tf32(s, in.x, true), s.out_channels, depth, pixels, sm)))
          << "dweight";
      std::vector<float> db(s.out_channels, 0.0f);
      for (int co = 0; co < s.out_channels; ++co)
        for (int p = 0; p < pixels; ++p) db[co] += dy_rows[std::size_t(co) * pixels + p];
      EXPECT_TRUE(same_bytes(out.dbias, db)) << "dbias";
    }
  }
  cudasim::set_architecture(saved);
}

// Repeatable bits in both thread orders, at a shape of several weight-gradient splits and large tiles.
TEST(Conv2dTf32, BitwiseRepeatableInBothThreadOrders) {
  const cudasim::ThreadOrder saved = cudasim::thread_order();
  const Conv2dShape s = tf32(make(2, 20, 24, 20, 70, 3, 1, 1, kReflect));
  const auto in = inputs_for<float>(s, 9);
  std::vector<Outputs<float>> runs;
  for (auto order : {cudasim::ThreadOrder::forward, cudasim::ThreadOrder::reverse}) {
    cudasim::set_thread_order(order);
    runs.push_back(run_passes<SimBackend>(s, in));
  }
  cudasim::set_thread_order(saved);
  EXPECT_TRUE(same_bits(runs[0], runs[1]));
  EXPECT_GT(SimBackend::workspace(s), sizes_of(s).w + s.out_channels) << "several splits";
}

// ---- GPU against the cpu backend -------------------------------------------------------------------------------

#if GRAMGAN_HAVE_CUDA
// nvcc contracts multiply-adds into FMAs, so the backends differ by rounding only: the same bound as above,
// relative to the magnitude, with the cpu result as reference (twice the bound covers both sides' error).
template <class T>
void check_gpu_case(const Conv2dShape& s) {
  SCOPED_TRACE(describe(s) + (sizeof(T) == 4 ? " float" : " double"));
  const Sizes z = sizes_of(s);
  const Inputs<T> in = inputs_for<T>(s, 21);
  ASSERT_EQ(SimBackend::workspace(s), CudaBackend::workspace(s));
  const Outputs<T> cpu = run_passes<SimBackend>(s, in), gpu = run_passes<CudaBackend>(s, in);
  const auto xa = absolute(to_double(in.x)), wa = absolute(to_double(in.w)), ba = absolute(to_double(in.b));
  const auto dya = absolute(to_double(in.dy));
  const double taps = double(s.kernel_h) * s.kernel_w, pixels = double(s.batch) * z.oh * z.ow;
  expect_close(gpu.y, to_double(cpu.y), reference_forward(s, xa, wa, &ba), 2 * (s.in_channels * taps + 2), "y");
  expect_close(gpu.dx, to_double(cpu.dx), reference_backward_data(s, dya, wa), 2 * (s.out_channels * taps + 12), "dx");
  expect_close(gpu.dweight, to_double(cpu.dweight), reference_backward_weight(s, xa, dya), 2 * (pixels + 66),
               "dweight");
  expect_close(gpu.dbias, to_double(cpu.dbias), reference_backward_bias(s, dya), 2 * (pixels + 66), "dbias");
}

TEST(Conv2dCuda, MatchesCpuBackend) {
  if (!gramgan::test::cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  for (const auto& s : {make(2, 3, 11, 13, 32, 3, 1, 1, kReflect), make(2, 5, 10, 9, 7, 4, 2, 1, kZeros),
                        make(1, 3, 12, 11, 8, 9, 1, 4, kReflect), make(1, 3, 5, 6, 130, 3, 1, 1, kZeros),
                        make(2, 3, 24, 20, 8, 3, 2, 1, kReflect),
                        // More than 64 input channels: the data gradient's GEMM has M = Cin rows and takes the
                        // large tile, whose vectorised shared-memory loop only a GPU runs natively.
                        make(1, 130, 9, 10, 16, 3, 1, 1, kReflect), make(2, 96, 12, 12, 32, 3, 2, 1, kZeros)}) {
    check_gpu_case<float>(s);
    check_gpu_case<double>(s);
  }
}

// The tf32 passes on the GPU's tensor cores equal the simulator's model of its architecture bit for bit: the
// MMAs, the TF32 rounding, and the FP32 adds around them (bias, gathers, split sums; none can be contracted).
TEST(Conv2dTf32Cuda, BitwiseEqualsSimulatorModel) {
  if (!gramgan::test::cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  const int sm = gramgan::test::modelled_device_architecture();
  if (sm == 0) GTEST_SKIP() << "no tensor-core model for this GPU's architecture";
  const int saved = cudasim::architecture();
  cudasim::set_architecture(sm);
  for (const auto& s : {make(2, 3, 11, 13, 32, 3, 1, 1, kReflect), make(2, 5, 10, 9, 7, 4, 2, 1, kZeros),
                        make(1, 3, 5, 6, 130, 3, 1, 1, kZeros), make(2, 20, 24, 20, 70, 3, 1, 1, kReflect),
                        make(1, 130, 9, 10, 16, 3, 1, 1, kReflect), make(2, 96, 12, 12, 32, 3, 2, 1, kZeros)}) {
    SCOPED_TRACE(describe(s) + " sm_" + std::to_string(sm));
    const Inputs<float> in = inputs_for<float>(s, 31);
    EXPECT_TRUE(same_bits(run_passes<SimBackend>(tf32(s), in), run_passes<CudaBackend>(tf32(s), in)));
  }
  cudasim::set_architecture(saved);
}
#endif

}  // namespace
