// The CLI's error contract, checked on the real binary: every bad argument, unreadable or non-PNG input, too
// small style image or empty content folder ends with exit status 2, one stderr line "gramgan: error: ..." that
// names the problem, and nothing written; one success case per command; --help lists the defaults.
// Every run that gets past argument checks uses tiny sizes, narrow networks and a random VGG, on the cpu.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "apps/gan/checkpoint.h"
#include "apps/gan/dataset.h"
#include "cli_runner.h"
#include "engine/device.h"
#include "engine/io/png.h"
#include "temp_dir.h"
#include "train_fixtures.h"

namespace {

using gramgan::test::noise_image;

namespace fs = std::filesystem;
using gramgan::Image;
using gramgan::test::CliResult;
using gramgan::test::expect_cli_error;
using gramgan::test::read_file;
using gramgan::test::run_cli;
using gramgan::test::snapshot;
using gramgan::test::TempDir;
using gramgan::test::write_file;

// Options in order; a change replaces an option's value, kDrop removes it, kFlag makes it valueless.
using Options = std::vector<std::pair<std::string, std::string>>;
const std::string kDrop = "\x01drop", kFlag = "\x01flag";

std::vector<std::string> command(const std::string& name, Options options, const Options& changes) {
  for (const auto& [key, value] : changes) {
    auto it = std::find_if(options.begin(), options.end(), [&](const auto& o) { return o.first == key; });
    if (it == options.end())
      options.emplace_back(key, value);
    else if (value == kDrop)
      options.erase(it);
    else
      it->second = value;
  }
  std::vector<std::string> args = {name};
  for (const auto& [key, value] : options) {
    if (value == kDrop) continue;
    args.push_back(key);
    if (value != kFlag) args.push_back(value);
  }
  return args;
}

class CliTest : public ::testing::Test {
 protected:
  CliTest() : dir_("cli") {
    fs::create_directories(dir_.path() / "content");
    gramgan::write_png(dir_ / "content/a.png", noise_image(36, 40, 1));
    gramgan::write_png(dir_ / "style.png", noise_image(40, 40, 2));
  }

  // A 1-step run at 32x32 with narrow networks and a random VGG; --device cpu so the result does not depend on
  // the machine having a GPU.
  std::vector<std::string> train(const Options& changes = {}) const {
    return command("train",
                   {{"--content", dir_ / "content"},
                    {"--style", dir_ / "style.png"},
                    {"--out", run_dir()},
                    {"--vgg", "random"},
                    {"--size", "32"},
                    {"--batch", "1"},
                    {"--steps", "1"},
                    {"--g-width", "4"},
                    {"--g-blocks", "1"},
                    {"--d-width", "4"},
                    {"--style-layers", "relu1_1"},
                    {"--content-layers", "relu1_2"},
                    {"--sample-every", "0"},
                    {"--device", "cpu"}},
                   changes);
  }

  std::vector<std::string> transfer(const Options& changes = {}) const {
    return command("transfer",
                   {{"--content", dir_ / "content/a.png"},
                    {"--style", dir_ / "style.png"},
                    {"--out", dir_ / "transfer.png"},
                    {"--vgg", "random"},
                    {"--size", "32"},
                    {"--steps", "1"},
                    {"--style-layers", "relu1_1"},
                    {"--content-layers", "relu1_2"},
                    {"--device", "cpu"}},
                   changes);
  }

  // A generator file as train writes it, made directly (no training needed to test stylize's checks).
  std::string generator_file() const {
    gramgan::RandomStream rng(3);
    const gramgan::gan::Generator generator({.width = 4, .residual_blocks = 1}, rng);
    const std::string path = dir_ / "generator.safetensors";
    gramgan::gan::save_generator(path, generator);
    return path;
  }

  std::string run_dir() const { return dir_ / "run"; }

  void expect_train_error(const Options& changes, const std::string& fragment) const {
    expect_cli_error(run_cli(train(changes)), fragment);
    EXPECT_FALSE(fs::exists(run_dir())) << "a refused train left its run folder behind";
  }

