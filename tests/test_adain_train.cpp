// The arbitrary-style architecture (--arch adain) at tiny sizes on cpu: G's loss falls over several styles, two
// styles give two different images of one photo, alpha 0 is the decoder's reconstruction of the content, the
// checkpoint holds only what is trained, and resume is bitwise an uninterrupted run.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/gan/adain_model.h"
#include "apps/gan/checkpoint.h"
#include "apps/gan/stylize.h"
#include "apps/gan/trainer.h"
#include "engine/io/png.h"
#include "temp_dir.h"
#include "train_fixtures.h"

namespace {

namespace fs = std::filesystem;
using gramgan::Device;
using gramgan::DType;
using gramgan::Image;
using gramgan::Pool;
using gramgan::test::noise_image;
using gramgan::test::TempDir;
using namespace gramgan::gan;

constexpr int kSide = 24;  // the smallest adain crop: a multiple of 8, and D's 24

// Style k: noise whose channel k is bright and the others dim, so the styles' statistics differ.
Image style_image(int k, int width, int height) {
  Image image = noise_image(width, height, 200 + k);
  const std::size_t plane = image.plane_size();
  for (int c = 0; c < 3; ++c)
    for (std::size_t i = 0; i < plane; ++i) image.pixels[c * plane + i] *= c == k % 3 ? 1.0f : 0.25f;
  return image;
}

// `photos` content images and `styles` style images of side x side (exact crops), a tiny adain configuration.
TrainConfig tiny_adain_config(const TempDir& dir, int photos, int styles, int side = kSide) {
  fs::create_directories(dir.path() / "content");
  fs::create_directories(dir.path() / "styles");
  for (int i = 0; i < photos; ++i)
    gramgan::write_png(dir / ("content/" + std::to_string(i) + ".png"), noise_image(side, side, 10 + i));
  for (int k = 0; k < styles; ++k)
    gramgan::write_png(dir / ("styles/" + std::to_string(k) + ".png"), style_image(k, side, side));
  TrainConfig c = gramgan::test::tiny_train_config(dir / "content", dir / "styles", dir / "run");
  c.arch = Arch::adain;
  c.size = kSide;
  c.decoder = {.width = 4};
  c.style_layers = {"relu1_1", "relu2_1", "relu3_1"};
  return c;
}

// One content photo and three styles, batch 3 and no discriminator: every batch pairs the photo with the three
// styles in some order, and L_G, a mean over the batch, is the same function of the decoder's weights each step.
// Both content targets: the AdaIN target at relu4_1, and the photo's own features at --content-layers.
class AdainLossFalls : public ::testing::TestWithParam<ContentTarget> {};

TEST_P(AdainLossFalls, GeneratorLossFallsOverSeveralStyles) {
  const TempDir dir("adain_falls");
  TrainConfig config = tiny_adain_config(dir, 1, 3);
  config.content_target = GetParam();
  config.batch = 3;
  config.lambdas.adv = 0;
  config.steps = 10;
  config.lr_g = 1e-3;
  Trainer trainer(config, false);
  std::vector<double> losses;
  trainer.run([&](const StepLog& log) {
    EXPECT_TRUE(std::isfinite(log.g_total));
    losses.push_back(log.g_total);
  });
  ASSERT_EQ(losses.size(), 10u);
  EXPECT_LT(losses.back(), 0.7 * losses.front()) << "first " << losses.front() << ", last " << losses.back();
}

INSTANTIATE_TEST_SUITE_P(BothContentTargets, AdainLossFalls,
                         ::testing::Values(ContentTarget::adain, ContentTarget::photo),
                         [](const auto& info) { return std::string(enum_name(kContentTargetNames, info.param)); });

// A short adversarial run, then its model file through stylize_adain.
class AdainModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("adain_model");
    TrainConfig config = tiny_adain_config(*dir_, 2, 2);
    config.batch = 2;
    config.steps = 3;
    Trainer(config, false).run({});
    seed_ = config.seed;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string model_path() { return *dir_ / "run/generator.safetensors"; }
  static Vgg19Features vgg() { return Vgg19Features::random(seed_, Pool::max, DType::float32, Device::cpu()); }

  static TempDir* dir_;
  static std::uint64_t seed_;
};
TempDir* AdainModel::dir_ = nullptr;
std::uint64_t AdainModel::seed_ = 0;

TEST_F(AdainModel, TheModelFileNamesItsArchitectureAndVgg) {
  AdainModelInfo info;
  const auto decoder = load_decoder(model_path(), DType::float32, Device::cpu(), &info);
  EXPECT_EQ(info.decoder.width, 4);
  EXPECT_EQ(info.vgg_identity, "random:" + std::to_string(seed_));
  EXPECT_EQ(info.vgg_pool, Pool::max);
  EXPECT_EQ(model_arch(gramgan::SafetensorsFile::open(model_path())), Arch::adain);
  EXPECT_THROW(load_generator(model_path(), DType::float32, Device::cpu()), gramgan::Error);
}

