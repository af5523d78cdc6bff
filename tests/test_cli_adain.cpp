// The arbitrary-style CLI's refusals, through the real binary: one line on stderr, exit status 2, nothing
// written. stylize: an adain model without --style, a johnson model with it, a VGG other than the model's, an
// alpha outside [0, 1]; train: --style that is not what --arch takes, options of the other architecture.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/gan/checkpoint.h"
#include "cli_runner.h"
#include "engine/io/png.h"
#include "temp_dir.h"
#include "train_fixtures.h"

namespace {

namespace fs = std::filesystem;
using gramgan::test::expect_cli_error;
using gramgan::test::run_cli;
using gramgan::test::snapshot;
using gramgan::test::TempDir;

class CliAdain : public ::testing::Test {
 protected:
  CliAdain() : dir_("cli_adain") {
    gramgan::write_png(dir_ / "photo.png", gramgan::test::noise_image(20, 18, 1));
    gramgan::write_png(dir_ / "style.png", gramgan::test::noise_image(24, 24, 2));
    fs::create_directories(dir_.path() / "content");
    fs::create_directories(dir_.path() / "styles");
    gramgan::write_png(dir_ / "content/0.png", gramgan::test::noise_image(32, 32, 3));
    gramgan::write_png(dir_ / "styles/0.png", gramgan::test::noise_image(32, 32, 4));
    gramgan::write_png(dir_ / "vgg_stand_in.safetensors", gramgan::test::noise_image(4, 4, 5));  // bytes only
    gramgan::RandomStream rng(3);
    const gramgan::gan::AdainDecoder decoder({.width = 2}, rng);
    gramgan::gan::save_decoder(adain_model(), decoder, {{.width = 2}, "random:0", gramgan::Pool::max});
    const gramgan::gan::Generator generator({.width = 4, .residual_blocks = 1}, rng);
    gramgan::gan::save_generator(johnson_model(), generator);
  }

  std::string adain_model() const { return dir_ / "adain.safetensors"; }
  std::string johnson_model() const { return dir_ / "johnson.safetensors"; }

  // stylize with `extra` options; the refusal must leave the folder as it was.
  void expect_stylize_error(const std::string& model, const std::vector<std::string>& extra,
                            const std::vector<std::string>& fragments) const {
    const auto before = snapshot(dir_.path());
    std::vector<std::string> args{"stylize", "--model",        model,      "--in", dir_ / "photo.png",
                                  "--out",   dir_ / "out.png", "--device", "cpu"};
    args.insert(args.end(), extra.begin(), extra.end());
    expect_cli_error(run_cli(args), fragments);
    EXPECT_EQ(snapshot(dir_.path()), before);
  }

  void expect_train_error(const std::vector<std::string>& extra, const std::vector<std::string>& fragments) const {
    std::vector<std::string> args{"train",   "--content", dir_ / "content", "--out", dir_ / "run", "--vgg", "random",
                                  "--steps", "1",         "--device",       "cpu"};
    args.insert(args.end(), extra.begin(), extra.end());
    expect_cli_error(run_cli(args), fragments);
    EXPECT_FALSE(fs::exists(dir_.path() / "run"));
  }

