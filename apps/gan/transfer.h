// Gatys-style style transfer (Gatys, Ecker, Bethge 2016): no generator and no discriminator; the output image's
// pixels are optimised directly with Adam on l1 content + l2 style + l4 TV (the same losses as training). The
// pixels are parameterised as tanh_unit(z), so they stay in [0, 1] without clamping; z starts at the content
// image. The classic baseline, and a fast demo.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "apps/gan/losses.h"
#include "apps/gan/objective.h"
#include "engine/io/image.h"

namespace gramgan::gan {

struct TransferConfig {
  // train's weights and layers
  double lambda_content = LossWeights{}.content, lambda_style = LossWeights{}.style, lambda_tv = LossWeights{}.tv;
  std::vector<std::string> content_layers = kDefaultContentLayers;
  std::vector<std::string> style_layers = kDefaultStyleLayers;
  TvMode tv_mode = TvMode::sqrt;
  int steps = 200;
  double lr = 0.05;  // on z, where d pixel / dz <= 1/2
};

struct TransferStep {
  int step = 0;  // 1-based
  double content = 0, style = 0, tv = 0, total = 0;
};

// `content` and `style` at the sizes to use (the caller scales them). Returns the stylised image. `stop` is polled
// between steps (a signal); when it says stop, the image of the last finished step is returned.
Image transfer(const Vgg19Features& vgg, const Image& content, const Image& style, const TransferConfig& config,
               DType dtype, const Device& device, const std::function<void(const TransferStep&)>& on_step = {},
               const std::function<bool()>& stop = {});

}  // namespace gramgan::gan
