// autograd/nn.h: layers against the functional ops, parameter names, freezing, inference in place, and Adam
// against the raw launcher and on a small fitting problem.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "autograd/nn.h"
#include "engine/memory.h"
#include "kernels/launchers.h"

namespace {

using gramgan::Activation;
using gramgan::DType;
using gramgan::Padding;
using gramgan::RandomStream;
using gramgan::Tensor;
using namespace gramgan::autograd;

Tensor random_tensor(const gramgan::Shape& shape, std::uint64_t seed, DType dtype = DType::float64) {
  Tensor t = Tensor::empty(shape, dtype);
  t.uniform_(seed, 0, -1.0, 1.0);
  return t;
}

std::shared_ptr<nn::Sequential> small_net(RandomStream& rng) {
  auto net = std::make_shared<nn::Sequential>();
  net->add(std::make_shared<nn::Conv2d>(2, 4, 3, nn::Conv2dOptions{1, 1, Padding::reflect, true}, rng, DType::float64));
  net->add(std::make_shared<nn::InstanceNorm2d>(4, 1e-5, DType::float64), "norm");
  net->add(std::make_shared<nn::ActivationLayer>(Activation::leaky_relu, 0.2));
  net->add(std::make_shared<nn::Pool2x2>(gramgan::Pool::average));
  net->add(std::make_shared<nn::Upsample2x>());
  net->add(std::make_shared<nn::Conv2d>(4, 2, 1, nn::Conv2dOptions{}, rng, DType::float64), "out");
  return net;
}

TEST(AutogradNn, LayersMatchTheFunctionalOpsAndNameTheirParameters) {
  RandomStream rng(42);
  const auto net = small_net(rng);
  std::vector<std::string> names;
  for (const auto& p : net->named_parameters()) names.push_back(p.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"0.weight", "0.bias", "norm.gamma", "norm.beta", "out.weight", "out.bias"}));

  const Variable x(random_tensor({2, 2, 6, 6}, 1));
  const auto params = net->parameters();
  const Variable expected =
      conv2d(upsample2x(pool2x2(gramgan::Pool::average,
                                activation(Activation::leaky_relu,
                                           instance_norm(conv2d(x, params[0], params[1], {1, 1, Padding::reflect}),
                                                         params[2], params[3], 1e-5),
                                           0.2))),
             params[4], params[5], {});
  EXPECT_EQ(net->forward(x).value().to_host<double>(), expected.value().to_host<double>());

  // Same seed, same initial weights.
  RandomStream again(42);
  EXPECT_EQ(small_net(again)->parameters()[4].value().to_host<double>(), params[4].value().to_host<double>());
}

TEST(AutogradNn, FrozenModuleGetsNoGradientsButPassesThem) {
  RandomStream rng(7);
  const auto net = small_net(rng);
  net->set_requires_grad(false);
  const Variable x(random_tensor({1, 2, 4, 4}, 2), true, "x");
  const auto before = conv2d_weight_gradient_launches();
  mse_loss(net->forward(x), Tensor::zeros({1, 2, 4, 4}, DType::float64)).backward();
  EXPECT_EQ(conv2d_weight_gradient_launches(), before);
  EXPECT_TRUE(x.grad().defined());
  for (const auto& p : net->named_parameters()) EXPECT_FALSE(p.variable.grad().defined()) << p.name;
}

// With grad mode off, Sequential runs the norm and the activation over the conv's output in place: the same bits
// as the recorded forward, and the caller's input untouched.
TEST(AutogradNn, InferenceInPlaceGivesTheRecordedForwardsBits) {
  RandomStream rng(5);
  const auto net = small_net(rng);
  const Variable x(random_tensor({2, 2, 6, 6}, 3));
  const std::vector<double> input = x.value().to_host<double>();
  const std::vector<double> recorded = net->forward(x).value().to_host<double>();
  const NoGradGuard no_grad;
  EXPECT_EQ(net->forward(x).value().to_host<double>(), recorded);
  EXPECT_EQ(x.value().to_host<double>(), input);
}

