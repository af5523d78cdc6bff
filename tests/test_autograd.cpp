// autograd/: gradients of a small graph using every differentiable op against central finite differences in
// double on the cpu backend; accumulation for reused variables; NoGradGuard; frozen weights; released saved
// tensors; bitwise determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/variable.h"
#include "engine/error.h"

namespace {

using gramgan::Activation;
using gramgan::DType;
using gramgan::Padding;
using gramgan::Pool;
using gramgan::Shape;
using gramgan::Tensor;
using gramgan::TvMode;
using namespace gramgan::autograd;

Tensor random_tensor(const Shape& shape, std::uint64_t seed, DType dtype = DType::float64, double low = -1.0,
                     double high = 1.0) {
  Tensor t = Tensor::empty(shape, dtype);
  t.uniform_(seed, 0, low, high);
  return t;
}

template <class T>
Tensor tensor_like(const std::vector<T>& values, const Tensor& like) {
  return Tensor::from_host(std::span<const T>(values), like.shape());
}

// The leaves of the test graph, in gradient-check order.
struct Leaves {
  Variable x, weight, bias, gamma, beta;
  std::vector<Variable*> all() { return {&x, &weight, &bias, &gamma, &beta}; }
};

struct Constants {
  Tensor scale, shift, target, target_gram, gram_target;
};

Leaves make_leaves(DType dtype) {
  Leaves l;
  l.x = Variable(random_tensor({2, 2, 6, 6}, 1, dtype), true, "x");
  l.weight = Variable(random_tensor({3, 2, 3, 3}, 2, dtype, -0.5, 0.5), true, "weight");
  l.bias = Variable(random_tensor({3}, 3, dtype), true, "bias");
  l.gamma = Variable(random_tensor({3}, 4, dtype, 0.5, 1.5), true, "gamma");
  l.beta = Variable(random_tensor({3}, 5, dtype), true, "beta");
  return l;
}

Constants make_constants(DType dtype) {
  return {random_tensor({2}, 6, dtype, 0.5, 2.0), random_tensor({2}, 7, dtype), random_tensor({2, 3, 6, 6}, 8, dtype),
          random_tensor({3, 3}, 9, dtype, 0.0, 0.3), random_tensor({2, 3, 3}, 10, dtype, 0.0, 0.3)};
}

// Every differentiable op once; `a` is used twice (add and pool), so its gradient is accumulated.
Variable model(const Leaves& l, const Constants& c) {
  const Variable normalised = channel_affine(l.x, c.scale, c.shift);
  const Variable conv = conv2d(normalised, l.weight, l.bias, {1, 1, Padding::reflect});
  const Variable norm = instance_norm(conv, l.gamma, l.beta, 1e-5);
  const Variable a = activation(Activation::leaky_relu, norm, 0.2);
  const Variable pooled = pool2x2(Pool::max, a);
  const Variable h = add(upsample2x(pooled), a);
  const Variable t = activation(Activation::tanh, h);
  Variable loss = scale(mse_loss(t, c.target), 0.5);
  loss = add(loss, gram_mse_loss(t, c.target_gram));
  loss = add(loss, mse_loss(gram(t), c.gram_target));
  loss = add(loss, tv_loss(TvMode::sqrt, t, 1e-8));
  loss = add(loss, lsgan_g_loss(pooled));
  loss = add(loss, lsgan_d_loss(t, pooled));
  return loss;
}

double value_of(const Variable& v) { return v.value().to_host<double>()[0]; }

TEST(AutogradGradcheck, SmallGraphMatchesCentralDifferencesInDouble) {
  Leaves leaves = make_leaves(DType::float64);
  const Constants constants = make_constants(DType::float64);
  const Variable loss = model(leaves, constants);
  loss.backward();

  const double h = 1e-6, atol = 1e-8, rtol = 1e-6;
  for (Variable* leaf : leaves.all()) {
    ASSERT_TRUE(leaf->grad().defined()) << leaf->name();
    const std::vector<double> analytic = leaf->grad().to_host<double>();
    const std::vector<double> base = leaf->value().to_host<double>();
    const Variable original = *leaf;
    const NoGradGuard no_grad;
    for (std::size_t i = 0; i < base.size(); ++i) {
      std::vector<double> shifted = base;
      shifted[i] = base[i] + h;
      *leaf = Variable(tensor_like(shifted, original.value()));
      const double plus = value_of(model(leaves, constants));
      shifted[i] = base[i] - h;
      *leaf = Variable(tensor_like(shifted, original.value()));
      const double minus = value_of(model(leaves, constants));
      const double numeric = (plus - minus) / (2 * h);
      EXPECT_NEAR(analytic[i], numeric, atol + rtol * std::abs(numeric)) << leaf->name() << "[" << i << "]";
    }
    *leaf = original;
  }
}

TEST(AutogradAccumulation, ReusedVariableGetsTheSumOfItsGradients) {
  const Tensor xv = random_tensor({2, 3}, 11);
  const Variable x(xv, true, "x");
  // d/dx of mean((x + x)^2) + mean((3 x)^2) = (8 x + 18 x) / n; x reaches add twice with one shared dy tensor.
  const Tensor zeros = Tensor::zeros({2, 3}, DType::float64);
  const Variable loss = add(mse_loss(add(x, x), zeros), mse_loss(scale(x, 3.0), zeros));
  loss.backward();
  const auto g = x.grad().to_host<double>(), v = xv.to_host<double>();
  for (std::size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], 26 * v[i] / 6.0, 1e-14);

