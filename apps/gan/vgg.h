// VGG-19 feature extractor phi up to relu5_1 (Simonyan & Zisserman 2015, configuration E), frozen: its parameters
// never require grad, so no weight-gradient kernel ever runs for it, while gradients still flow to its input.
//
// Input: images in [0, 1], (N, 3, H, W); the ImageNet mean/std normalisation is the first op. Layers are named as
// in the style-transfer literature (relu1_1 ... relu5_1); parameters as in torchvision (features.N.weight/bias,
// N the index in torchvision's vgg19().features), which is how pretrained files name them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "autograd/nn.h"

namespace gramgan::gan {

using autograd::Variable;
namespace nn = autograd::nn;

// The --vgg value that asks for seeded random weights (Vgg19Features::random) instead of a file.
inline constexpr const char* kRandomVgg = "random";

class Vgg19Features {
 public:
  // Four 2x2 poolings come before relu5_1, so smaller inputs leave no pixel there.
  static constexpr int kMinSide = 16;

  // The layer names forward() accepts, shallow to deep.
  static const std::vector<std::string>& layer_names();

  // He-initialised weights (normal, std sqrt(2 / fan_in); zero biases) drawn from `seed`: a stand-in for machines
  // without the pretrained file. Its features are not ImageNet features; style transfer with it is much weaker.
  static Vgg19Features random(std::uint64_t seed, Pool pool, DType dtype, const Device& device);
  // The 13 convolutions up to relu5_1 from a safetensors file with torchvision key names (e.g. timm's
  // vgg19.tv_in1k model.safetensors; weights/fetch_vgg19.sh). Only those tensors are read. A missing file, key,
  // or a wrong shape or dtype throws gramgan::Error saying what is wrong and how to get the file.
  static Vgg19Features load(const std::string& path, Pool pool, DType dtype, const Device& device);

  // Features at each requested layer, running only as deep as the deepest one. Unknown names throw.
  std::map<std::string, Variable> forward(const Variable& images, const std::vector<std::string>& layers) const;

  std::vector<nn::NamedParameter> named_parameters() const;
  // The arithmetic of the 13 convolutions (nn::Module::set_precision).
  void set_precision(Precision precision) {
    for (Conv& c : convs_) c.conv->set_precision(precision);
  }
  Pool pool() const { return pool_; }

 private:
  Vgg19Features(Pool pool, DType dtype, const Device& device);
  struct Conv {
    int features_index;  // torchvision's index
    std::string relu;    // the layer name of the ReLU after it
    bool pool_before;    // a 2x2 pool precedes this convolution
    std::shared_ptr<nn::Conv2d> conv;
  };
  std::vector<Conv> convs_;
  Pool pool_;
  Tensor mean_scale_, mean_shift_;  // (x - mean) / std as x * scale + shift, per channel
};

// Checks a list of layer names; throws gramgan::Error naming the bad one and the valid ones.
void check_vgg_layers(const std::vector<std::string>& layers, const std::string& option);

}  // namespace gramgan::gan