// Upsample, norm, ReLU without grad: the norm and the ReLU write over the upsampled tensor, so the peak (counted
// by a MemoryPlan) is that tensor and the norm's per-plane statistics, not two full-size tensors. A value that a
// callback keeps is another holder: the next layer then writes a new tensor and the kept one keeps its values.
TEST(AutogradNn, InferenceNeedsNoSecondFullSizeTensorAndSparesValuesHeldElsewhere) {
  nn::Sequential net;
  net.add(std::make_shared<nn::Upsample2x>(), "up");
  net.add(std::make_shared<nn::InstanceNorm2d>(4, 1e-5, DType::float32), "norm");
  net.add(std::make_shared<nn::ActivationLayer>(Activation::relu), "relu");
  const Variable x(random_tensor({2, 4, 16, 16}, 8, DType::float32));
  const std::size_t upsampled = 2 * 4 * 32 * 32 * sizeof(float), statistics = 2 * (2 * 4 * sizeof(float));
  const NoGradGuard no_grad;
  {
    const gramgan::MemoryPlan plan;
    net.forward(x);
    EXPECT_EQ(plan.peak(), upsampled + statistics);
  }
  Variable kept;
  const Variable y = net.forward(x, {}, [&](const std::string& name, const nn::Module&, const Variable& output) {
    if (name == "up") kept = output;
  });
  EXPECT_EQ(kept.value().to_host<float>(), upsample2x(x).value().to_host<float>());
  EXPECT_NE(y.value().to_host<float>(), kept.value().to_host<float>());
}

TEST(AutogradNn, AdamMatchesTheRawLauncherAndSkipsParametersWithoutGrad) {
  const Tensor grad = random_tensor({17}, 3);
  Variable p(random_tensor({17}, 4), true, "p"), untouched(random_tensor({5}, 5), true, "untouched");
  const auto untouched_before = untouched.value().to_host<double>();
  Tensor raw = p.value().clone(), m = Tensor::zeros({17}, DType::float64), v = Tensor::zeros({17}, DType::float64);

  nn::Adam adam({p, untouched}, {1e-2, 0.9, 0.999, 1e-8, 0.0, 99});
  for (long long step = 1; step <= 2; ++step) {
    p.zero_grad();
    p.backward(grad);  // a leaf: its grad becomes the seed
    adam.step();
    gramgan::AdamConfig config{1e-2, 0.9, 0.999, 1e-8, 0.0, step};
    gramgan::sim::adam_step(config, 17, raw.data<double>(), grad.data<double>(), m.data<double>(), v.data<double>(),
                            nullptr);
  }
  EXPECT_EQ(adam.steps(), 2);
  EXPECT_EQ(p.value().to_host<double>(), raw.to_host<double>());
  EXPECT_EQ(untouched.value().to_host<double>(), untouched_before);
}

TEST(AutogradNn, AdamFitsASmallNetwork) {
  RandomStream rng(11);
  const auto net = small_net(rng);
  const Variable x(random_tensor({2, 2, 4, 4}, 6));
  // A target the architecture can reach: a teacher network of its own seed.
  RandomStream teacher_rng(12);
  Tensor target;
  {
    const NoGradGuard no_grad;
    target = small_net(teacher_rng)->forward(x).value();
  }
  nn::Adam adam(net->parameters(), {2e-2, 0.9, 0.999, 1e-8, 0.0, 1});
  double first = 0, last = 0;
  for (int step = 0; step < 20; ++step) {
    adam.zero_grad();
    const Variable loss = mse_loss(net->forward(x), target);
    loss.backward();
    adam.step();
    (step == 0 ? first : last) = loss.value().to_host<double>()[0];
  }
  EXPECT_LT(last, 0.1 * first);
}

}  // namespace
