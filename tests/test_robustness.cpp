// Training robustness, mostly on the real binary at the tiny sizes of test_train.cpp (32x32 crops, widths 4, one
// residual block, random VGG, cpu): a non-finite loss stops the run keeping the last good checkpoint and
// --detect-anomaly names the first op and layer; SIGKILL at random points then --resume is bitwise an uninterrupted
// run and leaves no temporary files; SIGTERM/SIGINT write a checkpoint and exit 128 + signal; two runs with one
// seed are bitwise equal (cpu; cuda and cpu-vs-cuda skip without a GPU).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "apps/gan/checkpoint.h"
#include "apps/gan/dataset.h"
#include "apps/gan/trainer.h"
#include "autograd/functions.h"
#include "cli_runner.h"
#include "engine/device.h"
#include "expect_error.h"
#include "temp_dir.h"
#include "train_fixtures.h"

namespace {

namespace fs = std::filesystem;
using gramgan::DType;
using gramgan::Image;
using gramgan::SafetensorsFile;
using gramgan::Tensor;
using gramgan::test::expect_same_tensors;
using gramgan::test::read_file;
using gramgan::test::run_cli;
using gramgan::test::spawn_cli;
using gramgan::test::TempDir;
using gramgan::test::wait_cli;
namespace ag = gramgan::autograd;

// Two content photos and a style image in `dir`.
void write_inputs(const TempDir& dir) { gramgan::test::write_train_inputs(dir.path(), 2, 40, 43); }

// `gramgan train` of the tiny run in dir/run, with the inputs of write_inputs(dir).
std::vector<std::string> train_args(const TempDir& dir, const std::string& run, long long steps,
                                    std::vector<std::string> extra = {}) {
  std::vector<std::string> args = gramgan::test::tiny_train_cli(dir / "content", dir / "style.png", dir / run, steps);
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::vector<std::string> resume_args(const TempDir& dir, const std::string& run) {
  return {"train", "--resume", "--device", "cpu", "--out", dir / run};
}

long long checkpoint_step(const std::string& path) { return SafetensorsFile::open(path).read_int64("step").at(0); }

// The step numbers of log.csv's rows.
std::vector<long long> log_steps(const fs::path& run) {
  std::vector<long long> steps;
  std::istringstream in(read_file(run / "log.csv"));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) steps.push_back(std::atoll(line.c_str()));
  return steps;
}

// Files in `run` that AtomicFile writes before renaming (".<name>.tmp.<pid>.<n>").
std::vector<std::string> temporaries(const fs::path& run) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(run))
    if (entry.path().filename().string().find(".tmp.") != std::string::npos) found.push_back(entry.path().string());
  return found;
}

gramgan::gan::TrainConfig tiny_config(const TempDir& dir, const std::string& run, const std::string& device) {
  gramgan::gan::TrainConfig c = gramgan::test::tiny_train_config(dir / "content", dir / "style.png", dir / run);
  c.batch = 2;
  c.steps = 3;
  c.device = device;
  return c;
}

// ---- non-finite values -------------------------------------------------------------------------------------------

// A NaN in G's last bias after step 1 (its checkpoint written): step 2's loss is not finite, the run stops with an
// error naming the step and the kept checkpoint, and the checkpoint on disk is bitwise the one of a run of 1 step.
TEST(Anomaly, NonFiniteLossStopsTheRunAndKeepsTheLastGoodCheckpoint) {
  const TempDir dir("anomaly_stop");
  write_inputs(dir);
  gramgan::gan::TrainConfig config = tiny_config(dir, "run", "cpu");
  config.steps = 4;
  config.checkpoint_every = 1;
  gramgan::gan::Trainer trainer(config, false);
  const auto poison_after_step_1 = [&] {
    if (trainer.step() == 1)
      for (const auto& p : trainer.generator().named_parameters())
        if (p.name == "tail.conv.bias") {
          Tensor bias = p.variable.value();
          bias.copy_(Tensor::full(bias.shape(), std::nan(""), bias.dtype(), bias.device()));
        }
    return false;
  };
  std::string message;
  try {
    trainer.run({}, poison_after_step_1);
  } catch (const gramgan::gan::NonFiniteLoss& e) {
    message = e.what();
  }
  for (const char* fragment :
       {"step 2: the ", "loss is not finite", "training stopped and the last good checkpoint, step 1, is kept",
        "Try a new run with a lower --lr", "--detect-anomaly names the first op"})
    EXPECT_NE(message.find(fragment), std::string::npos) << "expected '" << fragment << "' in: " << message;
  ASSERT_EQ(checkpoint_step(dir / "run/checkpoint.safetensors"), 1);
  gramgan::gan::TrainConfig one_step = tiny_config(dir, "one_step", "cpu");
  one_step.steps = 1;
  gramgan::gan::Trainer(one_step, false).run({});
  expect_same_tensors(dir / "run/checkpoint.safetensors", dir / "one_step/checkpoint.safetensors");
  expect_same_tensors(dir / "run/generator.safetensors", dir / "one_step/generator.safetensors");
  EXPECT_EQ(log_steps(dir.path() / "run"), std::vector<long long>{1});
}

