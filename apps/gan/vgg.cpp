#include "apps/gan/vgg.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "autograd/functions.h"
#include "engine/error.h"
#include "engine/io/safetensors.h"

namespace gramgan::gan {
namespace {

struct ConvSpec {
  int features_index, in, out;
  const char* relu;
  bool pool_before;
};

// torchvision vgg19().features up to relu5_1: conv i is at index features_index, its ReLU at features_index + 1.
constexpr ConvSpec kConvs[] = {
    {0, 3, 64, "relu1_1", false},     {2, 64, 64, "relu1_2", false},    {5, 64, 128, "relu2_1", true},
    {7, 128, 128, "relu2_2", false},  {10, 128, 256, "relu3_1", true},  {12, 256, 256, "relu3_2", false},
    {14, 256, 256, "relu3_3", false}, {16, 256, 256, "relu3_4", false}, {19, 256, 512, "relu4_1", true},
    {21, 512, 512, "relu4_2", false}, {23, 512, 512, "relu4_3", false}, {25, 512, 512, "relu4_4", false},
    {28, 512, 512, "relu5_1", true},
};

constexpr double kImagenetMean[3] = {0.485, 0.456, 0.406};
constexpr double kImagenetStd[3] = {0.229, 0.224, 0.225};

Tensor channel_vector(const std::vector<double>& values, DType dtype, const Device& device) {
  const Shape shape{std::int64_t(values.size())};
  if (dtype == DType::float64) return Tensor::from_host(std::span<const double>(values), shape, device);
  const std::vector<float> narrowed(values.begin(), values.end());
  return Tensor::from_host(std::span<const float>(narrowed), shape, device);
}

}  // namespace

const std::vector<std::string>& Vgg19Features::layer_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const ConvSpec& spec : kConvs) out.emplace_back(spec.relu);
    return out;
  }();
  return names;
}

void check_vgg_layers(const std::vector<std::string>& layers, const std::string& option) {
  const auto& names = Vgg19Features::layer_names();
  if (layers.empty()) throw Error(option + ": at least one VGG layer is required");
  for (const std::string& layer : layers) {
    if (std::find(names.begin(), names.end(), layer) != names.end()) continue;
    std::string valid;
    for (const std::string& n : names) valid += (valid.empty() ? "" : ", ") + n;
    throw Error(option + ": unknown VGG-19 layer '" + layer + "'; valid layers: " + valid);
  }
  for (std::size_t i = 0; i < layers.size(); ++i)
    if (std::find(layers.begin(), layers.begin() + i, layers[i]) != layers.begin() + i)
      throw Error(option + ": layer '" + layers[i] + "' is given twice; list each layer once");
}

Vgg19Features::Vgg19Features(Pool pool, DType dtype, const Device& device) : pool_(pool) {
  RandomStream unused(0);  // initial values are overwritten by random() or load()
  for (const ConvSpec& spec : kConvs) {
    auto conv = std::make_shared<nn::Conv2d>(spec.in, spec.out, 3, nn::Conv2dOptions{.stride = 1, .pad = 1}, unused,
                                             dtype, device);
    conv->set_requires_grad(false);
    convs_.push_back({spec.features_index, spec.relu, spec.pool_before, std::move(conv)});
  }
  std::vector<double> scale(3), shift(3);
  for (int c = 0; c < 3; ++c) {
    scale[c] = 1.0 / kImagenetStd[c];
    shift[c] = -kImagenetMean[c] / kImagenetStd[c];
  }
  mean_scale_ = channel_vector(scale, dtype, device);
  mean_shift_ = channel_vector(shift, dtype, device);
}

Vgg19Features Vgg19Features::random(std::uint64_t seed, Pool pool, DType dtype, const Device& device) {
  Vgg19Features vgg(pool, dtype, device);
  RandomStream rng(seed);
  for (Conv& c : vgg.convs_) {
    const Shape& w = c.conv->weight.value().shape();
    Tensor weight = c.conv->weight.value();  // shares storage
    rng.normal_(weight, 0.0, std::sqrt(2.0 / double(w[1] * w[2] * w[3])));
    Tensor bias = c.conv->bias.value();
    bias.fill_(0.0);
  }
  return vgg;
}

