// engine/ops.h: representative ops against naive double references or the raw launchers, on the cpu backend, and
// the precondition messages (op name, shapes, dtypes, devices).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/ops.h"
#include "kernels/launchers.h"

namespace {

using gramgan::Device;
using gramgan::DType;
using gramgan::Error;
using gramgan::Shape;
using gramgan::Tensor;
namespace ops = gramgan::ops;

Tensor random_tensor(const Shape& shape, std::uint64_t seed, DType dtype = DType::float64) {
  Tensor t = Tensor::empty(shape, dtype);
  t.uniform_(seed, 0, -1.0, 1.0);
  return t;
}

// Runs `f` and returns the gramgan::Error message it throws ("" when it does not throw).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

double reflect_or_zero(const std::vector<double>& x, int n, int c, int C, int H, int W, int i, int j, bool reflect) {
  if (reflect) {
    i = i < 0 ? -i : (i >= H ? 2 * (H - 1) - i : i);
    j = j < 0 ? -j : (j >= W ? 2 * (W - 1) - j : j);
  } else if (i < 0 || i >= H || j < 0 || j >= W) {
    return 0;
  }
  return x[((std::size_t(n) * C + c) * H + i) * W + j];
}

void expect_conv_matches_reference(gramgan::Padding padding, int stride, int pad) {
  const int N = 2, C = 3, H = 7, W = 6, K = 4, R = 3;
  const Tensor x = random_tensor({N, C, H, W}, 1), w = random_tensor({K, C, R, R}, 2), b = random_tensor({K}, 3);
  const Tensor y = ops::conv2d_forward(x, w, &b, {stride, pad, padding});
  const int OH = (H + 2 * pad - R) / stride + 1, OW = (W + 2 * pad - R) / stride + 1;
  ASSERT_EQ(y.shape(), (Shape{N, K, OH, OW}));
  const auto xv = x.to_host<double>(), wv = w.to_host<double>(), bv = b.to_host<double>(), yv = y.to_host<double>();
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < K; ++k)
      for (int oh = 0; oh < OH; ++oh)
        for (int ow = 0; ow < OW; ++ow) {
          double sum = bv[k];
          for (int c = 0; c < C; ++c)
            for (int r = 0; r < R; ++r)
              for (int s = 0; s < R; ++s)
                sum += wv[((std::size_t(k) * C + c) * R + r) * R + s] *
                       reflect_or_zero(xv, n, c, C, H, W, oh * stride - pad + r, ow * stride - pad + s,
                                       padding == gramgan::Padding::reflect);
          EXPECT_NEAR(yv[((std::size_t(n) * K + k) * OH + oh) * OW + ow], sum, 1e-12);
        }
}

TEST(EngineOps, Conv2dForwardMatchesReference) {
  expect_conv_matches_reference(gramgan::Padding::zeros, 1, 1);
  expect_conv_matches_reference(gramgan::Padding::reflect, 2, 1);
}

TEST(EngineOps, Conv2dBackwardMatchesRawLaunchers) {
  const Tensor x = random_tensor({2, 3, 5, 5}, 4), w = random_tensor({4, 3, 3, 3}, 5);
  const ops::Conv2dGeometry params{1, 1, gramgan::Padding::zeros};
  const Tensor dy = random_tensor({2, 4, 5, 5}, 6);
  const Tensor dx = ops::conv2d_backward_data(dy, w, x.shape(), params);
  const auto grads = ops::conv2d_backward_weight(x, dy, w.shape(), true, params);
  ASSERT_TRUE(grads.dbias.defined());

  gramgan::Conv2dShape s{2, 3, 5, 5, 4, 3, 3, 1, 1, gramgan::Padding::zeros};
  Tensor raw_dx = Tensor::empty(x.shape(), DType::float64), raw_dw = Tensor::empty(w.shape(), DType::float64),
         raw_db = Tensor::empty({4}, DType::float64),
         ws = Tensor::empty({std::int64_t(gramgan::sim::conv2d_backward_weight_workspace(s))}, DType::float64);
  gramgan::sim::conv2d_backward_data(s, dy.data<double>(), w.data<double>(), raw_dx.data<double>(), nullptr);
  gramgan::sim::conv2d_backward_weight(s, x.data<double>(), dy.data<double>(), raw_dw.data<double>(),
                                       raw_db.data<double>(), ws.data<double>(), nullptr);
  EXPECT_EQ(dx.to_host<double>(), raw_dx.to_host<double>());
  EXPECT_EQ(grads.dweight.to_host<double>(), raw_dw.to_host<double>());
  EXPECT_EQ(grads.dbias.to_host<double>(), raw_db.to_host<double>());
  EXPECT_FALSE(ops::conv2d_backward_weight(x, dy, w.shape(), false, params).dbias.defined());
}

