// Gatys-style style transfer (Gatys, Ecker, Bethge 2016): no generator and no discriminator; the output image's
// pixels are optimised directly with Adam on l1 content + l2 style + l4 TV (the same losses as training). The
// pixels are parameterised as tanh_unit(z), so they stay in [0, 1] without clamping; z starts at the content
// image. The classic baseline, and a fast demo.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "apps/gan/losses.h"
#include "engine/io/image.h"

namespace gramgan::gan {

struct TransferConfig {
  double lambda_content = 1.0, lambda_style = 5e3, lambda_tv = 0.1;  // as train's (apps/gan/trainer.h)
  std::vector<std::string> content_layers{"relu4_2"};
  std::vector<std::string> style_layers{"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"};
  TvMode tv_mode = TvMode::sqrt;
  int steps = 200;
  double lr = 0.05;  // on z, where d pixel / dz <= 1/2
};

struct TransferStep {
  int step = 0;  // 1-based
  double content = 0, style = 0, tv = 0, total = 0;
};

// `content` and `style` at the sizes to use (the caller scales them). Returns the stylised image.
Image transfer(const Vgg19Features& vgg, const Image& content, const Image& style, const TransferConfig& config,
               DType dtype, const Device& device, const std::function<void(const TransferStep&)>& on_step = {});

}  // namespace gramgan::gan
