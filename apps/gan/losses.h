// The perceptual losses of DESIGN.md section 3 over the frozen VGG-19: content (MSE of features at the content
// layers), style (MSE of Gram matrices at the style layers against the style image's), and total variation. The
// style image's Grams are computed once; content targets are the features of the content batch, without a graph.
// Shared by `train` (objective.h weights them and adds the adversarial term) and `transfer` (pixels optimised
// directly).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "apps/gan/vgg.h"
#include "autograd/functions.h"

namespace gramgan::gan {

// The default layers (Gatys et al.), for train and transfer alike.
inline const std::vector<std::string> kDefaultContentLayers{"relu4_2"};
inline const std::vector<std::string> kDefaultStyleLayers{"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"};

struct PerceptualTerms {
  Variable content, style, tv;  // raw (unweighted) 1-element losses
};

class PerceptualLoss {
 public:
  // `style_image`: (1, 3, H, W) in [0, 1].
  PerceptualLoss(const Vgg19Features& vgg, std::vector<std::string> content_layers,
                 std::vector<std::string> style_layers, const Tensor& style_image, TvMode tv_mode);
  // Without a fixed style image (arbitrary style): each call passes the style targets of its batch.
  PerceptualLoss(const Vgg19Features& vgg, std::vector<std::string> content_layers,
                 std::vector<std::string> style_layers, TvMode tv_mode);

  // Per-image Gram targets of a style batch (N, 3, H, W), without a graph: (N, C, C) per style layer.
  std::map<std::string, Tensor> style_targets(const Tensor& style_images) const;

  // Targets for a content batch (N, 3, H, W), computed without recording a graph.
  std::map<std::string, Tensor> content_targets(const Tensor& content_images) const;
  // The three terms for `output` (N, 3, H, W) against those targets: content summed over the content layers,
  // style summed over the style layers (each already a mean over the batch).
  PerceptualTerms operator()(const Variable& output, const std::map<std::string, Tensor>& content_targets) const;
  // The same against given style targets: (C, C) per layer for the batch, or (N, C, C) per image.
  PerceptualTerms operator()(const Variable& output, const std::map<std::string, Tensor>& content_targets,
                             const std::map<std::string, Tensor>& style_targets) const;

 private:
  const Vgg19Features& vgg_;
  std::vector<std::string> content_layers_, style_layers_, all_layers_;
  std::map<std::string, Tensor> style_grams_;  // (C, C) per style layer; empty without a fixed style image
  TvMode tv_mode_;
};

// sum_i weights[i] * terms[i] over 1-element variables (undefined terms are skipped).
Variable weighted_sum(const std::vector<std::pair<double, Variable>>& terms);

}  // namespace gramgan::gan