// An upsampling conv is the conv of the stored upsample, bit for bit: the kernels gather the same values in the
// same K order. Every float tile (Cout 5, 40, 70: tiles 16, 64 and 128 rows), double, tf32, both paddings, stride
// 1 and 2, odd sizes; the backward ops (which upsample for the kernels) equal the unfused chain's.
TEST(EngineOps, Conv2dUpsampleIsTheConvOfTheUpsample) {
  struct Case {
    int cout, stride;
    gramgan::Padding padding;
    DType dtype;
    gramgan::Precision precision;
  };
  const auto fp32 = gramgan::Precision::fp32;
  const Case cases[] = {{5, 1, gramgan::Padding::reflect, DType::float32, fp32},
                        {40, 2, gramgan::Padding::zeros, DType::float32, fp32},
                        {70, 1, gramgan::Padding::reflect, DType::float32, fp32},
                        {3, 1, gramgan::Padding::reflect, DType::float64, fp32},
                        {6, 1, gramgan::Padding::reflect, DType::float32, gramgan::Precision::tf32}};
  // Float values widen to double exactly, so equal vectors mean equal bits (no NaN here).
  const auto values = [](const Tensor& t) {
    if (t.dtype() == DType::float64) return t.to_host<double>();
    const auto f = t.to_host<float>();
    return std::vector<double>(f.begin(), f.end());
  };
  std::uint64_t seed = 10;
  for (const Case& c : cases) {
    SCOPED_TRACE("cout " + std::to_string(c.cout) + " stride " + std::to_string(c.stride));
    const Tensor x = random_tensor({2, 3, 5, 4}, ++seed, c.dtype),
                 w = random_tensor({c.cout, 3, 3, 3}, ++seed, c.dtype);
    const Tensor b = random_tensor({c.cout}, ++seed, c.dtype);
    const ops::Conv2dGeometry plain{c.stride, 1, c.padding, c.precision};
    ops::Conv2dGeometry fused = plain;
    fused.upsample = true;
    const Tensor up = ops::upsample2x_forward(x);
    const Tensor y = ops::conv2d_forward(x, w, &b, fused), expected = ops::conv2d_forward(up, w, &b, plain);
    ASSERT_EQ(y.shape(), expected.shape());
    EXPECT_EQ(values(y), values(expected));

    const Tensor dy = random_tensor(y.shape(), ++seed, c.dtype);
    EXPECT_EQ(values(ops::conv2d_backward_data(dy, w, x.shape(), fused)),
              values(ops::upsample2x_backward(ops::conv2d_backward_data(dy, w, up.shape(), plain))));
    const auto grads = ops::conv2d_backward_weight(x, dy, w.shape(), true, fused);
    const auto expected_grads = ops::conv2d_backward_weight(up, dy, w.shape(), true, plain);
    EXPECT_EQ(values(grads.dweight), values(expected_grads.dweight));
    EXPECT_EQ(values(grads.dbias), values(expected_grads.dbias));
  }
  // The raw backward launchers take the stored upsample, and say so.
  gramgan::Conv2dShape s{1, 1, 4, 4, 1, 3, 3, 1, 1, gramgan::Padding::zeros};
  s.upsample = true;
  EXPECT_THROW(gramgan::sim::conv2d_backward_weight_workspace(s), std::invalid_argument);
}

TEST(EngineOps, ElementwiseAndGramMatchReference) {
  const Tensor a = random_tensor({2, 3, 4, 5}, 7, DType::float32), b = random_tensor({2, 3, 4, 5}, 8, DType::float32);
  const auto av = a.to_host<float>(), bv = b.to_host<float>();
  const auto sum = ops::add(a, b).to_host<float>();
  const auto relu = ops::activation_forward(gramgan::Activation::relu, a).to_host<float>();
  const auto scaled = ops::scale(a, 0.5).to_host<float>();
  Tensor acc = a.clone();
  ops::accumulate(acc, b);
  const auto accv = acc.to_host<float>();
  for (std::size_t i = 0; i < av.size(); ++i) {
    EXPECT_EQ(sum[i], av[i] + bv[i]);
    EXPECT_EQ(accv[i], av[i] + bv[i]);
    EXPECT_EQ(relu[i], std::max(av[i], 0.0f));
    EXPECT_EQ(scaled[i], 0.5f * av[i]);
  }

  const Tensor f = random_tensor({2, 3, 4, 5}, 9);
  const Tensor g = ops::gram_forward(f);
  ASSERT_EQ(g.shape(), (Shape{2, 3, 3}));
  const auto fv = f.to_host<double>(), gv = g.to_host<double>();
  for (int n = 0; n < 2; ++n)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        double dot = 0;
        for (int p = 0; p < 20; ++p) dot += fv[(n * 3 + i) * 20 + p] * fv[(n * 3 + j) * 20 + p];
        EXPECT_NEAR(gv[(n * 3 + i) * 3 + j], dot / 60.0, 1e-14);
      }
}

