#include "apps/gan/losses.h"

#include <algorithm>

#include "engine/error.h"

namespace gramgan::gan {

PerceptualLoss::PerceptualLoss(const Vgg19Features& vgg, std::vector<std::string> content_layers,
                               std::vector<std::string> style_layers, const Tensor& style_image, TvMode tv_mode)
    : PerceptualLoss(vgg, std::move(content_layers), std::move(style_layers), tv_mode) {
  for (auto& [layer, gram] : style_targets(style_image))  // (1, C, C)
    style_grams_[layer] = gram.reshape({gram.size(1), gram.size(2)});
}

PerceptualLoss::PerceptualLoss(const Vgg19Features& vgg, std::vector<std::string> content_layers,
                               std::vector<std::string> style_layers, TvMode tv_mode)
    : vgg_(vgg), content_layers_(std::move(content_layers)), style_layers_(std::move(style_layers)), tv_mode_(tv_mode) {
  check_vgg_layers(content_layers_, "content layers");
  check_vgg_layers(style_layers_, "style layers");
  all_layers_ = content_layers_;
  for (const std::string& layer : style_layers_)
    if (std::find(all_layers_.begin(), all_layers_.end(), layer) == all_layers_.end()) all_layers_.push_back(layer);
}

std::map<std::string, Tensor> PerceptualLoss::style_targets(const Tensor& style_images) const {
  autograd::NoGradGuard no_grad;
  std::map<std::string, Tensor> grams;
  for (auto& [layer, feature] : vgg_.forward(Variable(style_images), style_layers_))
    grams[layer] = ops::gram_forward(feature.value());
  return grams;
}

std::map<std::string, Tensor> PerceptualLoss::content_targets(const Tensor& content_images) const {
  autograd::NoGradGuard no_grad;
  std::map<std::string, Tensor> targets;
  for (auto& [layer, feature] : vgg_.forward(Variable(content_images), content_layers_))
    targets[layer] = feature.value();
  return targets;
}

PerceptualTerms PerceptualLoss::operator()(const Variable& output,
                                           const std::map<std::string, Tensor>& content_targets) const {
  if (style_grams_.empty()) throw Error("PerceptualLoss: no fixed style image; pass the batch's style targets");
  return (*this)(output, content_targets, style_grams_);
}

PerceptualTerms PerceptualLoss::operator()(const Variable& output, const std::map<std::string, Tensor>& content_targets,
                                           const std::map<std::string, Tensor>& style_targets) const {
  const auto features = vgg_.forward(output, all_layers_);
  // Named for --detect-anomaly: "layer loss.style.relu3_1".
  std::vector<std::pair<double, Variable>> content, style;
  PerceptualTerms terms;
  {
    const autograd::LayerScope scope("loss.content");
    for (const std::string& layer : content_layers_) {
      const autograd::LayerScope at(layer);
      content.emplace_back(1.0, autograd::mse_loss(features.at(layer), content_targets.at(layer)));
    }
    terms.content = weighted_sum(content);
  }
  {
    const autograd::LayerScope scope("loss.style");
    for (const std::string& layer : style_layers_) {
      const autograd::LayerScope at(layer);
      style.emplace_back(1.0, autograd::gram_mse_loss(features.at(layer), style_targets.at(layer)));
    }
    terms.style = weighted_sum(style);
  }
  const autograd::LayerScope scope("loss.tv");
  terms.tv = autograd::tv_loss(tv_mode_, output);
  return terms;
}

Variable weighted_sum(const std::vector<std::pair<double, Variable>>& terms) {
  Variable total;
  for (const auto& [weight, term] : terms) {
    if (!term.defined()) continue;
    const Variable weighted = weight == 1.0 ? term : autograd::scale(term, weight);
    total = total.defined() ? autograd::add(total, weighted) : weighted;
  }
  if (!total.defined()) throw Error("weighted_sum: no terms");
  return total;
}

}  // namespace gramgan::gan