TEST_F(AdainModel, TwoStylesGiveDifferentImagesOfOnePhoto) {
  auto decoder = load_decoder(model_path(), DType::float32, Device::cpu());
  const Vgg19Features features = vgg();
  const Image photo = noise_image(37, 29, 5);  // not a multiple of 8: padded and cropped back
  const Image a = stylize_adain(*decoder, features, photo, style_image(0, 30, 26), 1.0, DType::float32, Device::cpu());
  const Image b = stylize_adain(*decoder, features, photo, style_image(1, 30, 26), 1.0, DType::float32, Device::cpu());
  ASSERT_EQ(a.width, 37);
  ASSERT_EQ(a.height, 29);
  double diff = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) diff += std::abs(a.pixels[i] - b.pixels[i]);
  EXPECT_GT(diff / double(a.pixels.size()), 1e-3);
}

// alpha 0: the decoder's input is the content's own relu4_1 features, so the output is the decoder's
// reconstruction of the photo, whatever the style; alpha 1 is not.
TEST_F(AdainModel, AlphaZeroIsTheDecodersReconstructionOfTheContent) {
  auto decoder = load_decoder(model_path(), DType::float32, Device::cpu());
  const Vgg19Features features = vgg();
  const Image photo = noise_image(kSide, 2 * kSide, 6);
  const auto reconstruction = [&] {
    gramgan::autograd::NoGradGuard no_grad;
    const gramgan::Tensor x = images_to_tensor({photo}, DType::float32, Device::cpu());
    return tensor_to_image(decoder->forward(Variable(encode(features, x))).value(), 0);
  }();
  for (int k : {0, 1}) {
    const Image zero =
        stylize_adain(*decoder, features, photo, style_image(k, 32, 32), 0.0, DType::float32, Device::cpu());
    ASSERT_EQ(zero.pixels.size(), reconstruction.pixels.size());
    for (std::size_t i = 0; i < zero.pixels.size(); ++i)
      ASSERT_NEAR(zero.pixels[i], reconstruction.pixels[i], 1e-6) << "style " << k << ", value " << i;
  }
  const Image full =
      stylize_adain(*decoder, features, photo, style_image(0, 32, 32), 1.0, DType::float32, Device::cpu());
  double diff = 0;
  for (std::size_t i = 0; i < full.pixels.size(); ++i) diff += std::abs(full.pixels[i] - reconstruction.pixels[i]);
  EXPECT_GT(diff / double(full.pixels.size()), 1e-3);
  EXPECT_THROW(stylize_adain(*decoder, features, photo, style_image(0, 32, 32), 1.5, DType::float32, Device::cpu()),
               gramgan::Error);
}

// The frozen VGG is never saved: the checkpoint holds the decoder (G.*), D, both Adam states and the counters of
// both data streams.
TEST_F(AdainModel, TheCheckpointHoldsOnlyWhatIsTrained) {
  const gramgan::SafetensorsFile file = gramgan::SafetensorsFile::open(*dir_ / "run/checkpoint.safetensors");
  int g = 0;
  for (const std::string& name : file.names()) {
    EXPECT_EQ(name.find("features."), std::string::npos) << name;
    const bool known = name.rfind("G.", 0) == 0 || name.rfind("D.", 0) == 0 || name.rfind("adam_g.", 0) == 0 ||
                       name.rfind("adam_d.", 0) == 0 || name.rfind("data.", 0) == 0 ||
                       name.rfind("style_data.", 0) == 0 || name == "step" || name == "rng.seed";
    EXPECT_TRUE(known) << name;
    g += name.rfind("G.", 0) == 0;
  }
  EXPECT_EQ(g, 2 * 9);  // nine convolutions, weight and bias each
  for (const char* name : {"style_data.order", "style_data.epoch_position"}) EXPECT_TRUE(file.contains(name)) << name;
}

TEST(AdainTrain, ResumeFromACheckpointIsBitwiseTheUninterruptedRun) {
  const TempDir straight_dir("adain_straight"), split_dir("adain_split");
  // Three photos, three paintings and batch 2: the resumed run crosses both streams' epoch boundaries.
  const auto config = [](const TempDir& dir) {
    TrainConfig c = tiny_adain_config(dir, 3, 3, 2 * kSide);  // larger than the crop: the offsets are drawn
    c.batch = 2;
    c.steps = 4;
    return c;
  };
  Trainer(config(straight_dir), false).run({});
  {
    Trainer first(config(split_dir), false);
    first.train_step();
    first.save_checkpoint();
    first.train_step();  // lost: the kill came before the next checkpoint
  }
  Trainer resumed(config(split_dir), true);
  EXPECT_EQ(resumed.step(), 1);
  resumed.run({});
  gramgan::test::expect_same_tensors(straight_dir / "run/checkpoint.safetensors",
                                     split_dir / "run/checkpoint.safetensors");
  gramgan::test::expect_same_tensors(straight_dir / "run/generator.safetensors",
                                     split_dir / "run/generator.safetensors");
}

}  // namespace