// The in-place forms (inference) write the out-of-place forms' bits over their input: the instance-norm kernel
// reads a plane's statistics before writing it, and map_kernel reads and writes each element in one thread. 210
// elements (planes of 35) so that the activation has a pack tail. On the GPU too when there is one.
TEST(EngineOps, InPlaceNormAndActivationWriteTheOutOfPlaceBits) {
  std::vector<Device> devices{Device::cpu()};
  if (gramgan::cuda_available()) devices.push_back(Device::cuda(0));
  for (const Device& device : devices) {
    const Tensor x = random_tensor({2, 3, 5, 7}, 4, DType::float32).to(device);
    const Tensor gamma = random_tensor({3}, 5, DType::float32).to(device);
    const Tensor beta = random_tensor({3}, 6, DType::float32).to(device);
    Tensor in_place = x.clone();
    ops::instance_norm_forward_in_place(in_place, gamma, beta, 1e-5);
    EXPECT_EQ(in_place.to_host<float>(), ops::instance_norm_forward(x, gamma, beta, 1e-5).y.to_host<float>())
        << device.to_string();
    for (const gramgan::Activation activation : {gramgan::Activation::relu, gramgan::Activation::leaky_relu,
                                                 gramgan::Activation::tanh, gramgan::Activation::tanh_unit}) {
      Tensor activated = x.clone();
      ops::activation_forward_in_place(activation, activated, 0.2);
      EXPECT_EQ(activated.to_host<float>(), ops::activation_forward(activation, x, 0.2).to_host<float>())
          << device.to_string() << ", activation " << int(activation);
    }
  }
}

TEST(EngineOps, LossesAndReduceMatchReference) {
  const Tensor p = random_tensor({3, 2, 5, 7}, 10), t = random_tensor({3, 2, 5, 7}, 11);
  const auto loss = ops::mse(p, t);
  ASSERT_EQ(loss.value.shape(), (Shape{1}));
  const auto pv = p.to_host<double>(), tv = t.to_host<double>(), gv = loss.grad.to_host<double>();
  double ref = 0;
  for (std::size_t i = 0; i < pv.size(); ++i) {
    ref += (pv[i] - tv[i]) * (pv[i] - tv[i]);
    EXPECT_NEAR(gv[i], 2 * (pv[i] - tv[i]) / double(pv.size()), 1e-15);
  }
  EXPECT_NEAR(loss.value.to_host<double>()[0], ref / double(pv.size()), 1e-14);

  double total = 0;
  for (const double v : pv) total += v;
  EXPECT_NEAR(ops::reduce(gramgan::Reduction::sum, p).to_host<double>()[0], total, 1e-12);

  const auto g = ops::lsgan_g(p);
  double gref = 0;
  for (const double v : pv) gref += (v - 1) * (v - 1);
  EXPECT_NEAR(g.value.to_host<double>()[0], gref / double(pv.size()), 1e-14);
}

TEST(EngineOps, AdamStepMatchesRawLauncher) {
  Tensor param = random_tensor({33}, 12), grad = random_tensor({33}, 13);
  Tensor m = Tensor::zeros({33}, DType::float64), v = Tensor::zeros({33}, DType::float64);
  Tensor raw_param = param.clone(), raw_m = m.clone(), raw_v = v.clone();
  const gramgan::AdamConfig config{1e-2, 0.9, 0.999, 1e-8, 0.01, 1};
  ops::adam_step(config, param, grad, m, v);
  gramgan::sim::adam_step(config, 33, raw_param.data<double>(), grad.data<double>(), raw_m.data<double>(),
                          raw_v.data<double>(), nullptr);
  EXPECT_EQ(param.to_host<double>(), raw_param.to_host<double>());
  EXPECT_EQ(m.to_host<double>(), raw_m.to_host<double>());
  EXPECT_EQ(v.to_host<double>(), raw_v.to_host<double>());
}