Vgg19Features Vgg19Features::load(const std::string& path, Pool pool, DType dtype, const Device& device) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw Error(path +
                ": VGG-19 weights not found. Fetch them with weights/fetch_vgg19.sh (575 MB, checksum "
                "verified) and pass --vgg PATH, or run with --vgg random (seeded random weights: the losses run, "
                "stylisation is much weaker)");
  try {
    const SafetensorsFile file = SafetensorsFile::open(path);
    Vgg19Features vgg(pool, dtype, device);
    // Every tensor is checked (name, shape, dtype F32/F64) before any is read.
    for (const nn::NamedParameter& p : vgg.named_parameters()) {
      const Shape& shape = p.variable.value().shape();
      const std::vector<std::int64_t> dims(shape.begin(), shape.end());
      const SafetensorsTensorInfo& info = file.expect(p.name, dims);
      if (info.dtype != SafetensorsDType::F32 && info.dtype != SafetensorsDType::F64)
        throw Error(path + ": tensor '" + p.name + "' has dtype " + safetensors_dtype_name(info.dtype) +
                    ", expected F32 or F64 (the torchvision ImageNet weights are F32)");
    }
    for (const nn::NamedParameter& p : vgg.named_parameters()) {
      Tensor destination = p.variable.value();  // shares the parameter's storage
      destination.copy_(file.read(p.name, dtype, device));
    }
    return vgg;
  } catch (const Error& e) {
    // The file exists but is not the VGG-19 file we need: say so, and how to get a good one.
    throw Error(std::string(e.what()) +
                ". Expected torchvision VGG-19 weights (timm vgg19.tv_in1k); re-fetch them with "
                "weights/fetch_vgg19.sh");
  }
}

std::map<std::string, Variable> Vgg19Features::forward(const Variable& images,
                                                       const std::vector<std::string>& layers) const {
  check_vgg_layers(layers, "VGG-19 features");
  const Shape& s = images.value().shape();
  if (s.ndim() != 4 || s[1] != 3)
    throw Error("VGG-19 features: input must be (N, 3, H, W) images; got " + s.to_string());
  std::size_t deepest = 0;
  for (std::size_t i = 0; i < convs_.size(); ++i)
    if (std::find(layers.begin(), layers.end(), convs_[i].relu) != layers.end()) deepest = i;
  int poolings = 0;
  for (std::size_t i = 0; i <= deepest; ++i) poolings += convs_[i].pool_before ? 1 : 0;
  if (s[2] < (1 << poolings) || s[3] < (1 << poolings))
    throw Error("VGG-19 features: images of " + std::to_string(s[2]) + "x" + std::to_string(s[3]) +
                " are too small for layer " + convs_[deepest].relu + " (needs at least " +
                std::to_string(1 << poolings) + " per side; " + std::to_string(kMinSide) + " for relu5_1)");

  std::map<std::string, Variable> out;
  const autograd::LayerScope scope("vgg");
  Variable x = autograd::channel_affine(images, mean_scale_, mean_shift_);
  for (std::size_t i = 0; i <= deepest; ++i) {
    if (convs_[i].pool_before) x = autograd::pool2x2(pool_, x);
    const autograd::LayerScope layer(convs_[i].relu);
    x = autograd::activation(Activation::relu, convs_[i].conv->forward(x));
    if (std::find(layers.begin(), layers.end(), convs_[i].relu) != layers.end()) out.emplace(convs_[i].relu, x);
  }
  return out;
}

std::vector<nn::NamedParameter> Vgg19Features::named_parameters() const {
  std::vector<nn::NamedParameter> out;
  for (const Conv& c : convs_) {
    const std::string prefix = "features." + std::to_string(c.features_index) + ".";
    out.push_back({prefix + "weight", c.conv->weight});
    out.push_back({prefix + "bias", c.conv->bias});
  }
  return out;
}

}  // namespace gramgan::gan
