#include "apps/gan/models.h"

#include "engine/error.h"

namespace gramgan::gan {
namespace {

using nn::Conv2dOptions;

// conv -> [instance norm] -> [activation], parameters named "conv.*" and "norm.*".
std::shared_ptr<nn::Sequential> conv_block(int in, int out, int kernel, const Conv2dOptions& conv, bool norm,
                                           const Activation* activation, RandomStream& rng, DType dtype,
                                           const Device& device) {
  auto block = std::make_shared<nn::Sequential>();
  block->add(std::make_shared<nn::Conv2d>(in, out, kernel, conv, rng, dtype, device), "conv");
  if (norm) block->add(std::make_shared<nn::InstanceNorm2d>(out, 1e-5, dtype, device), "norm");
  if (activation) block->add(std::make_shared<nn::ActivationLayer>(*activation, 0.2), "act");
  return block;
}

void append_prefixed(const nn::Module& module, const std::string& prefix, std::vector<nn::NamedParameter>& out) {
  for (nn::NamedParameter& p : module.named_parameters()) out.push_back({prefix + p.name, std::move(p.variable)});
}

// x + IN(conv(ReLU(IN(conv(x))))), 3x3 reflection-padded convs (Johnson et al.'s residual block, without a ReLU
// after the sum, as in CycleGAN). The input is used twice; autograd adds its two gradients.
class ResidualBlock : public nn::Module {
 public:
  ResidualBlock(int channels, RandomStream& rng, DType dtype, const Device& device) {
    const Conv2dOptions conv{.stride = 1, .pad = 1, .padding = Padding::reflect, .bias = false};
    const Activation relu = Activation::relu;
    body_.add(conv_block(channels, channels, 3, conv, true, &relu, rng, dtype, device), "0");
    body_.add(conv_block(channels, channels, 3, conv, true, nullptr, rng, dtype, device), "1");
  }
  Variable forward(const Variable& x) override { return autograd::add(x, body_.forward(x)); }

 protected:
  void collect(const std::string& prefix, std::vector<nn::NamedParameter>& out) const override {
    append_prefixed(body_, prefix, out);
  }

 private:
  nn::Sequential body_;
};

}  // namespace

// ---- Generator ---------------------------------------------------------------------------------------------------

Generator::Generator(const GeneratorOptions& options, RandomStream& rng, DType dtype, const Device& device)
    : options_(options) {
  const int w = options.width;
  if (w < 1 || options.residual_blocks < 0)
    throw Error("generator: width must be >= 1 and residual blocks >= 0; got width " + std::to_string(w) + ", blocks " +
                std::to_string(options.residual_blocks));
  const Activation relu = Activation::relu;
  const Conv2dOptions c9{.stride = 1, .pad = 4, .padding = Padding::reflect, .bias = false};
  const Conv2dOptions down{.stride = 2, .pad = 1, .padding = Padding::reflect, .bias = false};
  const Conv2dOptions c3{.stride = 1, .pad = 1, .padding = Padding::reflect, .bias = false};
  body_.add(conv_block(3, w, 9, c9, true, &relu, rng, dtype, device), "head");
  body_.add(conv_block(w, 2 * w, 3, down, true, &relu, rng, dtype, device), "down1");
  body_.add(conv_block(2 * w, 4 * w, 3, down, true, &relu, rng, dtype, device), "down2");
  for (int i = 0; i < options.residual_blocks; ++i)
    body_.add(std::make_shared<ResidualBlock>(4 * w, rng, dtype, device), "res" + std::to_string(i + 1));
  body_.add(std::make_shared<nn::Upsample2x>(), "upsample1");
  body_.add(conv_block(4 * w, 2 * w, 3, c3, true, &relu, rng, dtype, device), "up1");
  body_.add(std::make_shared<nn::Upsample2x>(), "upsample2");
  body_.add(conv_block(2 * w, w, 3, c3, true, &relu, rng, dtype, device), "up2");
  const Activation tanh_unit = Activation::tanh_unit;
  body_.add(conv_block(w, 3, 9, {.stride = 1, .pad = 4, .padding = Padding::reflect, .bias = true}, false, &tanh_unit,
                       rng, dtype, device),
            "tail");
}

Variable Generator::forward(const Variable& x) {
  const Shape& s = x.value().shape();
  if (s.ndim() != 4 || s[1] != 3 || s[2] % kStride != 0 || s[3] % kStride != 0 || s[2] < kMinSide || s[3] < kMinSide)
    throw Error("generator: input must be (N, 3, H, W) with H and W multiples of " + std::to_string(kStride) +
                " and at least " + std::to_string(kMinSide) + "; got " + s.to_string());
  const autograd::LayerScope scope("G");
  return body_.forward(x);
}

void Generator::collect(const std::string& prefix, std::vector<nn::NamedParameter>& out) const {
  append_prefixed(body_, prefix, out);
}

// ---- Discriminator -----------------------------------------------------------------------------------------------

Discriminator::Discriminator(const DiscriminatorOptions& options, RandomStream& rng, DType dtype,
                             const Device& device)
    : options_(options) {
  const int w = options.width;
  if (w < 1) throw Error("discriminator: width must be >= 1; got " + std::to_string(w));
  const Activation leaky = Activation::leaky_relu;
  const Conv2dOptions s2_bias{.stride = 2, .pad = 1, .padding = Padding::zeros, .bias = true};
  const Conv2dOptions s2{.stride = 2, .pad = 1, .padding = Padding::zeros, .bias = false};
  const Conv2dOptions s1{.stride = 1, .pad = 1, .padding = Padding::zeros, .bias = false};
  const Conv2dOptions s1_bias{.stride = 1, .pad = 1, .padding = Padding::zeros, .bias = true};
  body_.add(conv_block(3, w, 4, s2_bias, false, &leaky, rng, dtype, device), "layer1");
  body_.add(conv_block(w, 2 * w, 4, s2, true, &leaky, rng, dtype, device), "layer2");
  body_.add(conv_block(2 * w, 4 * w, 4, s2, true, &leaky, rng, dtype, device), "layer3");
  body_.add(conv_block(4 * w, 8 * w, 4, s1, true, &leaky, rng, dtype, device), "layer4");
  body_.add(conv_block(8 * w, 1, 4, s1_bias, false, nullptr, rng, dtype, device), "out");
}

Variable Discriminator::forward(const Variable& x) {
  const Shape& s = x.value().shape();
  if (s.ndim() != 4 || s[1] != 3 || s[2] < kMinSide || s[3] < kMinSide)
    throw Error("discriminator: input must be (N, 3, H, W) with H and W at least " + std::to_string(kMinSide) +
                "; got " + s.to_string());
  const autograd::LayerScope scope("D");
  return body_.forward(x);
}

void Discriminator::collect(const std::string& prefix, std::vector<nn::NamedParameter>& out) const {
  append_prefixed(body_, prefix, out);
}

std::int64_t parameter_count(const nn::Module& module) {
  std::int64_t count = 0;
  for (const nn::NamedParameter& p : module.named_parameters()) count += p.variable.value().numel();
  return count;
}

}  // namespace gramgan::gan