TEST(EngineOpsErrors, MessagesNameTheOpAndTheShapes) {
  const Tensor x = random_tensor({1, 3, 8, 8}, 1), w = random_tensor({4, 2, 3, 3}, 2);
  const std::string conv = error_of([&] { ops::conv2d_forward(x, w, nullptr, {}); });
  EXPECT_NE(conv.find("conv2d_forward"), std::string::npos) << conv;
  EXPECT_NE(conv.find("(4, 2, 3, 3)"), std::string::npos) << conv;
  EXPECT_NE(conv.find("(1, 3, 8, 8)"), std::string::npos) << conv;

  const std::string add = error_of([&] { ops::add(x, random_tensor({1, 3, 8, 7}, 3)); });
  EXPECT_NE(add.find("add: b has shape (1, 3, 8, 7) but a has shape (1, 3, 8, 8)"), std::string::npos) << add;

  const std::string dims = error_of([&] { ops::gram_forward(random_tensor({3, 8}, 4)); });
  EXPECT_NE(dims.find("gram_forward: expects features of 4 dimensions"), std::string::npos) << dims;

  const std::string undefined = error_of([&] { ops::reduce(gramgan::Reduction::sum, Tensor()); });
  EXPECT_NE(undefined.find("reduce: x is an undefined tensor"), std::string::npos) << undefined;
}

TEST(EngineOpsErrors, DtypeMismatchIsNamed) {
  const Tensor a = random_tensor({2, 2}, 1, DType::float32), b = random_tensor({2, 2}, 2, DType::float64);
  const std::string message = error_of([&] { ops::mse(a, b); });
  EXPECT_NE(message.find("mse: target is float64 but prediction is float32"), std::string::npos) << message;
  const Tensor x = random_tensor({1, 2, 4, 4}, 3, DType::float32);
  const std::string norm = error_of([&] { ops::instance_norm_forward(x, b.reshape({4}), b.reshape({4}), 1e-5); });
  EXPECT_NE(norm.find("instance_norm_forward: gamma is float64 but x is float32"), std::string::npos) << norm;
}

TEST(EngineOpsErrors, LauncherArgumentErrorsBecomeGramganErrors) {
  // Reflection padding needs pad < height: only the launcher knows, and its std::invalid_argument must surface as
  // gramgan::Error.
  const Tensor x = random_tensor({1, 1, 2, 2}, 1), w = random_tensor({1, 1, 3, 3}, 2);
  const std::string message = error_of([&] { ops::conv2d_forward(x, w, nullptr, {1, 2, gramgan::Padding::reflect}); });
  EXPECT_NE(message.find("conv2d_forward"), std::string::npos) << message;
}

// gram_mse takes a (C, C) target for the batch or an (N, C, C) one per image; any other shape is named.
TEST(EngineOpsErrors, GramMseTargetShapeIsChecked) {
  const Tensor f = random_tensor({2, 3, 4, 4}, 1);
  EXPECT_EQ(error_of([&] { ops::gram_mse(f, random_tensor({3, 3}, 2)); }), "");
  EXPECT_EQ(error_of([&] { ops::gram_mse(f, random_tensor({2, 3, 3}, 2)); }), "");
  for (const Shape& bad : {Shape{4, 4}, Shape{3, 3, 3}, Shape{1, 3, 3}}) {
    const std::string message = error_of([&] { ops::gram_mse(f, random_tensor(bad, 2)); });
    EXPECT_NE(message.find("gram_mse"), std::string::npos) << message;
    EXPECT_NE(message.find("target_gram"), std::string::npos) << message;
  }
}

TEST(EngineOpsErrors, DeviceMismatchIsNamed) {
  if (!gramgan::cuda_available()) GTEST_SKIP() << "no GPU: " << gramgan::cuda_unavailable_reason();
  const Tensor a = random_tensor({2, 2}, 1), b = a.to(Device::cuda(0));
  const std::string message = error_of([&] { ops::add(a, b); });
  EXPECT_NE(message.find("add: b is on cuda:0 but a is on cpu"), std::string::npos) << message;
}

TEST(EngineOpsErrors, CudaTensorsRunOnTheGpu) {
  if (!gramgan::cuda_available()) GTEST_SKIP() << "no GPU: " << gramgan::cuda_unavailable_reason();
  const Tensor a = random_tensor({2, 3, 4, 5}, 1), b = random_tensor({2, 3, 4, 5}, 2);
  const Tensor gpu = ops::gram_forward(ops::add(a.to(Device::cuda(0)), b.to(Device::cuda(0))));
  const auto cpu = ops::gram_forward(ops::add(a, b)).to_host<double>();
  const auto got = gpu.to(Device::cpu()).to_host<double>();
  for (std::size_t i = 0; i < cpu.size(); ++i) EXPECT_NEAR(got[i], cpu[i], 1e-12);
}

}  // namespace
