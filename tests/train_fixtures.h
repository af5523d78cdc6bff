// What the training tests share: reproducible noise images, the tiny configuration (32x32 crops, narrow networks,
// random VGG, shallow layers) that makes a training iteration take well under a second on cpu, and a bitwise
// comparison of the checkpoints runs write.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "apps/gan/dataset.h"
#include "apps/gan/trainer.h"
#include "engine/io/image.h"
#include "engine/io/png.h"
#include "engine/io/safetensors.h"

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

// The keys of the saved configuration that hold enum names, and how an error for an unknown name there must list
// the valid ones.
struct ConfigEnumKey {
  const char* key;
  const char* valid;
};
inline constexpr ConfigEnumKey kConfigEnumKeys[] = {{"vgg_pool", "valid values: max, average"},
                                                    {"tv_mode", "valid values: sqrt, squared"},
                                                    {"dtype", "valid values: float32, float64"},
                                                    {"arch", "valid values: johnson, adain"},
                                                    {"content_target", "valid values: adain, photo"}};

// dir/content/0.png, 1.png, ... (`images` noise images of width x height, seeds 10, 11, ...) and dir/style.png
// (the same size, seed 99): inputs for tiny_train_config(dir / "content", dir / "style.png", ...).
inline void write_train_inputs(const std::filesystem::path& dir, int images, int width, int height) {
  std::filesystem::create_directories(dir / "content");
  for (int i = 0; i < images; ++i)
    write_png((dir / "content" / (std::to_string(i) + ".png")).string(), noise_image(width, height, 10 + i));
  write_png((dir / "style.png").string(), noise_image(width, height, 99));
}

// `gramgan train` on the cpu with tiny_train_config's settings, the given folders and `steps`; sample and
// checkpoint intervals are left to the CLI's defaults and the caller (samples are off).
inline std::vector<std::string> tiny_train_cli(const std::string& content_dir, const std::string& style_path,
                                               const std::string& out_dir, long long steps) {
  const gan::TrainConfig c = tiny_train_config(content_dir, style_path, out_dir);
  const auto number = [](double v) {
    std::ostringstream text;
    text << v;
    return text.str();
  };
  const auto join = [](const std::vector<std::string>& names) {
    std::string text;
    for (const std::string& name : names) text += (text.empty() ? "" : ",") + name;
    return text;
  };
  // clang-format off
  return {"train",
          "--content", c.content_dir,
          "--style", c.style_path,
          "--out", c.out_dir,
          "--vgg", c.vgg,
          "--size", std::to_string(c.size),
          "--batch", std::to_string(c.batch),
          "--steps", std::to_string(steps),
          "--g-width", std::to_string(c.generator.width),
          "--g-blocks", std::to_string(c.generator.residual_blocks),
          "--d-width", std::to_string(c.discriminator.width),
          "--style-layers", join(c.style_layers),
          "--content-layers", join(c.content_layers),
          "--lambda-content", number(c.lambdas.content),
          "--lambda-style", number(c.lambdas.style),
          "--lambda-adv", number(c.lambdas.adv),
          "--lambda-tv", number(c.lambdas.tv),
          "--sample-every", "0",
          "--device", "cpu"};
  // clang-format on
}

// The two safetensors files hold the same tensors, bitwise.
inline void expect_same_tensors(const std::string& a_path, const std::string& b_path) {
  const SafetensorsFile a = SafetensorsFile::open(a_path), b = SafetensorsFile::open(b_path);
  ASSERT_EQ(a.names(), b.names());
  for (const std::string& name : a.names()) EXPECT_EQ(a.read_raw(name), b.read_raw(name)) << name;
}

}  // namespace gramgan::test
