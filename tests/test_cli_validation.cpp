// Issue 16 on the real binary. Points 8, 9, 11: every bad number, option or input is refused while parsing or
// before anything is written, with exit status 2 and one line naming the option or file; the help tells the truth.
// Points 6 and 10: --dry-run estimates an absurd --batch without the host memory it describes; a signal is
// acknowledged at once; transfer interrupted writes the image it has; stylize says what it runs before each pass.
// Runs that get past the checks use tiny sizes, narrow networks and a random VGG, on the cpu.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "apps/gan/checkpoint.h"
#include "cli_runner.h"
#include "engine/io/png.h"
#include "temp_dir.h"
#include "train_fixtures.h"

namespace {

namespace fs = std::filesystem;
using gramgan::test::CliResult;
using gramgan::test::expect_cli_error;
using gramgan::test::noise_image;
using gramgan::test::read_file;
using gramgan::test::run_cli;
using gramgan::test::spawn_cli;
using gramgan::test::TempDir;
using gramgan::test::wait_cli;

// cli_runner.h's check, taking a braced list of fragments.
void expect_refused(const CliResult& r, const std::vector<std::string>& fragments) { expect_cli_error(r, fragments); }

class CliValidation : public ::testing::Test {
 protected:
  CliValidation() : dir_("cli_validation") {
    fs::create_directories(dir_.path() / "content");
    gramgan::write_png(dir_ / "content/a.png", noise_image(36, 40, 1));
    gramgan::write_png(dir_ / "style.png", noise_image(40, 40, 2));
  }

