// apps/gan: the generator, PatchGAN discriminator and VGG-19 features against their architectures (DESIGN.md
// section 4): output shapes, parameter counts from the layer list written out independently here, parameter
// names, and the frozen VGG (gradients reach the image, no weight-gradient kernel runs).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "apps/gan/models.h"
#include "apps/gan/vgg.h"
#include "autograd/functions.h"
#include "expect_error.h"

namespace {

using gramgan::DType;
using gramgan::Shape;
using gramgan::Tensor;
using gramgan::autograd::Variable;
using namespace gramgan::gan;

// Weights plus biases of a k x k convolution; instance norm adds gamma and beta per channel.
std::int64_t conv(std::int64_t in, std::int64_t out, std::int64_t k, bool bias) {
  return in * out * k * k + (bias ? out : 0);
}
std::int64_t norm(std::int64_t c) { return 2 * c; }

Variable random_images(int n, int h, int w, std::uint64_t seed) {
  Tensor t = Tensor::empty({n, 3, h, w});
  t.uniform_(seed, 0, 0.0, 1.0);
  return Variable(t, true);
}

void expect_unique_names(const std::vector<gramgan::autograd::nn::NamedParameter>& params) {
  std::set<std::string> names;
  for (const auto& p : params) EXPECT_TRUE(names.insert(p.name).second) << "duplicate parameter name " << p.name;
}

TEST(GanModels, GeneratorParameterCountMatchesTheArchitecture) {
  gramgan::RandomStream rng(1);
  Generator g(GeneratorOptions{}, rng);
  const std::int64_t w = 32;
  const std::int64_t expected = conv(3, w, 9, false) + norm(w) + conv(w, 2 * w, 3, false) + norm(2 * w) +
                                conv(2 * w, 4 * w, 3, false) + norm(4 * w) +
                                5 * 2 * (conv(4 * w, 4 * w, 3, false) + norm(4 * w)) + conv(4 * w, 2 * w, 3, false) +
                                norm(2 * w) + conv(2 * w, w, 3, false) + norm(w) + conv(w, 3, 9, true);
  EXPECT_EQ(expected, 1677635);
  EXPECT_EQ(parameter_count(g), expected);
  const auto params = g.named_parameters();
  expect_unique_names(params);
  EXPECT_EQ(params.front().name, "head.conv.weight");
  EXPECT_EQ(params.back().name, "tail.conv.bias");
}

TEST(GanModels, GeneratorKeepsTheImageShapeAndRange) {
  gramgan::RandomStream rng(2);
  Generator g(GeneratorOptions{.width = 4, .residual_blocks = 2}, rng);
  const Variable y = g(random_images(2, 16, 24, 3));
  EXPECT_EQ(y.value().shape(), Shape({2, 3, 16, 24}));
  for (float v : y.value().to_host<float>()) {
    EXPECT_GE(v, 0.0f);
    EXPECT_LE(v, 1.0f);
  }
  EXPECT_ERROR_MENTIONS(g(random_images(1, 18, 24, 4)), "multiples of 4");
}

TEST(GanModels, DiscriminatorParameterCountAndPatchMap) {
  gramgan::RandomStream rng(5);
  Discriminator d(DiscriminatorOptions{}, rng);
  const std::int64_t expected = conv(3, 64, 4, true) + conv(64, 128, 4, false) + norm(128) + conv(128, 256, 4, false) +
                                norm(256) + conv(256, 512, 4, false) + norm(512) + conv(512, 1, 4, true);
  EXPECT_EQ(expected, 2765633);
  EXPECT_EQ(parameter_count(d), expected);
  expect_unique_names(d.named_parameters());

  gramgan::RandomStream small_rng(6);
  Discriminator small(DiscriminatorOptions{.width = 4}, small_rng);
  // 4x4 kernels, padding 1: stride 2 halves (rounding down), stride 1 loses one: 32 -> 16 -> 8 -> 4 -> 3 -> 2.
  EXPECT_EQ(small(random_images(3, 32, 40, 7)).value().shape(), Shape({3, 1, 2, 3}));
  EXPECT_EQ(small(random_images(1, 24, 24, 8)).value().shape(), Shape({1, 1, 1, 1}));
  EXPECT_ERROR_MENTIONS(small(random_images(1, 23, 32, 9)), "at least 24");
}

TEST(GanModels, VggParameterCountNamesAndFeatureShapes) {
  const Vgg19Features vgg = Vgg19Features::random(10, gramgan::Pool::max, DType::float32, gramgan::Device::cpu());
  // torchvision vgg19().features holds 20,024,384 parameters; the last three 512x512 convs are past relu5_1.
  std::int64_t count = 0;
  for (const auto& p : vgg.named_parameters()) count += p.variable.value().numel();
  EXPECT_EQ(count, 20024384 - 3 * conv(512, 512, 3, true));
  const auto params = vgg.named_parameters();
  ASSERT_EQ(params.size(), 26u);
  EXPECT_EQ(params[0].name, "features.0.weight");
  EXPECT_EQ(params[25].name, "features.28.bias");
  for (const auto& p : params) EXPECT_FALSE(p.variable.requires_grad()) << p.name;

  const auto features =
      vgg.forward(random_images(2, 32, 48, 11), {"relu1_1", "relu2_1", "relu3_1", "relu4_2", "relu5_1"});
  EXPECT_EQ(features.at("relu1_1").value().shape(), Shape({2, 64, 32, 48}));
  EXPECT_EQ(features.at("relu2_1").value().shape(), Shape({2, 128, 16, 24}));
  EXPECT_EQ(features.at("relu3_1").value().shape(), Shape({2, 256, 8, 12}));
  EXPECT_EQ(features.at("relu4_2").value().shape(), Shape({2, 512, 4, 6}));
  EXPECT_EQ(features.at("relu5_1").value().shape(), Shape({2, 512, 2, 3}));
  EXPECT_ERROR_MENTIONS(vgg.forward(random_images(1, 32, 32, 12), {"relu6_1"}), "relu6_1");
}

TEST(GanModels, FrozenVggPassesGradientsWithoutWeightGradients) {
  const Vgg19Features vgg = Vgg19Features::random(13, gramgan::Pool::average, DType::float32, gramgan::Device::cpu());
  Variable image = random_images(1, 16, 16, 14);
  const auto features = vgg.forward(image, {"relu2_1"});
  const Tensor target = Tensor::zeros(features.at("relu2_1").value().shape());
  const std::uint64_t before = gramgan::autograd::conv2d_weight_gradient_launches();
  gramgan::autograd::mse_loss(features.at("relu2_1"), target).backward();
  EXPECT_EQ(gramgan::autograd::conv2d_weight_gradient_launches(), before);
  ASSERT_TRUE(image.grad().defined());
  double norm = 0;
  for (float g : image.grad().to_host<float>()) norm += double(g) * g;
  EXPECT_GT(norm, 0.0);
}

}  // namespace
