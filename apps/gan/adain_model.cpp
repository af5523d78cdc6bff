#include "apps/gan/adain_model.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "autograd/functions.h"
#include "engine/error.h"

namespace gramgan::gan {

AdainDecoder::AdainDecoder(const DecoderOptions& options, RandomStream& rng, DType dtype, const Device& device)
    : options_(options) {
  const int w = options.width;
  if (w < 1 || w > 4096) throw Error("decoder: width must be in [1, 4096]; got " + std::to_string(w));
  const nn::Conv2dOptions c3{.stride = 1, .pad = 1, .padding = Padding::reflect, .bias = true};
  const auto conv = [&](const std::string& name, int in, int out, bool relu) {
    auto layer = std::make_shared<nn::Conv2d>(in, out, 3, c3, rng, dtype, device);
    Tensor weight = layer->weight.value(), bias = layer->bias.value();  // share the parameters' storage
    rng.normal_(weight, 0.0, std::sqrt(2.0 / (double(in) * 9)));
    bias.fill_(0.0);
    body_.add(layer, name);
    if (relu) body_.add(std::make_shared<nn::ActivationLayer>(Activation::relu), name + "_relu");
  };
  const auto upsample = [&](const std::string& name) { body_.add(std::make_shared<nn::Upsample2x>(), name); };
  conv("dec4_1", kAdainChannels, 4 * w, true);
  upsample("up3");
  conv("dec3_4", 4 * w, 4 * w, true);
  conv("dec3_3", 4 * w, 4 * w, true);
  conv("dec3_2", 4 * w, 4 * w, true);
  conv("dec3_1", 4 * w, 2 * w, true);
  upsample("up2");
  conv("dec2_2", 2 * w, 2 * w, true);
  conv("dec2_1", 2 * w, w, true);
  upsample("up1");
  conv("dec1_2", w, w, true);
  conv("dec1_1", w, 3, false);
}

Variable AdainDecoder::forward(const Variable& features) { return body_.forward(features); }

Variable AdainDecoder::forward(const Variable& features, const nn::Sequential::LayerDone& on_layer_done,
                               const nn::Sequential::LayerOutput& on_layer_output) {
  return body_.forward(features, on_layer_done, on_layer_output);
}

Tensor encode(const Vgg19Features& vgg, const Tensor& images) {
  autograd::NoGradGuard no_grad;
  return vgg.forward(Variable(images), {kAdainLayer}).at(kAdainLayer).value();
}

Tensor adain_target(const Tensor& content_features, const Tensor& style_features, double alpha) {
  if (!(alpha >= 0.0 && alpha <= 1.0))
    throw Error("alpha " + std::to_string(alpha) + ": the style strength must be in [0, 1]");
  autograd::NoGradGuard no_grad;
  const Tensor t = ops::adain_forward(content_features, style_features).y;
  if (alpha == 1.0) return t;
  return ops::add(ops::scale(t, alpha), ops::scale(content_features, 1.0 - alpha));
}

std::uint64_t random_vgg_seed(const std::string& identity, const std::string& model) {
  const std::string prefix = "random:";
  std::uint64_t seed = 0;
  const char* first = identity.data() + prefix.size();
  const char* last = identity.data() + identity.size();
  const auto [end, ec] = std::from_chars(first, last, seed);
  if (identity.rfind(prefix, 0) != 0 || ec != std::errc() || end != last || first == last)
    throw Error(model + ": metadata 'gramgan.vgg' is not a VGG identity: '" + identity + "'");
  return seed;
}

std::string vgg_identity(const std::string& vgg, std::uint64_t random_seed) {
  if (vgg == kRandomVgg) return "random:" + std::to_string(random_seed);
  std::ifstream in(vgg, std::ios::binary);
  if (!in) throw Error(vgg + ": cannot read the VGG-19 weights file to identify it");
  std::uint64_t hash = 1469598103934665603ull;  // FNV-1a, 64-bit
  std::vector<char> buffer(std::size_t(1) << 20);
  while (in) {
    in.read(buffer.data(), std::streamsize(buffer.size()));
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      hash ^= static_cast<unsigned char>(buffer[std::size_t(i)]);
      hash *= 1099511628211ull;
    }
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return std::string("fnv1a64:") + hex;
}

void check_vgg_identity(const std::string& model, const std::string& identity, const std::string& vgg,
                        std::uint64_t random_seed) {
  const auto describe = [](const std::string& id) {
    return id.rfind("random:", 0) == 0 ? "--vgg random with seed " + id.substr(7) : "the VGG-19 file with " + id;
  };
  std::error_code ec;
  if (vgg != kRandomVgg && !std::filesystem::is_regular_file(vgg, ec))
    throw Error(model + " was trained with " + describe(identity) + ", but " + vgg +
                " is not a readable file; pass that VGG-19 file with --vgg PATH");
  const std::string given = vgg_identity(vgg, random_seed);
  if (given == identity) return;
  throw Error(model + " was trained with " + describe(identity) + ", but this run has " + describe(given) +
              (vgg == kRandomVgg ? "" : " (" + vgg + ")") + "; a decoder only decodes the features of its own VGG");
}

}  // namespace gramgan::gan
