#include "apps/gan/config.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "apps/gan/enum_names.h"
#include "apps/gan/vgg.h"
#include "engine/error.h"

namespace gramgan::gan {
using nlohmann::json;

namespace {

// Every setting and its key in config.json, once: writing and reading both walk this list, so a field cannot be
// written and then forgotten on read. `Config` is TrainConfig or const TrainConfig.
template <class Config, class Visit>
void for_each_field(Config& c, Visit&& visit) {
  visit("arch", c.arch);
  visit("content_dir", c.content_dir);
  visit("style", c.style_path);
  visit("vgg", c.vgg);
  visit("vgg_pool", c.vgg_pool);
  visit("size", c.size);
  visit("batch", c.batch);
  visit("steps", c.steps);
  visit("lambda_content", c.lambdas.content);
  visit("lambda_style", c.lambdas.style);
  visit("lambda_adv", c.lambdas.adv);
  visit("lambda_tv", c.lambdas.tv);
  visit("calibrated", c.calibrate);
  visit("calibrate_every", c.calibrate_every);
  visit("content_layers", c.content_layers);
  visit("style_layers", c.style_layers);
  visit("tv_mode", c.tv_mode);
  visit("lr_g", c.lr_g);
  visit("lr_d", c.lr_d);
  visit("generator_width", c.generator.width);
  visit("generator_residual_blocks", c.generator.residual_blocks);
  visit("decoder_width", c.decoder.width);
  visit("content_target", c.content_target);
  visit("discriminator_width", c.discriminator.width);
  visit("device", c.device);
  visit("dtype", c.dtype);
  visit("precision", c.precision);
  visit("seed", c.seed);
  visit("out", c.out_dir);
  visit("sample_every", c.sample_every);
  visit("checkpoint_every", c.checkpoint_every);
  visit("histogram_every", c.histogram_every);
}

// The names of the enums a config holds (enum_names.h).
const auto& names_of(Pool) { return kPoolNames; }
const auto& names_of(TvMode) { return kTvModeNames; }
const auto& names_of(DType) { return kDTypeNames; }
const auto& names_of(Precision) { return kPrecisionNames; }
const auto& names_of(Arch) { return kArchNames; }
const auto& names_of(ContentTarget) { return kContentTargetNames; }

// Keys that configurations written before the arbitrary-style architecture (and before histogram_every and
// calibration, its re-balance and precision) lack: missing, they keep the defaults (those runs are johnson runs,
// calibrated on their first batch only, in fp32).
bool optional_key(std::string_view key) {
  return key == "arch" || key == "decoder_width" || key == "content_target" || key == "histogram_every" ||
         key == "calibrated" || key == "calibrate_every" || key == "precision";
}

}  // namespace

TrainConfig with_absolute_paths(TrainConfig config) {
  const auto absolute = [](std::string& path) {
    std::error_code ec;
    const std::filesystem::path full = std::filesystem::absolute(path, ec);
    if (!path.empty() && !ec) path = full.lexically_normal().string();
  };
  absolute(config.content_dir);
  absolute(config.style_path);
  if (config.vgg != kRandomVgg) absolute(config.vgg);
  return config;
}

std::string config_to_json(const TrainConfig& config) {
  json j = json::object();
  for_each_field(config, [&](const char* key, const auto& value) {
    if constexpr (std::is_enum_v<std::decay_t<decltype(value)>>)
      j[key] = enum_name(names_of(value), value);
    else
      j[key] = value;
  });
  return j.dump(2);
}

TrainConfig config_from_json(const std::string& text, const std::string& source) {
  const std::string unreadable = source + ": the saved run configuration is unreadable: ";
  try {
    const json j = json::parse(text);
    TrainConfig c;
    for_each_field(c, [&](const char* key, auto& value) {
      using T = std::decay_t<decltype(value)>;
      if (optional_key(key) && !j.contains(key)) return;
      if constexpr (std::is_enum_v<T>)
        value = parse_enum(names_of(T{}), j.at(key).get<std::string>(), unreadable + "'" + key + "'");
      else
        value = j.at(key).get<T>();
    });
    return c;
  } catch (const json::exception& e) {
    throw Error(unreadable + e.what());
  }
}

}  // namespace gramgan::gan
