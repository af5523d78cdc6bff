#include "apps/gan/models.h"

#include <optional>

#include "engine/error.h"

namespace gramgan::gan {
namespace {

using nn::Conv2dOptions;

// What conv_block builds: conv -> [instance norm] -> [activation], parameters named "conv.*" and "norm.*".
struct ConvBlock {
  int in = 0, out = 0, kernel = 0;
  Conv2dOptions conv;
  bool instance_norm = true;
  std::optional<Activation> activation = std::nullopt;  // none: the conv's output (or the norm's) is the block's
};

// Where new layers take their initial values from, and their dtype and device.
struct LayerInit {
  RandomStream& rng;
  DType dtype;
  Device device;
};

std::shared_ptr<nn::Sequential> conv_block(const ConvBlock& spec, LayerInit& init) {
  auto block = std::make_shared<nn::Sequential>();
  block->add(std::make_shared<nn::Conv2d>(spec.in, spec.out, spec.kernel, spec.conv, init.rng, init.dtype, init.device),
             "conv");
  if (spec.instance_norm)
    block->add(std::make_shared<nn::InstanceNorm2d>(spec.out, 1e-5, init.dtype, init.device), "norm");
  if (spec.activation) block->add(std::make_shared<nn::ActivationLayer>(*spec.activation, 0.2), "act");
  return block;
}

// x + IN(conv(ReLU(IN(conv(x))))), 3x3 reflection-padded convs (Johnson et al.'s residual block, without a ReLU
// after the sum, as in CycleGAN). The input is used twice; autograd adds its two gradients.
class ResidualBlock : public SequentialBody {
 public:
  ResidualBlock(int channels, LayerInit& init) {
    const Conv2dOptions conv{.stride = 1, .pad = 1, .padding = Padding::reflect, .bias = false};
    body_.add(
        conv_block({.in = channels, .out = channels, .kernel = 3, .conv = conv, .activation = Activation::relu}, init),
        "0");
    body_.add(conv_block({.in = channels, .out = channels, .kernel = 3, .conv = conv}, init), "1");
  }
  Variable forward(const Variable& x) override { return autograd::add(x, body_.forward(x)); }
};

}  // namespace

void SequentialBody::collect(const std::string& prefix, std::vector<nn::NamedParameter>& out) const {
  for (nn::NamedParameter& p : body_.named_parameters()) out.push_back({prefix + p.name, std::move(p.variable)});
}

// ---- Generator ---------------------------------------------------------------------------------------------------

Generator::Generator(const GeneratorOptions& options, RandomStream& rng, DType dtype, const Device& device)
    : options_(options) {
  const int w = options.width;
  if (w < 1 || options.residual_blocks < 0)
    throw Error("generator: width must be >= 1 and residual blocks >= 0; got width " + std::to_string(w) + ", blocks " +
                std::to_string(options.residual_blocks));
  LayerInit init{rng, dtype, device};
  const Activation relu = Activation::relu;
  const Conv2dOptions c9{.stride = 1, .pad = 4, .padding = Padding::reflect, .bias = false};
  const Conv2dOptions down{.stride = 2, .pad = 1, .padding = Padding::reflect, .bias = false};
  // The decoder's nearest 2x upsamplings are read by the convs that follow them (Conv2dOptions::upsample), so the
  // 4x-size upsampled activations are never stored.
  const Conv2dOptions up{.stride = 1, .pad = 1, .padding = Padding::reflect, .bias = false, .upsample = true};
  body_.add(conv_block({.in = 3, .out = w, .kernel = 9, .conv = c9, .activation = relu}, init), "head");
  body_.add(conv_block({.in = w, .out = 2 * w, .kernel = 3, .conv = down, .activation = relu}, init), "down1");
  body_.add(conv_block({.in = 2 * w, .out = 4 * w, .kernel = 3, .conv = down, .activation = relu}, init), "down2");
  for (int i = 0; i < options.residual_blocks; ++i)
    body_.add(std::make_shared<ResidualBlock>(4 * w, init), "res" + std::to_string(i + 1));
  body_.add(conv_block({.in = 4 * w, .out = 2 * w, .kernel = 3, .conv = up, .activation = relu}, init), "up1");
  body_.add(conv_block({.in = 2 * w, .out = w, .kernel = 3, .conv = up, .activation = relu}, init), "up2");
  const Conv2dOptions c9_bias{.stride = 1, .pad = 4, .padding = Padding::reflect, .bias = true};
  body_.add(conv_block({.in = w,
                        .out = 3,
                        .kernel = 9,
                        .conv = c9_bias,
                        .instance_norm = false,
                        .activation = Activation::tanh_unit},
                       init),
            "tail");
}

Variable Generator::forward(const Variable& x) { return forward(x, {}); }

Variable Generator::forward(const Variable& x, const nn::Sequential::LayerDone& on_layer_done,
                            const nn::Sequential::LayerOutput& on_layer_output) {
  const Shape& s = x.value().shape();
  if (s.ndim() != 4 || s[1] != 3 || s[2] % kStride != 0 || s[3] % kStride != 0 || s[2] < kMinSide || s[3] < kMinSide)
    throw Error("generator: input must be (N, 3, H, W) with H and W multiples of " + std::to_string(kStride) +
                " and at least " + std::to_string(kMinSide) + "; got " + s.to_string());
  const autograd::LayerScope scope("G");
  return body_.forward(x, on_layer_done, on_layer_output);
}

// ---- Discriminator -----------------------------------------------------------------------------------------------

Discriminator::Discriminator(const DiscriminatorOptions& options, RandomStream& rng, DType dtype, const Device& device)
    : options_(options) {
  const int w = options.width;
  if (w < 1) throw Error("discriminator: width must be >= 1; got " + std::to_string(w));
  LayerInit init{rng, dtype, device};
  const Activation leaky = Activation::leaky_relu;
  const Conv2dOptions s2_bias{.stride = 2, .pad = 1, .padding = Padding::zeros, .bias = true};
  const Conv2dOptions s2{.stride = 2, .pad = 1, .padding = Padding::zeros, .bias = false};
  const Conv2dOptions s1{.stride = 1, .pad = 1, .padding = Padding::zeros, .bias = false};
  const Conv2dOptions s1_bias{.stride = 1, .pad = 1, .padding = Padding::zeros, .bias = true};
  body_.add(
      conv_block({.in = 3, .out = w, .kernel = 4, .conv = s2_bias, .instance_norm = false, .activation = leaky}, init),
      "layer1");
  body_.add(conv_block({.in = w, .out = 2 * w, .kernel = 4, .conv = s2, .activation = leaky}, init), "layer2");
  body_.add(conv_block({.in = 2 * w, .out = 4 * w, .kernel = 4, .conv = s2, .activation = leaky}, init), "layer3");
  body_.add(conv_block({.in = 4 * w, .out = 8 * w, .kernel = 4, .conv = s1, .activation = leaky}, init), "layer4");
  body_.add(conv_block({.in = 8 * w, .out = 1, .kernel = 4, .conv = s1_bias, .instance_norm = false}, init), "out");
}

Variable Discriminator::forward(const Variable& x) { return forward(x, nn::Sequential::LayerOutput{}); }

Variable Discriminator::forward(const Variable& x, const nn::Sequential::LayerOutput& on_layer_output) {
  const Shape& s = x.value().shape();
  if (s.ndim() != 4 || s[1] != 3 || s[2] < kMinSide || s[3] < kMinSide)
    throw Error("discriminator: input must be (N, 3, H, W) with H and W at least " + std::to_string(kMinSide) +
                "; got " + s.to_string());
  const autograd::LayerScope scope("D");
  return body_.forward(x, {}, on_layer_output);
}

std::int64_t parameter_count(const nn::Module& module) {
  std::int64_t count = 0;
  for (const nn::NamedParameter& p : module.named_parameters()) count += p.variable.value().numel();
  return count;
}

}  // namespace gramgan::gan
