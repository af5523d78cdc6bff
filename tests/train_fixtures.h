// What the training tests share: reproducible noise images and the tiny configuration (32x32 crops, narrow
// networks, random VGG, shallow layers) that makes a training iteration take well under a second on cpu.
#pragma once

#include <cstdint>
#include <string>

#include "apps/gan/dataset.h"
#include "apps/gan/trainer.h"
#include "engine/io/image.h"

namespace gramgan::test {

// Uniform values in [0, 1) drawn from `seed` (53-bit mantissas of mix_seed outputs).
inline Image noise_image(int width, int height, std::uint64_t seed) {
  Image image = make_image(width, height);
  std::uint64_t state = seed;
  for (float& v : image.pixels) v = float((gan::mix_seed(state++, 1, 2) >> 11) * 0x1.0p-53);
  return image;
}

// Batch 1, 4 steps, no samples or periodic checkpoints (the tests drive those).
inline gan::TrainConfig tiny_train_config(const std::string& content_dir, const std::string& style_path,
                                          const std::string& out_dir) {
  gan::TrainConfig c;
  c.content_dir = content_dir;
  c.style_path = style_path;
  c.vgg = "random";
  c.size = 32;
  c.batch = 1;
  c.steps = 4;
  c.generator = {.width = 4, .residual_blocks = 1};
  c.discriminator = {.width = 4};
  c.style_layers = {"relu1_1", "relu2_1", "relu3_1"};
  c.content_layers = {"relu2_2"};
  c.lambdas = {.content = 1.0, .style = 1e3, .adv = 0.1, .tv = 1e-2};
  c.out_dir = out_dir;
  c.sample_every = 0;
  c.checkpoint_every = 0;
  return c;
}

}  // namespace gramgan::test