  TempDir dir_;
};

TEST_F(CliAdain, AdainModelWithoutStyleIsRefused) {
  expect_stylize_error(adain_model(), {}, {"adain model", "--style"});
}

TEST_F(CliAdain, JohnsonModelWithStyleIsRefused) {
  expect_stylize_error(johnson_model(), {"--style", dir_ / "style.png"}, {"johnson model", "--style"});
  expect_stylize_error(johnson_model(), {"--alpha", "0.5"}, {"johnson model", "--alpha"});
  expect_stylize_error(johnson_model(), {"--grid", dir_ / "grid.png"}, {"johnson model", "--grid"});
}

TEST_F(CliAdain, AnotherVggThanTheModelsIsRefused) {
  expect_stylize_error(adain_model(), {"--style", dir_ / "style.png", "--vgg", dir_ / "vgg_stand_in.safetensors"},
                       {"trained with --vgg random with seed 0", "fnv1a64:", "vgg_stand_in.safetensors"});
}

// A model trained with a weights file, stylized where that file is missing: the message says what to pass.
TEST_F(CliAdain, MissingVggFileIsNamed) {
  gramgan::RandomStream rng(3);
  const gramgan::gan::AdainDecoder decoder({.width = 2}, rng);
  const std::string model = dir_ / "file_vgg.safetensors";
  gramgan::gan::save_decoder(model, decoder, {{.width = 2}, "fnv1a64:0123456789abcdef", gramgan::Pool::max});
  expect_stylize_error(model, {"--style", dir_ / "style.png", "--vgg", dir_ / "absent.safetensors"},
                       {"fnv1a64:0123456789abcdef", "absent.safetensors", "--vgg PATH"});
  gramgan::gan::save_decoder(model, decoder, {{.width = 2}, "random:x", gramgan::Pool::max});
  expect_stylize_error(model, {"--style", dir_ / "style.png"}, {"gramgan.vgg", "random:x"});
}

TEST_F(CliAdain, AlphaOutsideZeroToOneIsRefused) {
  const std::string style = dir_ / "style.png";
  expect_stylize_error(adain_model(), {"--style", style, "--alpha", "1.5"}, {"--alpha 1.5", "[0, 1]"});
  expect_stylize_error(adain_model(), {"--style", style, "--alpha", "-0.5"}, {"--alpha"});
  expect_stylize_error(adain_model(), {"--style", style, "--alpha", "nan"}, {"--alpha"});
  expect_stylize_error(adain_model(), {"--style", style, "--alpha", "x"}, {"--alpha", "not a number"});
}

TEST_F(CliAdain, MissingStyleImageIsNamed) {
  expect_stylize_error(adain_model(), {"--style", dir_ / "no_such.png"}, {"no_such.png"});
}

TEST_F(CliAdain, AdainModelStylizesWithItsRandomVgg) {
  const auto r = run_cli({"stylize", "--model", adain_model(), "--style", dir_ / "style.png", "--alpha", "0.5", "--in",
                          dir_ / "photo.png", "--out", dir_ / "out.png", "--device", "cpu"});
  ASSERT_EQ(r.status, 0) << r.err;
  const gramgan::Image out = gramgan::read_png(dir_ / "out.png");
  EXPECT_EQ(out.width, 20);
  EXPECT_EQ(out.height, 18);
}

TEST_F(CliAdain, TrainStyleMustFitTheArchitecture) {
  expect_train_error({"--arch", "adain", "--style", dir_ / "style.png"}, {"--arch adain", "folder"});
  expect_train_error({"--style", dir_ / "styles"}, {"is a folder", "--arch adain"});
  expect_train_error({"--arch", "bogus", "--style", dir_ / "styles"}, {"--arch"});
  expect_train_error({"--style", dir_ / "style.png", "--decoder-width", "8"}, {"--decoder-width", "--arch adain"});
  expect_train_error({"--arch", "adain", "--style", dir_ / "styles", "--g-width", "8"}, {"--g-width", "johnson"});
  expect_train_error({"--arch", "adain", "--style", dir_ / "styles", "--size", "36"}, {"--size 36", "multiple of 8"});
  expect_train_error({"--arch", "adain", "--style", dir_ / "styles", "--content-target", "x"}, {"--content-target"});
}

// Several styles: every photo with each, PHOTO__STYLE.png in the --out folder, one grid, and the losses printed.
TEST_F(CliAdain, SeveralStylesMakeEveryPairAndAGrid) {
  gramgan::write_png(dir_ / "photo2.png", gramgan::test::noise_image(17, 25, 6));
  gramgan::write_png(dir_ / "style2.png", gramgan::test::noise_image(30, 20, 7));
  const auto r = run_cli({"stylize", "--model", adain_model(), "--style", dir_ / "style.png", dir_ / "style2.png",
                          "--in", dir_ / "photo.png", dir_ / "photo2.png", "--out", dir_ / "out", "--grid",
                          dir_ / "grid.png", "--losses", "--device", "cpu"});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* name : {"photo__style.png", "photo__style2.png", "photo2__style.png", "photo2__style2.png"})
    EXPECT_TRUE(fs::exists(dir_.path() / "out" / name)) << name;
  EXPECT_EQ(gramgan::read_png(dir_ / "out/photo2__style2.png").width, 17);
  const gramgan::Image grid = gramgan::read_png(dir_ / "grid.png");
  // 3 x 3 square cells: the corner and 2 styles along the top, then 2 photos with their 2 stylisations each.
  EXPECT_EQ(grid.width, grid.height);
  EXPECT_EQ(grid.height % 3, 0);
  std::size_t lines = 0;
  for (std::size_t at = r.out.find("content loss "); at != std::string::npos; at = r.out.find("content loss ", at + 1))
    ++lines;
  EXPECT_EQ(lines, 4u) << r.out;
  EXPECT_NE(r.out.find("style loss "), std::string::npos) << r.out;
}

// Step 0 calibrates the weights not given, says so, every K steps re-balances them (the first and the last said),
// and config.json keeps the results and what was calibrated. --calibrate-every with --no-calibrate is refused.
TEST_F(CliAdain, TrainCalibratesTheWeightsNotGivenAndStoresThem) {
  const auto r = run_cli({"train",
                          "--arch",
                          "adain",
                          "--content",
                          dir_ / "content",
                          "--style",
                          dir_ / "styles",
                          "--out",
                          dir_ / "run",
                          "--vgg",
                          "random",
                          "--size",
                          "32",
                          "--steps",
                          "4",
                          "--calibrate-every",
                          "2",
                          "--decoder-width",
                          "2",
                          "--d-width",
                          "4",
                          "--style-layers",
                          "relu1_1",
                          "--lambda-tv",
                          "0.5",
                          "--sample-every",
                          "0",
                          "--device",
                          "cpu"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("calibrated on the first batch"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("re-balanced on the mean of steps 2-2"), std::string::npos) << r.err;  // the first
  EXPECT_NE(r.err.find("re-balanced on the mean of steps 4-4"), std::string::npos) << r.err;  // the final weights
  const nlohmann::json config = nlohmann::json::parse(gramgan::test::read_file(dir_.path() / "run/config.json"));
  EXPECT_EQ(config.at("lambda_tv").get<double>(), 0.5);
  EXPECT_NE(config.at("lambda_style").get<double>(), gramgan::gan::LossWeights{}.style);
  EXPECT_EQ(config.at("calibrated"), nlohmann::json({"style", "adv"}));
  EXPECT_EQ(config.at("arch"), "adain");
  EXPECT_EQ(config.at("lr_g").get<double>(), gramgan::gan::kAdainLrG);  // adain's default, --lr-g not given
  EXPECT_EQ(config.at("calibrate_every"), 2);
  const auto both = run_cli({"train", "--arch", "adain", "--content", dir_ / "content", "--style", dir_ / "styles",
                             "--out", dir_ / "run2", "--no-calibrate", "--calibrate-every", "5"});
  EXPECT_NE(both.status, 0);
  EXPECT_NE(both.err.find("--calibrate-every and --no-calibrate"), std::string::npos) << both.err;
}

}  // namespace