  // A leaf's gradient accumulates across backward() calls until zero_grad().
  add(mse_loss(add(x, x), zeros), mse_loss(scale(x, 3.0), zeros)).backward();
  const auto twice = x.grad().to_host<double>();
  for (std::size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(twice[i], 2 * g[i], 1e-14);
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(AutogradNoGrad, GuardRecordsNothing) {
  const Variable x(random_tensor({1, 1, 4, 4}, 12), true, "x");
  {
    const NoGradGuard guard;
    EXPECT_FALSE(grad_enabled());
    const Variable y = tv_loss(TvMode::squared, upsample2x(x));
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    EXPECT_THROW(y.backward(), gramgan::Error);
  }
  EXPECT_TRUE(grad_enabled());
  EXPECT_TRUE(tv_loss(TvMode::squared, x).requires_grad());
  // Nothing requiring grad: nothing recorded either.
  EXPECT_EQ(tv_loss(TvMode::squared, Variable(random_tensor({1, 1, 4, 4}, 13))).grad_fn(), nullptr);
}

TEST(AutogradFrozen, FrozenWeightsPassGradientsButLaunchNoWeightGradient) {
  const Variable x(random_tensor({1, 2, 5, 5}, 14), true, "x");
  const Variable weight(random_tensor({3, 2, 3, 3}, 15), false, "weight");
  const Variable bias(random_tensor({3}, 16), false, "bias");
  const Tensor target = Tensor::zeros({1, 3, 5, 5}, DType::float64);
  const Variable w2(random_tensor({3, 3, 1, 1}, 17), false, "w2");

  const auto before = conv2d_weight_gradient_launches();
  mse_loss(conv2d(conv2d(x, weight, bias, {1, 1, Padding::zeros}), w2, Variable(), {}), target).backward();
  EXPECT_EQ(conv2d_weight_gradient_launches(), before);
  EXPECT_TRUE(x.grad().defined());
  EXPECT_FALSE(weight.grad().defined());
  EXPECT_FALSE(bias.grad().defined());

  // Unfrozen, the same graph launches one weight-gradient kernel per conv whose weight needs it.
  Variable trainable = weight;
  trainable.set_requires_grad(true);
  mse_loss(conv2d(conv2d(x, trainable, bias, {1, 1, Padding::zeros}), w2, Variable(), {}), target).backward();
  EXPECT_EQ(conv2d_weight_gradient_launches(), before + 1);
  EXPECT_TRUE(trainable.grad().defined());
  EXPECT_FALSE(bias.grad().defined());
}

TEST(AutogradRelease, SavedTensorsGoAfterBackwardAndASecondBackwardThrows) {
  Tensor xv = random_tensor({1, 2, 4, 4}, 18);
  const Variable x(xv, true, "x");
  const Variable loss = tv_loss(TvMode::squared, pool2x2(Pool::average, x));  // holds x too
  const long held = xv.storage().use_count();
  const Variable y = mse_loss(conv2d(x, Variable(random_tensor({2, 2, 1, 1}, 19), true), Variable(), {}),
                              Tensor::zeros({1, 2, 4, 4}, DType::float64));
  EXPECT_GT(xv.storage().use_count(), held);  // conv saved x
  y.backward();
  EXPECT_EQ(xv.storage().use_count(), held);
  try {
    y.backward();
    ADD_FAILURE() << "a second backward through released nodes must throw";
  } catch (const gramgan::Error& e) {
    EXPECT_NE(std::string(e.what()).find("already backpropagated"), std::string::npos) << e.what();
  }
  loss.backward();  // an independent graph is unaffected
  EXPECT_TRUE(x.grad().defined());
}

TEST(AutogradDeterminism, TwoRunsAreBitwiseEqual) {
  std::vector<std::vector<float>> runs[2];
  for (auto& grads : runs) {
    Leaves leaves = make_leaves(DType::float32);
    model(leaves, make_constants(DType::float32)).backward();
    for (Variable* leaf : leaves.all()) grads.push_back(leaf->grad().to_host<float>());
  }
  EXPECT_EQ(runs[0], runs[1]);
}

}  // namespace