  void expect_transfer_error(const Options& changes, const std::string& fragment) const {
    expect_cli_error(run_cli(transfer(changes)), fragment);
    EXPECT_FALSE(fs::exists(dir_ / "transfer.png")) << "a refused transfer wrote its output";
  }

  TempDir dir_;
};

// ---- train: refused ----------------------------------------------------------------------------------------------

TEST_F(CliTest, TrainWithoutContentOrStyle) {
  expect_train_error({{"--content", kDrop}}, "--content");
  expect_train_error({{"--style", kDrop}}, "--style");
}

TEST_F(CliTest, TrainMissingContentFolder) { expect_train_error({{"--content", dir_ / "nowhere"}}, "nowhere"); }

TEST_F(CliTest, TrainEmptyContentFolder) {
  fs::create_directories(dir_.path() / "empty");
  expect_train_error({{"--content", dir_ / "empty"}}, "no PNG files");
}

TEST_F(CliTest, TrainContentFileNotPng) {
  fs::create_directories(dir_.path() / "bad");
  write_file(dir_.path() / "bad/x.png", "this is text, not an image\n");
  expect_train_error({{"--content", dir_ / "bad"}}, "x.png: not a PNG");
}

TEST_F(CliTest, TrainStyleMissing) { expect_train_error({{"--style", dir_ / "missing.png"}}, "missing.png"); }

TEST_F(CliTest, TrainStyleNotPng) {
  write_file(dir_.path() / "style.txt.png", "GIF89a not really\n");
  expect_train_error({{"--style", dir_ / "style.txt.png"}}, "style.txt.png: not a PNG");
}

TEST_F(CliTest, TrainStyleSmallerThanSize) {
  gramgan::write_png(dir_ / "small.png", noise_image(40, 20, 4));
  expect_train_error({{"--style", dir_ / "small.png"}}, "smaller than --size 32");
}

TEST_F(CliTest, TrainBadSize) {
  expect_train_error({{"--size", "30"}}, "--size 30");
  expect_train_error({{"--size", "20"}}, "--size 20");
}

TEST_F(CliTest, TrainUnknownLayer) { expect_train_error({{"--style-layers", "relu9_9"}}, "relu9_9"); }

TEST_F(CliTest, TrainUnknownOption) { expect_train_error({{"--bogus-option", "1"}}, "--bogus-option"); }

TEST_F(CliTest, TrainZeroBatch) {
  expect_train_error({{"--batch", "0"}}, "--batch: '0' is out of range; give an integer >= 1");
  expect_train_error({{"--steps", "-1"}}, "--steps: '-1' is out of range; give an integer >= 0");
}

TEST_F(CliTest, TrainUnknownDevice) { expect_train_error({{"--device", "bogus"}}, "bogus"); }

// Enum options take the names of their table (apps/gan/enum_names.h) and nothing else.
TEST_F(CliTest, TrainUnknownPoolingOrTvMode) {
  expect_train_error({{"--vgg-pool", "maximum"}}, "--vgg-pool: maximum not in {max,average}");
  expect_train_error({{"--tv", "l1"}}, "--tv: l1 not in {sqrt,squared}");
}

TEST_F(CliTest, TrainCudaWithoutGpu) {
  if (gramgan::cuda_available()) GTEST_SKIP() << "a GPU is present";
  expect_train_error({{"--device", "cuda"}}, "no GPU");
}

TEST_F(CliTest, TrainMissingVggFile) { expect_train_error({{"--vgg", dir_ / "no_vgg.safetensors"}}, "no_vgg"); }

TEST_F(CliTest, TrainResumeWithoutCheckpoint) {
  expect_train_error({{"--resume", kFlag}}, "no checkpoint to resume");
  fs::create_directories(run_dir());
  expect_cli_error(run_cli(train({{"--resume", kFlag}})), "no checkpoint to resume");
  EXPECT_TRUE(fs::is_empty(run_dir()));
}

// ---- train: success, then a second run into the same folder is refused without touching it ----------------------

TEST_F(CliTest, TrainOneStepThenRefusesToOverwrite) {
  const CliResult r = run_cli(train());
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* name : {"config.json", "log.csv", "checkpoint.safetensors", "generator.safetensors"})
    EXPECT_TRUE(fs::is_regular_file(fs::path(run_dir()) / name)) << name;
  const std::string log = read_file(fs::path(run_dir()) / "log.csv");
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 2) << log;  // header + one step
  EXPECT_EQ(log.rfind("step,", 0), 0u) << log;

  const auto before = snapshot(run_dir());
  expect_cli_error(run_cli(train({{"--steps", "2"}})), "already holds a run");
  EXPECT_EQ(snapshot(run_dir()), before);

  // The generator it wrote stylizes an image of any size, keeping that size.
  gramgan::write_png(dir_ / "odd.png", noise_image(13, 21, 5));
  const CliResult s = run_cli({"stylize", "--model", (fs::path(run_dir()) / "generator.safetensors").string(), "--in",
                               dir_ / "odd.png", "--out", dir_ / "odd_out.png", "--device", "cpu"});
  ASSERT_EQ(s.status, 0) << s.err;
  const Image out = gramgan::read_png(dir_ / "odd_out.png");
  EXPECT_EQ(out.width, 13);
  EXPECT_EQ(out.height, 21);
}

