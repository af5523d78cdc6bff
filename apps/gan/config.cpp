#include "apps/gan/config.h"

#include <nlohmann/json.hpp>

#include "engine/error.h"

namespace gramgan::gan {
using nlohmann::json;

namespace {

const char* pool_name(Pool p) { return p == Pool::max ? "max" : "average"; }
const char* tv_name(TvMode m) { return m == TvMode::sqrt ? "sqrt" : "squared"; }

}  // namespace

std::string config_to_json(const TrainConfig& c) {
  json j = {
      {"content_dir", c.content_dir},
      {"style", c.style_path},
      {"vgg", c.vgg},
      {"vgg_pool", pool_name(c.vgg_pool)},
      {"size", c.size},
      {"batch", c.batch},
      {"steps", c.steps},
      {"lambda_content", c.lambdas.content},
      {"lambda_style", c.lambdas.style},
      {"lambda_adv", c.lambdas.adv},
      {"lambda_tv", c.lambdas.tv},
      {"content_layers", c.content_layers},
      {"style_layers", c.style_layers},
      {"tv_mode", tv_name(c.tv_mode)},
      {"lr_g", c.lr_g},
      {"lr_d", c.lr_d},
      {"generator_width", c.generator.width},
      {"generator_residual_blocks", c.generator.residual_blocks},
      {"discriminator_width", c.discriminator.width},
      {"device", c.device},
      {"dtype", c.dtype == DType::float32 ? "float32" : "float64"},
      {"seed", c.seed},
      {"out", c.out_dir},
      {"sample_every", c.sample_every},
      {"checkpoint_every", c.checkpoint_every},
  };
  return j.dump(2);
}

TrainConfig config_from_json(const std::string& text, const std::string& source) {
  try {
    const json j = json::parse(text);
    TrainConfig c;
    c.content_dir = j.at("content_dir").get<std::string>();
    c.style_path = j.at("style").get<std::string>();
    c.vgg = j.at("vgg").get<std::string>();
    c.vgg_pool = j.at("vgg_pool").get<std::string>() == "max" ? Pool::max : Pool::average;
    c.size = j.at("size").get<int>();
    c.batch = j.at("batch").get<int>();
    c.steps = j.at("steps").get<long long>();
    c.lambdas = {j.at("lambda_content").get<double>(), j.at("lambda_style").get<double>(),
                 j.at("lambda_adv").get<double>(), j.at("lambda_tv").get<double>()};
    c.content_layers = j.at("content_layers").get<std::vector<std::string>>();
    c.style_layers = j.at("style_layers").get<std::vector<std::string>>();
    c.tv_mode = j.at("tv_mode").get<std::string>() == "sqrt" ? TvMode::sqrt : TvMode::squared;
    c.lr_g = j.at("lr_g").get<double>();
    c.lr_d = j.at("lr_d").get<double>();
    c.generator = {j.at("generator_width").get<int>(), j.at("generator_residual_blocks").get<int>()};
    c.discriminator = {j.at("discriminator_width").get<int>()};
    c.device = j.at("device").get<std::string>();
    c.dtype = j.at("dtype").get<std::string>() == "float64" ? DType::float64 : DType::float32;
    c.seed = j.at("seed").get<std::uint64_t>();
    c.out_dir = j.at("out").get<std::string>();
    c.sample_every = j.at("sample_every").get<long long>();
    c.checkpoint_every = j.at("checkpoint_every").get<long long>();
    return c;
  } catch (const json::exception& e) {
    throw Error(source + ": the saved run configuration is unreadable: " + e.what());
  }
}

}  // namespace gramgan::gan
