// The settings of a training run, and their JSON form: config.json in the run folder, and the copy inside each
// checkpoint that --resume reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apps/gan/adain_model.h"
#include "apps/gan/enum_names.h"
#include "apps/gan/models.h"
#include "apps/gan/objective.h"

namespace gramgan::gan {

struct TrainConfig {
  Arch arch = Arch::johnson;
  // johnson: style_path is one style image; adain: a folder of style images (paintings).
  std::string content_dir, style_path;
  std::string vgg;  // a safetensors path, or kRandomVgg (vgg.h)
  Pool vgg_pool = Pool::max;
  int size = 256, batch = 4;
  long long steps = 2000;
  LossWeights lambdas;
  // The loss weights step 0 sets from the first batch's raw terms ("style", "adv", "tv"; trainer.h's
  // kCalibrationRatios): the CLI calibrates every weight not given explicitly. Empty: lambdas as given.
  std::vector<std::string> calibrate;
  // K > 0: those weights are set again after every K-th step from the mean raw terms of the later half of those K
  // steps (trainer.h's kCalibrationEvery, the CLI's default). 0: the first batch's weights are kept.
  long long calibrate_every = 0;
  std::vector<std::string> content_layers = kDefaultContentLayers;
  std::vector<std::string> style_layers = kDefaultStyleLayers;
  TvMode tv_mode = TvMode::sqrt;
  double lr_g = 1e-3, lr_d = 2e-4;
  GeneratorOptions generator;
  DecoderOptions decoder;                               // adain
  ContentTarget content_target = ContentTarget::adain;  // adain
  DiscriminatorOptions discriminator;
  std::string device = "cpu";
  DType dtype = DType::float32;
  // Of the float convolutions (kernels/shapes.h). The CLI's default: tf32 on cuda (as PyTorch), fp32 on cpu.
  Precision precision = Precision::fp32;
  std::uint64_t seed = 0;
  std::string out_dir;
  long long sample_every = 100, checkpoint_every = 500;
  long long histogram_every = 100;  // TensorBoard histograms of parameters and gradients; 0: never
};

// `config` with its input paths (content_dir, style_path, and vgg unless it is kRandomVgg) made absolute against
// the current folder: what config.json and checkpoints store, so that --resume works from any folder.
TrainConfig with_absolute_paths(TrainConfig config);

// config <-> JSON text (config.json, and the copy inside each checkpoint that --resume reads).
std::string config_to_json(const TrainConfig& config);
TrainConfig config_from_json(const std::string& json, const std::string& source);

}  // namespace gramgan::gan
