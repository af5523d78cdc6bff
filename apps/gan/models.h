// The three networks of the GAN (DESIGN.md section 4): the generator G (Johnson et al. 2016), the PatchGAN
// discriminator D (CycleGAN's 70x70 PatchGAN), and the frozen VGG-19 feature extractor phi (vgg.h).
//
// Parameter names are the checkpoint keys, so they are part of the file format: renaming one breaks old files.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "autograd/nn.h"

namespace gramgan::gan {

using autograd::Variable;
namespace nn = autograd::nn;

// A network whose parameters are those of its body, named as the body names them ("head.conv.weight").
class SequentialBody : public nn::Module {
 public:
  void set_precision(Precision precision) override { body_.set_precision(precision); }

 protected:
  void collect(const std::string& prefix, std::vector<nn::NamedParameter>& out) const override;
  nn::Sequential body_;
};

struct GeneratorOptions {
  int width = 32;  // channels of the first layer; 2x and 4x after the two downsamplings
  int residual_blocks = 5;
};

// c9s1-w, d2w, d4w, residual_blocks x R4w, u2w, uw, c9s1-3, then tanh mapped to [0, 1]. Reflection padding,
// affine instance norm and ReLU; upsampling is nearest x2 then a 3x3 conv (no transposed convolutions: they leave
// checkerboard artifacts). Convolutions followed by instance norm have no bias (the norm removes it).
// Input (N, 3, H, W) in [0, 1] with H and W multiples of kStride and at least kMinSide; output the same shape.
class Generator : public SequentialBody {
 public:
  static constexpr int kStride = 4;   // two stride-2 downsamplings
  static constexpr int kMinSide = 8;  // the 3x3 reflection pads at H/4 need H/4 >= 2
  Generator(const GeneratorOptions& options, RandomStream& rng, DType dtype = DType::float32,
            const Device& device = Device::cpu());
  Variable forward(const Variable& x) override;
  Variable forward(const Variable& x, const nn::Sequential::LayerDone& on_layer_done,
                   const nn::Sequential::LayerOutput& on_layer_output = {});
  const GeneratorOptions& options() const { return options_; }

 private:
  GeneratorOptions options_;
};

struct DiscriminatorOptions {
  int width = 64;  // C64-C128-C256-C512 by default
};

// C(w) s2 - C(2w) s2 - C(4w) s2 - C(8w) s1 - conv to 1 channel s1; 4x4 kernels, zero padding 1, LeakyReLU 0.2,
// instance norm on every layer but the first; outputs a patch map (N, 1, h, w), one score per receptive field.
// Inputs must be at least kMinSide on each side so that the patch map is not empty.
class Discriminator : public SequentialBody {
 public:
  static constexpr int kMinSide = 24;
  Discriminator(const DiscriminatorOptions& options, RandomStream& rng, DType dtype = DType::float32,
                const Device& device = Device::cpu());
  Variable forward(const Variable& x) override;
  // `on_layer_output` hears each layer's output (nn::Sequential::LayerOutput).
  Variable forward(const Variable& x, const nn::Sequential::LayerOutput& on_layer_output);
  const DiscriminatorOptions& options() const { return options_; }

 private:
  DiscriminatorOptions options_;
};

// Total number of elements over a module's parameters.
std::int64_t parameter_count(const nn::Module& module);

}  // namespace gramgan::gan