// --lr-d 1e38: Adam's first update moves every D weight by about 1e38 (still finite in float32), so D overflows in
// the G step of the same iteration; through the CLI: exit status 2 and what to try.
TEST(Anomaly, CliStopsOnANonFiniteLossWithExitStatus2) {
  const TempDir dir("anomaly_cli");
  write_inputs(dir);
  const auto r = run_cli(train_args(dir, "run", 5, {"--lr-d", "1e38", "--checkpoint-every", "1"}));
  EXPECT_EQ(r.status, 2) << r.err;
  for (const char* fragment :
       {"gramgan: error: step 1: the generator loss is not finite", "the adversarial term comes from D",
        "no checkpoint had been written yet", "a lower --lr-d (was 1e+38"})
    EXPECT_NE(r.err.find(fragment), std::string::npos) << "expected '" << fragment << "' in: " << r.err;
  EXPECT_FALSE(fs::exists(dir.path() / "run/checkpoint.safetensors"));
}

TEST(Anomaly, DetectAnomalyNamesTheFirstOpAndLayer) {
  const TempDir dir("anomaly_detect");
  write_inputs(dir);
  const auto r = run_cli(train_args(dir, "run", 5, {"--lr-d", "1e38", "--detect-anomaly"}));
  EXPECT_EQ(r.status, 2) << r.err;
  // D's first conv is the first op to see the 1e38 weights (finite themselves); its output overflows.
  EXPECT_NE(r.err.find("gramgan: error: detect-anomaly: conv2d forward produced Inf"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("layer D.layer1.conv)"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("not finite"), std::string::npos) << "the op, not the loss, should stop it: " << r.err;
}

TEST(Anomaly, ForwardAndBackwardChecksNameOpAndLayerAndCostNothingWhenOff) {
  const Tensor nan_weight = Tensor::full({2, 1, 1, 1}, std::nan(""), DType::float32, gramgan::Device::cpu());
  const ag::Variable x(Tensor::full({1, 1, 3, 3}, 1.0, DType::float32, gramgan::Device::cpu()), true);
  const ag::Variable w(nan_weight, true, "weight");
  EXPECT_FALSE(ag::anomaly_detection_enabled());
  EXPECT_NO_THROW(ag::conv2d(x, w, {}, {}));  // off: NaN flows on, nothing checks
  {
    const ag::DetectAnomalyGuard anomaly;
    const ag::LayerScope outer("net"), inner("block1");
    EXPECT_ERROR_MENTIONS(ag::conv2d(x, w, {}, {}), "detect-anomaly: conv2d forward produced NaN");
    EXPECT_ERROR_MENTIONS(ag::conv2d(x, w, {}, {}), "layer net.block1");
    EXPECT_ERROR_MENTIONS(ag::conv2d(x, w, {}, {}), "input 1 'weight' was already non-finite");
    // sqrt TV with eps 0 on a constant image: the value is 0, its gradient 0/0.
    const ag::Variable flat(Tensor::full({1, 3, 4, 4}, 0.5, DType::float32, gramgan::Device::cpu()), true);
    const ag::Variable tv = ag::tv_loss(gramgan::TvMode::sqrt, flat, 0.0);
    EXPECT_ERROR_MENTIONS(tv.backward(), "detect-anomaly: tv_loss backward produced NaN");
  }
  EXPECT_FALSE(ag::anomaly_detection_enabled());
}

// ---- determinism -------------------------------------------------------------------------------------------------

void expect_repeatable(const std::string& device) {
  const TempDir dir("determinism");
  write_inputs(dir);
  gramgan::gan::Trainer(tiny_config(dir, "a", device), false).run({});
  gramgan::gan::Trainer(tiny_config(dir, "b", device), false).run({});
  expect_same_tensors(dir / "a/checkpoint.safetensors", dir / "b/checkpoint.safetensors");
  expect_same_tensors(dir / "a/generator.safetensors", dir / "b/generator.safetensors");
}

TEST(Determinism, TwoCpuRunsWithOneSeedGiveBitwiseIdenticalCheckpoints) { expect_repeatable("cpu"); }

TEST(Determinism, TwoCudaRunsWithOneSeedGiveBitwiseIdenticalCheckpoints) {
  if (!gramgan::cuda_available()) GTEST_SKIP() << "no GPU: " << gramgan::cuda_unavailable_reason();
  expect_repeatable("cuda");
}

// cpu and cuda sum in the same order, but nvcc and g++ contract multiply-adds into FMAs differently and tanh/exp
// differ by ulps, so they agree only to float32 rounding. Tolerances: each loss of the first 3 steps within 1e-3
// relative; every weight within 3 * lr_g * steps, Adam's largest possible drift (each step moves a weight by
// about lr at most) - more means the runs went different ways, not rounding.
TEST(Determinism, CpuAndCudaAgreeWithinTolerance) {
  if (!gramgan::cuda_available()) GTEST_SKIP() << "no GPU: " << gramgan::cuda_unavailable_reason();
  const TempDir dir("cpu_vs_cuda");
  write_inputs(dir);
  std::vector<gramgan::gan::StepLog> cpu_log, cuda_log;
  gramgan::gan::Trainer cpu(tiny_config(dir, "cpu", "cpu"), false);
  cpu.run([&](const gramgan::gan::StepLog& l) { cpu_log.push_back(l); });
  gramgan::gan::Trainer cuda(tiny_config(dir, "cuda", "cuda"), false);
  cuda.run([&](const gramgan::gan::StepLog& l) { cuda_log.push_back(l); });
  ASSERT_EQ(cpu_log.size(), cuda_log.size());
  for (std::size_t i = 0; i < cpu_log.size(); ++i)
    for (auto [a, b] :
         {std::pair{cpu_log[i].content, cuda_log[i].content}, std::pair{cpu_log[i].style, cuda_log[i].style},
          std::pair{cpu_log[i].tv, cuda_log[i].tv}, std::pair{cpu_log[i].g_total, cuda_log[i].g_total}})
      EXPECT_NEAR(a, b, 1e-3 * std::abs(a)) << "step " << i + 1;
  const auto g_cpu = cpu.generator().named_parameters(), g_cuda = cuda.generator().named_parameters();
  const double atol = 3 * cpu.config().lr_g * double(cpu.config().steps);
  for (std::size_t p = 0; p < g_cpu.size(); ++p) {
    const auto a = g_cpu[p].variable.value().to_host<float>();
    const auto b = g_cuda[p].variable.value().to_host<float>();
    for (std::size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], atol) << g_cpu[p].name << "[" << i << "]";
  }
}

// ---- signals -----------------------------------------------------------------------------------------------------

// Waits until log.csv has `rows` rows (or the process is gone); false after a minute.
bool wait_for_log_rows(const fs::path& run, std::size_t rows, pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(run / "log.csv") && log_steps(run).size() >= rows) return true;
    if (::kill(pid, 0) != 0) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(Signal, SigtermAndSigintWriteACheckpointAndResumeIsBitwise) {
  const TempDir dir("signal");
  write_inputs(dir);
  constexpr long long kSteps = 8;
  ASSERT_EQ(run_cli(train_args(dir, "straight", kSteps)).status, 0);
  for (const int signal_number : {SIGTERM, SIGINT}) {
    const std::string run = signal_number == SIGTERM ? "term" : "int";
    SCOPED_TRACE(run);
    // No periodic checkpoints: the one on disk after the signal is the signal's.
    const pid_t pid = spawn_cli(train_args(dir, run, kSteps, {"--checkpoint-every", "0"}), dir / (run + ".out"),
                                dir / (run + ".err"));
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(wait_for_log_rows(dir.path() / run, 2, pid)) << read_file(dir.path() / (run + ".err"));
    ::kill(pid, signal_number);
    EXPECT_EQ(wait_cli(pid), 128 + signal_number);
    const std::string err = read_file(dir.path() / (run + ".err"));
    const std::vector<long long> rows = log_steps(dir.path() / run);
    ASSERT_FALSE(rows.empty());
    const long long step = checkpoint_step(dir / (run + "/checkpoint.safetensors"));
    EXPECT_EQ(step, rows.back());
    EXPECT_LT(step, kSteps) << "the signal came too late to test anything";
    EXPECT_NE(err.find("interrupted by " + std::string(signal_number == SIGTERM ? "SIGTERM" : "SIGINT") + " at step " +
                       std::to_string(step)),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("checkpoint written; continue with gramgan train --resume"), std::string::npos) << err;
    const auto resumed = run_cli(resume_args(dir, run));
    ASSERT_EQ(resumed.status, 0) << resumed.err;
    expect_same_tensors(dir / "straight/checkpoint.safetensors", dir / (run + "/checkpoint.safetensors"));
  }
}

// ---- crash safety ------------------------------------------------------------------------------------------------

// SIGKILL at seeded random moments (before, during and between checkpoints), each followed by --resume (or a
// fresh start when no checkpoint was written yet), until a run finishes: the result is bitwise the uninterrupted
// run's, log.csv has each step once, and no temporary file is left. GRAMGAN_KILL_TRIALS overrides the trial count
// (slow builds, e.g. sanitizers, can lower it; the default keeps the test near half a minute in Release on 2 busy
// cores).
TEST(Kill, SigkillAtRandomPointsThenResumeIsBitwiseTheUninterruptedRun) {
  const TempDir dir("kill");
  write_inputs(dir);
  constexpr long long kSteps = 6;
  const std::vector<std::string> every_step = {"--checkpoint-every", "1"};
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(run_cli(train_args(dir, "straight", kSteps, every_step)).status, 0);
  const double run_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const char* trials_env = std::getenv("GRAMGAN_KILL_TRIALS");
  const int trials = trials_env ? std::atoi(trials_env) : 3;
  std::mt19937_64 rng(20240601);
  int kills = 0;
  for (int trial = 0; trial < trials; ++trial) {
    const std::string run = "trial" + std::to_string(trial);
    SCOPED_TRACE(run);
    const fs::path run_dir = dir.path() / run;
    for (int attempt = 0; attempt < 3; ++attempt) {
      const bool resume = fs::exists(run_dir / "checkpoint.safetensors");
      // A run killed before its first checkpoint has nothing to resume, and a new run needs an empty folder.
      if (!resume) fs::remove_all(run_dir);
      const auto args = resume ? resume_args(dir, run) : train_args(dir, run, kSteps, every_step);
      const pid_t pid = spawn_cli(args, dir / (run + ".out"), dir / (run + ".err"));
      ASSERT_GT(pid, 0);
      // Up to the whole run's length, so some kills land after it finished (nothing to kill).
      std::uniform_real_distribution<double> delay(0.0, run_seconds);
      std::this_thread::sleep_for(std::chrono::duration<double>(delay(rng)));
      ::kill(pid, SIGKILL);
      const int status = wait_cli(pid);
      if (status == 128 + SIGKILL)
        ++kills;
      else
        ASSERT_EQ(status, 0) << read_file(dir.path() / (run + ".err"));
    }
    const bool resume = fs::exists(run_dir / "checkpoint.safetensors");
    if (!resume) fs::remove_all(run_dir);
    const auto last = run_cli(resume ? resume_args(dir, run) : train_args(dir, run, kSteps, every_step));
    ASSERT_EQ(last.status, 0) << last.err;
    expect_same_tensors(dir / "straight/checkpoint.safetensors", dir / (run + "/checkpoint.safetensors"));
    expect_same_tensors(dir / "straight/generator.safetensors", dir / (run + "/generator.safetensors"));
    EXPECT_EQ(log_steps(run_dir), log_steps(dir.path() / "straight"));
    EXPECT_EQ(temporaries(run_dir), std::vector<std::string>{});
  }
  EXPECT_GE(kills, trials) << "too few kills landed during a run";
  std::printf("%d trials, %d of %d SIGKILLs landed during a run\n", trials, kills, 3 * trials);
}

}  // namespace