  // A 1-step train at 32x32; `changes` (option, value pairs) replace the base's values or are appended.
  std::vector<std::string> train(const std::vector<std::string>& changes = {}) const {
    return with_changes({"train",
                         "--content",
                         dir_ / "content",
                         "--style",
                         dir_ / "style.png",
                         "--out",
                         run(),
                         "--vgg",
                         "random",
                         "--size",
                         "32",
                         "--batch",
                         "1",
                         "--steps",
                         "1",
                         "--g-width",
                         "4",
                         "--g-blocks",
                         "1",
                         "--d-width",
                         "4",
                         "--style-layers",
                         "relu1_1",
                         "--content-layers",
                         "relu1_2",
                         "--sample-every",
                         "0",
                         "--device",
                         "cpu"},
                        changes);
  }
  std::vector<std::string> transfer(const std::vector<std::string>& changes = {}) const {
    return with_changes({"transfer", "--content", dir_ / "content/a.png", "--style", dir_ / "style.png", "--out",
                         dir_ / "out.png", "--vgg", "random", "--size", "32", "--steps", "1", "--style-layers",
                         "relu1_1", "--content-layers", "relu1_2", "--device", "cpu"},
                        changes);
  }
  // args[0] is the subcommand, then option, value pairs.
  static std::vector<std::string> with_changes(std::vector<std::string> args, const std::vector<std::string>& changes) {
    for (std::size_t i = 0; i + 1 < changes.size(); i += 2) {
      auto it = std::find(args.begin() + 1, args.end(), changes[i]);
      if (it != args.end() && (it - args.begin()) % 2 == 1) {
        *(it + 1) = changes[i + 1];
      } else {
        args.push_back(changes[i]);
        args.push_back(changes[i + 1]);
      }
    }
    if (changes.size() % 2 == 1) args.push_back(changes.back());
    return args;
  }
  std::string run() const { return dir_ / "run"; }
  // Waits until `path` holds `text` or the process is gone; false after a minute.
  static bool wait_for_text(const std::string& path, const std::string& text, pid_t pid) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    while (std::chrono::steady_clock::now() < deadline) {
      if (read_file(path).find(text) != std::string::npos) return true;
      if (::kill(pid, 0) != 0) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  void expect_train_refused(const std::vector<std::string>& extra, const std::vector<std::string>& fragments) const {
    SCOPED_TRACE(extra.empty() ? std::string() : extra[0] + " " + (extra.size() > 1 ? extra[1] : ""));
    expect_refused(run_cli(train(extra)), fragments);
    EXPECT_FALSE(fs::exists(run())) << "a refused train created its run folder";
  }

  TempDir dir_;
};

// ---- point 8: numbers ----------------------------------------------------------------------------------------------

TEST_F(CliValidation, NonFiniteOrNegativeRatesAndWeightsNameTheOption) {
  for (const char* option : {"--lr-g", "--lr-d", "--lambda-content", "--lambda-style", "--lambda-adv", "--lambda-tv"})
    for (const char* value : {"nan", "-1", "inf", "1e400", "-inf", "abc", ""})
      expect_train_refused({option, value}, {option, value});
}

TEST_F(CliValidation, IntegersAreIntegersInRange) {
  expect_train_refused({"--batch", "abc"}, {"--batch", "'abc' is not an integer"});
  expect_train_refused({"--batch", "0"}, {"--batch", "out of range"});
  expect_train_refused({"--batch", "2.5"}, {"--batch", "not an integer"});
  expect_train_refused({"--steps", "-3"}, {"--steps", "out of range"});
  expect_train_refused({"--size", "99999999999"}, {"--size", "out of range"});
  expect_train_refused({"--g-blocks", "1e3"}, {"--g-blocks", "not an integer"});
}

TEST_F(CliValidation, SeedDoesNotWrap) {
  expect_train_refused({"--seed", "-1"}, {"--seed", "negative"});
  expect_train_refused({"--seed", "18446744073709551616"}, {"--seed", "out of range"});
  expect_refused(run_cli(transfer({"--seed", "-1"})), {"--seed", "negative"});
  expect_refused(run_cli({"gradcheck", "--seed", "-5"}), {"--seed", "negative"});
}

TEST_F(CliValidation, TransferNumbersAreChecked) {
  for (const char* option : {"--lr", "--lambda-content", "--lambda-style", "--lambda-tv"})
    for (const char* value : {"nan", "-1", "1e400"}) {
      expect_refused(run_cli(transfer({option, value})), {option, value});
      EXPECT_FALSE(fs::exists(dir_ / "out.png"));
    }
  expect_refused(run_cli(transfer({"--steps", "x"})), {"--steps", "not an integer"});
}

// ---- point 8: messages -------------------------------------------------------------------------------------------

TEST_F(CliValidation, OptionWithoutValueIsNamed) {
  const CliResult r = run_cli({"stylize", "--model", dir_ / "g.safetensors", "--in", "--out", dir_ / "x.png"});
  expect_refused(r, {"--in", "value is missing"});
  EXPECT_EQ(r.err.find("--out is required"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "x.png"));
  expect_refused(run_cli({"stylize", "--model", "--in", "a.png", "--out", "x.png"}), {"--model", "value is missing"});
  expect_refused(
      run_cli({"train", "--content", dir_ / "content", "--style", dir_ / "style.png", "--out", "--steps", "3"}),
      {"--out", "value is missing"});
  expect_refused(run_cli({"transfer", "--content", dir_ / "content/a.png", "--style", "--out", dir_ / "o.png"}),
                 {"--style", "value is missing"});
}

TEST_F(CliValidation, OutUnderAFileIsOneLineStatus2) {
  std::ofstream(dir_ / "file") << "x";
  const CliResult r = run_cli(train({"--out", dir_ / "file/run"}));
  // The last line is the error (the warning of --vgg random may come first until outputs are checked up front).
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("gramgan: error: " + dir_ / "file"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("filesystem error"), std::string::npos) << r.err;
}

TEST_F(CliValidation, ThinContentPhotoIsNamed) {
  gramgan::write_png(dir_ / "content/thin.png", noise_image(1, 5000, 3));
  expect_train_refused({}, {"thin.png", "1x5000"});
}

TEST_F(CliValidation, NoGpuIsNotADriverVersionProblem) {
  const CliResult r = run_cli({"info"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("driver version is insufficient"), std::string::npos) << r.out;
}

TEST_F(CliValidation, DetectAnomalyNamesALayerOrSaysWhere) {
  // A learning rate that overflows D within a few steps; the first non-finite value must be placed.
  // with_changes appends a trailing odd element (the flag) as is.
  const CliResult r = run_cli(train({"--steps", "5", "--lr-d", "1e38", "--detect-anomaly"}));
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(r.err.find("(none)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("layer "), std::string::npos) << r.err;
}

// ---- point 9: validation -----------------------------------------------------------------------------------------

TEST_F(CliValidation, AllZeroLambdasAreRefused) {
  expect_train_refused({"--lambda-content", "0", "--lambda-style", "0", "--lambda-adv", "0", "--lambda-tv", "0"},
                       {"all 0"});
  expect_refused(run_cli(transfer({"--lambda-content", "0", "--lambda-style", "0", "--lambda-tv", "0"})), {"all 0"});
}

TEST_F(CliValidation, DuplicateLayersAreRefused) {
  expect_train_refused({"--style-layers", "relu1_1,relu2_1,relu1_1"}, {"--style-layers", "relu1_1", "twice"});
  expect_refused(run_cli(transfer({"--content-layers", "relu1_2,relu1_2"})), {"--content-layers", "twice"});
}

// --precision: a bad name is one line on every command; on cpu the default is fp32, written to config.json; a
// resumed run keeps its precision.
TEST_F(CliValidation, PrecisionIsCheckedRecordedAndKeptOnResume) {
  expect_train_refused({"--precision", "bf16"}, {"--precision", "bf16", "valid values: fp32, tf32"});
  expect_refused(run_cli(transfer({"--precision", "fp16"})), {"--precision", "fp16", "fp32, tf32"});
  expect_refused(run_cli({"stylize", "--model", dir_ / "g.safetensors", "--in", dir_ / "style.png", "--out",
                          dir_ / "x.png", "--precision", "half"}),
                 {"--precision", "half"});
  const CliResult r = run_cli(train());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("on cpu in fp32"), std::string::npos) << r.err;
  EXPECT_NE(read_file(run() + "/config.json").find("\"precision\": \"fp32\""), std::string::npos);
  expect_refused(run_cli({"train", "--resume", "--out", run(), "--steps", "2", "--precision", "tf32"}),
                 {"--precision tf32", "trained in fp32", "keeps its precision"});
}

TEST_F(CliValidation, NoDiscriminatorWithoutAdversarialTerm) {
  // A style image smaller than --size is fine without D (only its Gram matrices are used).
  gramgan::write_png(dir_ / "small_style.png", noise_image(24, 20, 4));
  const CliResult r = run_cli(train({"--lambda-adv", "0", "--style", dir_ / "small_style.png", "--sample-every", "1"}));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string checkpoint = read_file(run() + "/checkpoint.safetensors");
  EXPECT_EQ(checkpoint.find("\"D."), std::string::npos) << "the checkpoint holds discriminator weights";
  EXPECT_EQ(checkpoint.find("adam_d"), std::string::npos) << "the checkpoint holds D's optimizer state";
  EXPECT_TRUE(fs::exists(run() + "/samples/step_000001.png"));
  // And it resumes without one.
  const CliResult resumed = run_cli({"train", "--out", run(), "--resume", "--steps", "2", "--device", "cpu"});
  EXPECT_EQ(resumed.status, 0) << resumed.err;
  // With D, the same small style image is refused before anything is written.
  fs::remove_all(run());
  expect_train_refused({"--style", dir_ / "small_style.png"}, {"small_style.png", "--size"});
}

// ---- points 6 and 10: dry run, progress and interruption ---------------------------------------------------------

using CliProgress = CliValidation;

TEST_F(CliProgress, DryRunOfAnAbsurdBatchPrintsTheEstimate) {
  // 100000 crops are gigabytes of host images; the dry run must not make them, and must still answer.
  const auto start = std::chrono::steady_clock::now();
  const CliResult r = run_cli(train({"--batch", "100000", "--dry-run"}));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("total (peak)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--batch 100000"), std::string::npos) << r.out;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
  EXPECT_FALSE(fs::exists(run()));
}

TEST_F(CliProgress, DryRunBeyondTheKernelsLimitsSaysSo) {
  // The case: --batch 100000 at 256x256. The estimate is printed, then that it does not fit and which
  // kernel limit a real run would stop at.
  gramgan::write_png(dir_ / "style256.png", noise_image(256, 256, 2));
  const CliResult r = run_cli(train({"--style", dir_ / "style256.png", "--size", "256", "--batch", "100000",
                                     "--g-width", "32", "--d-width", "64", "--dry-run"}));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("total (peak)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("it does not fit"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("a real run would stop at these sizes: conv2d_forward"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(run()));
}

TEST_F(CliProgress, TransferInterruptedWritesTheImageSoFar) {
  const std::string out = dir_ / "out.png", err = dir_ / "err";
  const pid_t pid = spawn_cli(transfer({"--steps", "1000000"}), dir_ / "log", err);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_for_text(err, "step ", pid)) << read_file(err);
  ::kill(pid, SIGINT);
  EXPECT_EQ(wait_cli(pid), 128 + SIGINT) << read_file(err);
  const std::string text = read_file(err);
  EXPECT_NE(text.find("SIGINT received; finishing the current step, then writing the image so far"), std::string::npos)
      << text;
  EXPECT_NE(text.find("interrupted by SIGINT after step"), std::string::npos) << text;
  ASSERT_TRUE(fs::exists(out));
  const gramgan::Image image = gramgan::read_png(out);
  EXPECT_EQ(image.width, 29);  // the 36x40 content scaled to a long side of 32
  EXPECT_EQ(image.height, 32);
}

TEST_F(CliProgress, TrainAcknowledgesASignalAtOnce) {
  const std::string err = dir_ / "err";
  const pid_t pid = spawn_cli(train({"--steps", "100000", "--checkpoint-every", "0"}), dir_ / "out", err);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_for_text(err, "step ", pid)) << read_file(err);
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_cli(pid), 128 + SIGTERM) << read_file(err);
  const std::string text = read_file(err);
  const std::size_t ack = text.find("SIGTERM received; finishing the current step, then writing a checkpoint");
  const std::size_t done = text.find("interrupted by SIGTERM");
  ASSERT_NE(ack, std::string::npos) << text;
  ASSERT_NE(done, std::string::npos) << text;
  EXPECT_LT(ack, done) << text;
}

TEST_F(CliProgress, StylizeNamesEachImageBeforeItsPass) {
  gramgan::RandomStream rng(3);
  const gramgan::gan::Generator generator({.width = 4, .residual_blocks = 1}, rng);
  gramgan::gan::save_generator(dir_ / "g.safetensors", generator);
  const CliResult r = run_cli({"stylize", "--model", dir_ / "g.safetensors", "--in", dir_ / "content/a.png", "--out",
                               dir_ / "s.png", "--device", "cpu"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("gramgan stylize: 1/1 " + dir_ / "content/a.png" + " (36x40) on cpu"), std::string::npos)
      << r.err;
}

// Point 8: host memory running out (here under a 768 MiB address-space limit: the generator's first activation of a
// 2048x2048 photo is 512 MiB) is one line and status 2 naming what ran out, not "std::bad_alloc" or a stack of
// internal calls. The progress lines come first; the error is the last line.
TEST_F(CliProgress, StylizeOutOfHostMemoryIsOneLineStatus2) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space: a ulimit -v run cannot start";
#endif
  gramgan::RandomStream rng(3);
  const gramgan::gan::Generator generator({}, rng);
  gramgan::gan::save_generator(dir_ / "g.safetensors", generator);
  gramgan::Image photo = gramgan::make_image(2048, 2048);
  std::fill(photo.pixels.begin(), photo.pixels.end(), 0.5f);
  gramgan::write_png(dir_ / "big.png", photo);
  const CliResult r = run_cli({"stylize", "--model", dir_ / "g.safetensors", "--in", dir_ / "big.png", "--out",
                               dir_ / "s.png", "--device", "cpu"},
                              768 * 1024);
  EXPECT_EQ(r.status, 2) << r.err;
  const std::size_t last_line = r.err.rfind('\n', r.err.size() - 2);
  const std::string error = r.err.substr(last_line == std::string::npos ? 0 : last_line + 1);
  EXPECT_EQ(error.rfind("gramgan: error: ", 0), 0u) << r.err;
  EXPECT_NE(error.find("out of memory"), std::string::npos) << r.err;
  EXPECT_NE(error.find("smaller images"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("bad_alloc"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "s.png"));
}

// ---- point 11: help ------------------------------------------------------------------------------------------------

TEST_F(CliValidation, HelpShowsNoBuildPathAndDocumentsTheOverride) {
  for (const char* sub : {"train", "transfer"}) {
    const CliResult r = run_cli({sub, "--help"});
    EXPECT_EQ(r.status, 0) << r.err;
    // The default is described, not printed as the absolute path of the build's source tree.
    for (std::size_t at = r.out.find("weights/vgg19.safetensors"); at != std::string::npos;
         at = r.out.find("weights/vgg19.safetensors", at + 1))
      EXPECT_TRUE(at == 0 || r.out[at - 1] != '/') << sub << " --help shows a build path: " << r.out;
    EXPECT_NE(r.out.find("GRAMGAN_VGG19"), std::string::npos) << sub;
    EXPECT_EQ(r.out.find("One subcommand is required"), std::string::npos) << sub << " ends with the top footer";
  }
  for (const char* sub : {"stylize", "info", "gradcheck"}) {
    const CliResult r = run_cli({sub, "--help"});
    EXPECT_EQ(r.out.find("One subcommand is required"), std::string::npos) << sub << " ends with the top footer";
  }
  const CliResult top = run_cli({"--help"});
  EXPECT_NE(top.out.find("One subcommand is required"), std::string::npos) << top.out;
  EXPECT_NE(top.out.find("GRAMGAN_VGG19"), std::string::npos) << top.out;
}

}  // namespace
