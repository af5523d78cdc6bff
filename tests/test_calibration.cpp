// Loss weights calibrated at step 0 (TrainConfig::calibrate) for both architectures: the first batch's weighted
// terms meet kCalibrationRatios, the data streams are left where they were, weights given explicitly stay; after
// every K-th step (TrainConfig::calibrate_every) the weights are set again from the mean raw terms of the later
// half of those K steps; a run resumed before, inside or between those windows keeps the stored weights and is
// bitwise the uninterrupted one.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "apps/gan/trainer.h"
#include "engine/io/png.h"
#include "temp_dir.h"
#include "train_fixtures.h"

namespace {

namespace fs = std::filesystem;
using gramgan::test::noise_image;
using gramgan::test::TempDir;
using namespace gramgan::gan;

// A tiny run of either architecture: two photos, and one style image (johnson) or two (adain), 40 px a side.
TrainConfig tiny(const TempDir& dir, Arch arch) {
  fs::create_directories(dir.path() / "content");
  fs::create_directories(dir.path() / "styles");
  for (int i = 0; i < 2; ++i) {
    gramgan::write_png(dir / ("content/" + std::to_string(i) + ".png"), noise_image(40, 40, 10 + i));
    gramgan::write_png(dir / ("styles/" + std::to_string(i) + ".png"), noise_image(40, 40, 90 + i));
  }
  TrainConfig c = gramgan::test::tiny_train_config(dir / "content", dir / "styles/0.png", dir / "run");
  c.batch = 2;
  c.calibrate = {"style", "adv", "tv"};
  if (arch == Arch::adain) {
    c.arch = Arch::adain;
    c.style_path = dir / "styles";
    c.decoder = {.width = 4};
  }
  return c;
}

void expect_relative(double a, double b, double tolerance) {
  EXPECT_LE(std::abs(a - b), tolerance * std::abs(b)) << a << " vs " << b;
}

class Calibration : public ::testing::TestWithParam<Arch> {};

TEST_P(Calibration, FirstBatchMeetsTheTargetRatios) {
  const TempDir dir("calibration_ratios");
  const TrainConfig config = tiny(dir, GetParam());
  Trainer trainer(config, false);
  const CalibrationResult& cal = trainer.calibration();
  const LossWeights& w = trainer.config().lambdas;
  EXPECT_EQ(w.content, config.lambdas.content);  // the reference is not calibrated
  EXPECT_NE(w.style, config.lambdas.style);
  const double content = w.content * cal.raw.content;
  ASSERT_GT(content, 0);
  expect_relative(w.style * cal.raw.style, kCalibrationRatios.style * content, 1e-12);
  expect_relative(w.adv * cal.raw.adv, kCalibrationRatios.adv * content, 1e-12);
  expect_relative(w.tv * cal.raw.tv, kCalibrationRatios.tv * content, 1e-12);
  // Step 1 trains on the batch calibration measured (the streams were put back), with the same G: the same raw
  // perceptual terms, bit for bit, and the calibrated weights in its log.
  const StepLog log = trainer.train_step();
  EXPECT_EQ(log.content, cal.raw.content);
  EXPECT_EQ(log.style, cal.raw.style);
  EXPECT_EQ(log.tv, cal.raw.tv);
  EXPECT_EQ(log.lambdas.style, w.style);
}

TEST_P(Calibration, ExplicitWeightsStayAndNoCalibrationChangesNothing) {
  const TempDir dir("calibration_explicit"), plain_dir("calibration_plain");
  TrainConfig config = tiny(dir, GetParam());
  config.calibrate = {"style"};
  Trainer trainer(config, false);
  EXPECT_NE(trainer.config().lambdas.style, config.lambdas.style);
  EXPECT_EQ(trainer.config().lambdas.adv, config.lambdas.adv);
  EXPECT_EQ(trainer.config().lambdas.tv, config.lambdas.tv);
  TrainConfig plain = tiny(plain_dir, GetParam());
  plain.calibrate.clear();
  Trainer uncalibrated(plain, false);
  EXPECT_EQ(uncalibrated.config().lambdas.style, plain.lambdas.style);
  EXPECT_EQ(uncalibrated.train_step().content, trainer.train_step().content);  // same first batch and G
}

// K = 4: re-balances after steps 4 and 8. The second against the test's own mean of the raw terms that the step
// logs (log.csv's rows) of steps 7 and 8 hold: the weighted means meet the ratios; steps 1-4 trained with the
// first batch's weights, 5-8 with the first re-balance's, 9 with the second's, and config.json holds those.
TEST_P(Calibration, EveryKStepsTheWindowMeanMeetsTheTargetRatios) {
  const TempDir dir("calibration_rebalance");
  TrainConfig config = tiny(dir, GetParam());
  config.calibrate_every = 4;
  config.steps = 9;
  Trainer trainer(config, false);
  const LossWeights first = trainer.config().lambdas;
  std::vector<StepLog> logs;
  LossWeights second;
  for (int i = 0; i < 9; ++i) {
    logs.push_back(trainer.train_step());
    if (i == 3) second = trainer.config().lambdas;
  }
  const LossWeights& w = trainer.config().lambdas;
  const CalibrationResult& cal = trainer.calibration();
  EXPECT_EQ(cal.step, 8);
  const auto mean = [&](double StepLog::*term) { return (logs[6].*term + logs[7].*term) / 2; };
  const double content = w.content * mean(&StepLog::content);
  ASSERT_GT(content, 0);
  expect_relative(w.style * mean(&StepLog::style), kCalibrationRatios.style * content, 1e-12);
  expect_relative(w.adv * mean(&StepLog::adv_g), kCalibrationRatios.adv * content, 1e-12);
  expect_relative(w.tv * mean(&StepLog::tv), kCalibrationRatios.tv * content, 1e-12);
  EXPECT_EQ(cal.before.style, second.style);
  EXPECT_NE(second.style, first.style);
  EXPECT_NE(w.style, second.style);
  EXPECT_EQ(w.content, first.content);
  for (int i = 0; i < 9; ++i)
    EXPECT_EQ(logs[std::size_t(i)].lambdas.adv, i < 4 ? first.adv : i < 8 ? second.adv : w.adv) << "step " << i + 1;
  std::ifstream in(dir / "run/config.json");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(config_from_json(text.str(), "config.json").lambdas.adv, w.adv);
}

TEST_P(Calibration, ResumeKeepsTheStoredWeightsAndIsBitwise) {
  const TempDir straight_dir("calibration_straight"), split_dir("calibration_split");
  TrainConfig straight = tiny(straight_dir, GetParam());
  straight.steps = 3;
  LossWeights calibrated;
  {
    Trainer trainer(straight, false);
    calibrated = trainer.config().lambdas;
    trainer.run({});
  }
  TrainConfig split = tiny(split_dir, GetParam());
  split.steps = 3;
  {
    Trainer first(split, false);
    first.train_step();
    first.save_checkpoint();
  }
  const TrainConfig saved = Trainer::saved_config(split.out_dir);
  EXPECT_EQ(saved.lambdas.style, calibrated.style);
  EXPECT_EQ(saved.lambdas.tv, calibrated.tv);
  EXPECT_EQ(saved.calibrate, split.calibrate);
  Trainer resumed(saved, true);
  EXPECT_EQ(resumed.config().lambdas.style, calibrated.style);  // not measured again on a later batch
  resumed.run({});
  gramgan::test::expect_same_tensors(straight_dir / "run/checkpoint.safetensors",
                                     split_dir / "run/checkpoint.safetensors");
}

// With K = 4 (windows: steps 3-4 and 7-8), a run of 9 steps stopped after step 1 (before the first window), 3
// (inside it: the checkpoint carries the running sums), 5 (between the windows) or 7 (inside the second) and
// resumed ends with the same bits.
TEST_P(Calibration, ResumeBeforeInsideOrBetweenTheWindowsIsBitwise) {
  const auto config_in = [&](const TempDir& dir) {
    TrainConfig c = tiny(dir, GetParam());
    c.calibrate_every = 4;
    c.steps = 9;
    return c;
  };
  const TempDir straight_dir("rebalance_straight");
  {
    Trainer trainer(config_in(straight_dir), false);
    trainer.run({});
  }
  for (const int stop : {1, 3, 5, 7}) {
    const TempDir split_dir("rebalance_split_" + std::to_string(stop));
    {
      Trainer first(config_in(split_dir), false);
      for (int i = 0; i < stop; ++i) first.train_step();
      first.save_checkpoint();
    }
    Trainer resumed(Trainer::saved_config(split_dir / "run"), true);
    resumed.run({});
    EXPECT_EQ(resumed.config().lambdas.adv, Trainer::saved_config(straight_dir / "run").lambdas.adv)
        << "stopped after step " << stop;
    gramgan::test::expect_same_tensors(straight_dir / "run/checkpoint.safetensors",
                                       split_dir / "run/checkpoint.safetensors");
  }
}

INSTANTIATE_TEST_SUITE_P(BothArchitectures, Calibration, ::testing::Values(Arch::johnson, Arch::adain),
                         [](const auto& info) { return std::string(enum_name(kArchNames, info.param)); });

}  // namespace
