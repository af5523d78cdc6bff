#include "apps/gan/transfer.h"

#include <algorithm>
#include <cmath>

#include "apps/gan/dataset.h"
#include "autograd/nn.h"
#include "engine/error.h"

namespace gramgan::gan {
namespace {}  // namespace

Image transfer(const Vgg19Features& vgg, const Image& content, const Image& style, const TransferConfig& config,
               DType dtype, const Device& device, const std::function<void(const TransferStep&)>& on_step,
               const std::function<bool()>& stop) {
  if (config.steps < 0) throw Error("--steps must be >= 0");
  const PerceptualLoss loss(vgg, config.content_layers, config.style_layers, images_to_tensor({style}, dtype, device),
                            config.tv_mode);
  const auto targets = loss.content_targets(images_to_tensor({content}, dtype, device));

  // z = atanh(2 c - 1), with c kept off 0 and 1 where atanh is infinite.
  Image z_init = content;
  for (float& v : z_init.pixels) v = float(std::atanh(2.0 * std::clamp(double(v), 1e-3, 1.0 - 1e-3) - 1.0));
  const Variable z(images_to_tensor({z_init}, dtype, device), true, "z");
  nn::Adam adam({z}, AdamConfig{.lr = config.lr});

  Tensor pixels;
  for (int step = 1; step <= config.steps && !(stop && stop()); ++step) {
    adam.zero_grad();
    const Variable image = autograd::activation(Activation::tanh_unit, z);
    const PerceptualTerms terms = loss(image, targets);
    const Variable total = weighted_sum(
        {{config.lambda_content, terms.content}, {config.lambda_style, terms.style}, {config.lambda_tv, terms.tv}});
    const TransferStep report{step, terms.content.value().item(), terms.style.value().item(), terms.tv.value().item(),
                              total.value().item()};
    if (!std::isfinite(report.total))
      throw Error("transfer: the loss is not finite at step " + std::to_string(step) +
                  "; try a lower --lr or smaller lambdas");
    total.backward();
    adam.step();
    if (on_step) on_step(report);
  }
  autograd::NoGradGuard no_grad;
  return tensor_to_image(autograd::activation(Activation::tanh_unit, z).value(), 0);
}

}  // namespace gramgan::gan