// ---- stylize -----------------------------------------------------------------------------------------------------

TEST_F(CliTest, StylizeModelMissing) {
  const std::string out = dir_ / "out.png";
  expect_cli_error(run_cli({"stylize", "--in", dir_ / "style.png", "--out", out, "--device", "cpu"}), "--model");
  expect_cli_error(run_cli({"stylize", "--model", dir_ / "nope.safetensors", "--in", dir_ / "style.png", "--out", out,
                            "--device", "cpu"}),
                   "nope.safetensors");
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(CliTest, StylizeModelNotSafetensors) {
  std::string bytes(4096, '\0');
  std::uint64_t state = 7;
  for (char& c : bytes) c = char(gramgan::gan::mix_seed(state++, 3, 4));
  write_file(dir_.path() / "random.safetensors", bytes);
  const std::string out = dir_ / "out.png";
  expect_cli_error(run_cli({"stylize", "--model", dir_ / "random.safetensors", "--in", dir_ / "style.png", "--out", out,
                            "--device", "cpu"}),
                   "random.safetensors");
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(CliTest, StylizeInputNotPng) {
  write_file(dir_.path() / "text.png", "plain text\n");
  const std::string out = dir_ / "out.png";
  expect_cli_error(
      run_cli({"stylize", "--model", generator_file(), "--in", dir_ / "text.png", "--out", out, "--device", "cpu"}),
      "text.png: not a PNG");
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(CliTest, StylizeRefusesToOverwriteInput) {
  const std::string input = dir_ / "style.png";
  const std::string before = read_file(input);
  expect_cli_error(run_cli({"stylize", "--model", generator_file(), "--in", input, "--out", input, "--device", "cpu"}),
                   "would overwrite the input");
  EXPECT_EQ(read_file(input), before);
}

TEST_F(CliTest, StylizeOneBadInputWritesNothing) {
  write_file(dir_.path() / "bad.png", "not a png\n");
  const std::string out = dir_ / "outs";
  expect_cli_error(run_cli({"stylize", "--model", generator_file(), "--in", dir_ / "style.png", dir_ / "bad.png",
                            "--out", out, "--device", "cpu"}),
                   "bad.png");
  EXPECT_FALSE(fs::exists(out));
  fs::create_directories(out);
  expect_cli_error(run_cli({"stylize", "--model", generator_file(), "--in", dir_ / "style.png", dir_ / "bad.png",
                            "--out", out, "--device", "cpu"}),
                   "bad.png");
  EXPECT_TRUE(fs::is_empty(out));
}

TEST_F(CliTest, StylizeRefusesTwoInputsWithOneOutputName) {
  fs::create_directories(dir_.path() / "a");
  fs::copy_file(dir_ / "style.png", dir_ / "a/style.png");
  const std::string out = dir_ / "outs";
  expect_cli_error(run_cli({"stylize", "--model", generator_file(), "--in", dir_ / "style.png", dir_ / "a/style.png",
                            "--out", out, "--device", "cpu"}),
                   "would both be written to");
  EXPECT_FALSE(fs::exists(out));
}

// ---- transfer ----------------------------------------------------------------------------------------------------

TEST_F(CliTest, TransferContentMissing) { expect_transfer_error({{"--content", dir_ / "gone.png"}}, "gone.png"); }

TEST_F(CliTest, TransferUnknownPooling) {
  expect_transfer_error({{"--vgg-pool", "avg"}}, "--vgg-pool: avg not in {max,average}");
}

TEST_F(CliTest, GradcheckUnknownDtype) {
  expect_cli_error(run_cli({"gradcheck", "--dtype", "half"}), "--dtype: half not in {double,float}");
}

TEST_F(CliTest, TransferTinySize) { expect_transfer_error({{"--size", "8"}}, "--size 8"); }

TEST_F(CliTest, TransferMissingVgg) {
  const CliResult r = run_cli(transfer({{"--vgg", dir_ / "no_vgg.safetensors"}}));
  expect_cli_error(r, "weights/fetch_vgg19.sh");
  EXPECT_NE(r.err.find("--vgg random"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "transfer.png"));
}

TEST_F(CliTest, TransferOneStep) {
  const CliResult r = run_cli(transfer());
  ASSERT_EQ(r.status, 0) << r.err;
  const Image out = gramgan::read_png(dir_ / "transfer.png");
  EXPECT_EQ(std::max(out.width, out.height), 32);
}

// ---- without --device -------------------------------------------------------------------------------------------

// The default device (cuda if present, else cpu with a notice) must not add a line to a refused command's stderr.
TEST_F(CliTest, DefaultDeviceErrorIsOneLine) {
  expect_train_error({{"--device", kDrop}, {"--style", dir_ / "missing.png"}}, "missing.png");
  expect_train_error({{"--device", kDrop}, {"--vgg", dir_ / "no_vgg.safetensors"}}, "no_vgg");
  expect_cli_error(
      run_cli({"stylize", "--model", dir_ / "nope.safetensors", "--in", dir_ / "style.png", "--out", dir_ / "out.png"}),
      "nope.safetensors");
  expect_transfer_error({{"--device", kDrop}, {"--vgg", dir_ / "no_vgg.safetensors"}}, "no_vgg");
}

// ---- help --------------------------------------------------------------------------------------------------------

TEST(CliHelp, ListsOptionsWithDefaults) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> expected = {
      {"train",
       {"--size INT=256", "--batch INT:POSITIVE=4", "--steps INT:NONNEGATIVE=2000", "--resume",
        // Built from the constants they quote (the crop limits, TV's eps, the Adam betas, the enum names).
        "multiple of 4, >= 24", "sqrt (isotropic, eps 1e-8) or squared", "of G (betas 0.9, 0.999)",
        "of D (betas 0.5, 0.999)", "VGG pooling: max, or average (Gatys)", "or 'random' (weak; warned)"}},
      {"gradcheck",
       {"double (rtol 1e-6, atol 1e-9 of the largest gradient) or float (rtol 1e-4, atol the measured",
        "--dtype TEXT:{double,float}=double"}},
      {"stylize", {"--model TEXT REQUIRED", "--in TEXT ... REQUIRED", "--out TEXT REQUIRED", "--device"}},
      {"transfer", {"--size INT=256", "--steps INT:NONNEGATIVE=200", "--lr FLOAT=0.05", "--vgg TEXT "}},
  };
  for (const auto& [name, fragments] : expected) {
    const CliResult r = run_cli({name, "--help"});
    EXPECT_EQ(r.status, 0) << name << ": " << r.err;
    EXPECT_TRUE(r.err.empty()) << name << ": " << r.err;
    for (const std::string& fragment : fragments)
      EXPECT_NE(r.out.find(fragment), std::string::npos) << name << " --help lacks '" << fragment << "':\n" << r.out;
  }
}

}  // namespace
