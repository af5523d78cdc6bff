// The arbitrary-style generator G(x, y) (Huang & Belongie 2017, "Arbitrary Style Transfer in Real-time with
// Adaptive Instance Normalization"), DESIGN.md section 4:
//
//   f = VGG-19 to relu4_1 (the frozen loss network, vgg.h)      t = AdaIN(f(x), f(y))
//   G(x, y) = g(alpha t + (1 - alpha) f(x))                      alpha in [0, 1]: style strength (1 in training)
//
// AdaIN gives every channel of the content features the mean and standard deviation of the style features'
// channel. Only the decoder g is trained; it mirrors f (apps/README.md lists its layers): 3x3 reflection-padded
// convolutions with ReLU, nearest 2x upsampling where f pools, no normalisation, and a linear last layer (as the
// paper's; images are clamped to [0, 1] when written).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "apps/gan/models.h"
#include "apps/gan/vgg.h"

namespace gramgan::gan {

// The VGG layer AdaIN works at, and the channels there.
inline constexpr const char* kAdainLayer = "relu4_1";
inline constexpr int kAdainChannels = 512;

struct DecoderOptions {
  // Channels of the narrowest level (next to the image), as VGG's 64 there; 2x and 4x at the deeper levels. The
  // first convolution always takes relu4_1's 512 channels.
  int width = 64;
};

// relu4_1 features (N, 512, H/8, W/8) -> image (N, 3, H, W); w = width:
//   dec4_1 512->4w, up3, dec3_4 4w->4w, dec3_3 4w->4w, dec3_2 4w->4w, dec3_1 4w->2w,
//   up2, dec2_2 2w->2w, dec2_1 2w->w, up1, dec1_2 w->w, dec1_1 w->3 (no ReLU).
// He-initialised weights (normal, std sqrt(2 / fan_in)), zero biases.
class AdainDecoder : public SequentialBody {
 public:
  static constexpr int kStride = 8;    // three 2x upsamplings (and VGG's three poolings before relu4_1)
  static constexpr int kMinSide = 16;  // relu4_1 at H/8 needs 2 pixels for the 3x3 reflection pads
  AdainDecoder(const DecoderOptions& options, RandomStream& rng, DType dtype = DType::float32,
               const Device& device = Device::cpu());
  Variable forward(const Variable& features) override;
  Variable forward(const Variable& features, const nn::Sequential::LayerDone& on_layer_done,
                   const nn::Sequential::LayerOutput& on_layer_output = {});
  const DecoderOptions& options() const { return options_; }

 private:
  DecoderOptions options_;
};

// relu4_1 features of images (N, 3, H, W), without a graph.
Tensor encode(const Vgg19Features& vgg, const Tensor& images);
// alpha AdaIN(content_features, style_features) + (1 - alpha) content_features, without a graph: the decoder's
// input. The batches pair item by item.
Tensor adain_target(const Tensor& content_features, const Tensor& style_features, double alpha = 1.0);

// What identifies a VGG-19 for a model file: "random:<seed>" for --vgg random, else "fnv1a64:<16 hex digits>" of
// the weights file's bytes. A model trained with one VGG decodes only that VGG's features.
std::string vgg_identity(const std::string& vgg, std::uint64_t random_seed);
// The seed of a "random:<seed>" identity; throws a gramgan::Error naming `model` for anything else malformed.
std::uint64_t random_vgg_seed(const std::string& identity, const std::string& model);
// Checks that `vgg` (a path or "random") with `random_seed` is the VGG `identity` names; throws a one-line
// gramgan::Error otherwise. `model` names the model file in the message.
void check_vgg_identity(const std::string& model, const std::string& identity, const std::string& vgg,
                        std::uint64_t random_seed);

}  // namespace gramgan::gan
