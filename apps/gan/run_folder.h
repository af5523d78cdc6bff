// The folder of a training run (apps/README.md, "Run folder"): config.json, log.csv, samples/step_NNNNNN.png,
// checkpoint.safetensors and generator.safetensors. This file owns their names, their formats and how they are
// written (atomically, except log.csv's appended rows); the trainer owns what goes into them.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "apps/gan/config.h"
#include "engine/io/image.h"
#include "engine/io/safetensors.h"

namespace gramgan::gan {

// One row of log.csv: what one iteration measured.
struct StepLog {
  long long step = 0;                                             // 1-based: the iteration just finished
  double content = 0, style = 0, adv_g = 0, tv = 0, g_total = 0;  // raw terms and the weighted total
  LossWeights lambdas;
  std::optional<double> loss_d, score_real_mean, score_fake_mean, grad_norm_d;  // absent when lambda_adv = 0 (no D)
  double grad_norm_g = 0;
  double seconds = 0;
};

// How log.csv writes a number (%.9g); messages that quote a logged value use it too.
std::string csv_number(double v);

class RunFolder {
 public:
  explicit RunFolder(std::string dir) : dir_(std::move(dir)) {}

  std::string checkpoint_path() const;
  std::string generator_path() const;
  std::string log_path() const;
  std::string config_path() const;
  bool has_checkpoint() const;

  // Creates the folder and samples/, and removes the temporary files a process killed while writing left (their
  // targets are intact).
  void prepare() const;
  // A new run: config.json (the settings, the build, the device, the number of content images) and a log.csv
  // with only its header.
  void start(const TrainConfig& config, const Device& device, std::size_t content_images) const;
  // Resuming at `step`: log.csv keeps the rows up to it.
  void truncate_log(long long step) const;
  void append_log(const StepLog& log) const;
  // samples/step_NNNNNN.png: the three images side by side, all size x size.
  void write_sample(long long step, const Image& content, const Image& output, const Image& style) const;

  // checkpoint.safetensors with `config` in its metadata (what saved_config reads back).
  void write_checkpoint(const std::vector<SafetensorsEntry>& entries, const TrainConfig& config) const;
  // The checkpoint's saved configuration; throws when there is no checkpoint or it is not a training checkpoint.
  TrainConfig saved_config() const;

 private:
  std::string dir_;
};

}  // namespace gramgan::gan
