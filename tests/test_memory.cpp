// Device memory: MemoryPlan (run code without allocating), `gramgan train --dry-run` against the measured peak of
// a real iteration on the cpu device, and the out-of-memory message of the cuda allocator.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/gan/dataset.h"
#include "apps/gan/trainer.h"
#include "cli_runner.h"
#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/memory.h"
#include "engine/ops.h"
#include "temp_dir.h"
#include "train_fixtures.h"

namespace {

namespace fs = std::filesystem;
using gramgan::AllocationScope;
using gramgan::Device;
using gramgan::MemoryPlan;
using gramgan::Shape;
using gramgan::Tensor;
using gramgan::test::TempDir;

constexpr std::size_t kMiB = 1024 * 1024;

// ---- MemoryPlan ----------------------------------------------------------------------------------------------------

TEST(MemoryPlan, CountsWithoutAllocatingOrRunning) {
  const Device cpu = Device::cpu();
  const std::size_t before = gramgan::device_memory_stats(cpu).in_use;
  MemoryPlan plan;
  {
    const AllocationScope scope("a");
    const Tensor x = Tensor::full(Shape{1000}, 3.0);  // 4000 bytes
    const Tensor y = gramgan::ops::add(x, x);         // 4000 more
    EXPECT_TRUE(gramgan::is_planned(y));
    EXPECT_EQ(y.to_host<float>()[0], 0.0f);  // nothing ran: reads give zeros
    EXPECT_EQ(plan.in_use(), 8000u);
    EXPECT_EQ(gramgan::device_memory_stats(cpu).in_use, before);
  }
  EXPECT_EQ(plan.in_use(), 0u);
  EXPECT_EQ(plan.peak(), 8000u);
  EXPECT_EQ(plan.at_peak().at("a"), 8000u);
  const Tensor z = Tensor::empty(Shape{10});
  gramgan::relabel_allocation(z, "b");
  EXPECT_EQ(plan.at_peak().size(), 1u);
  EXPECT_EQ(plan.in_use(), 40u);
}

TEST(MemoryPlan, ResetPeakOnTheCpuDevice) {
  const Device cpu = Device::cpu();
  gramgan::reset_peak(cpu);
  const std::size_t base = gramgan::device_memory_stats(cpu).in_use;
  EXPECT_EQ(gramgan::device_memory_stats(cpu).peak_in_use, base);
  { const Tensor t = Tensor::empty(Shape{256}); }
  EXPECT_EQ(gramgan::device_memory_stats(cpu).peak_in_use, base + 1024);
  EXPECT_EQ(gramgan::device_memory_stats(cpu).in_use, base);
}

// ---- estimate against the measured peak ---------------------------------------------------------------------------

class MemoryDryRun : public ::testing::Test {
 protected:
  MemoryDryRun() : dir_("memory") { gramgan::test::write_train_inputs(dir_.path(), 2, 72, 72); }

  gramgan::gan::TrainConfig config(int size, int batch, bool narrow, double lambda_adv) const {
    gramgan::gan::TrainConfig c;
    c.content_dir = dir_ / "content";
    c.style_path = dir_ / "style.png";
    c.vgg = "random";
    c.size = size;
    c.batch = batch;
    c.steps = 1;
    c.lambdas.adv = lambda_adv;
    if (narrow) {
      c.generator = {.width = 4, .residual_blocks = 1};
      c.discriminator = {.width = 4};
    }
    c.device = "cpu";
    c.sample_every = 0;
    c.out_dir = dir_ / ("run" + std::to_string(runs_++));
    return c;
  }

  mutable int runs_ = 0;
  TempDir dir_;
};

// The estimate runs the same code under a MemoryPlan, so it should equal the measured peak; the contract is 10%.
TEST_F(MemoryDryRun, EstimateWithinTenPercentOfMeasuredPeak) {
  struct Case {
    int size, batch;
    bool narrow;
    double lambda_adv;
  };
  const std::vector<Case> cases = {
      {32, 1, true, 0.1}, {32, 2, true, 0.1}, {64, 1, true, 0.1}, {64, 2, true, 0.0}, {32, 1, false, 0.1}};
  const Device cpu = Device::cpu();
  std::printf("%6s %6s %-8s %-6s %14s %14s\n", "size", "batch", "widths", "adv", "estimate MiB", "measured MiB");
  for (const Case& k : cases) {
    const gramgan::gan::TrainConfig c = config(k.size, k.batch, k.narrow, k.lambda_adv);
    SCOPED_TRACE("size " + std::to_string(k.size) + " batch " + std::to_string(k.batch) +
                 (k.narrow ? " narrow" : " default widths") + " lambda_adv " + std::to_string(k.lambda_adv));
    const std::size_t before = gramgan::device_memory_stats(cpu).in_use;
    const gramgan::gan::MemoryEstimate estimate = gramgan::gan::Trainer::estimate_memory(c);
    EXPECT_EQ(gramgan::device_memory_stats(cpu).in_use, before) << "the estimate allocated device memory";
    EXPECT_FALSE(fs::exists(c.out_dir)) << "the estimate created the run folder";
    std::size_t sum = 0;
    for (const auto& [label, bytes] : estimate.at_peak) sum += bytes;
    EXPECT_EQ(sum, estimate.peak);

    gramgan::reset_peak(cpu);
    std::size_t measured = 0;
    {
      gramgan::gan::Trainer trainer(c, false);
      trainer.train_step();
      measured = gramgan::device_memory_stats(cpu).peak_in_use - before;
    }
    std::printf("%6d %6d %-8s %-6g %14.3f %14.3f\n", k.size, k.batch, k.narrow ? "narrow" : "default", k.lambda_adv,
                double(estimate.peak) / kMiB, double(measured) / kMiB);
    EXPECT_NEAR(double(estimate.peak), double(measured), 0.10 * double(measured));
  }
}

TEST_F(MemoryDryRun, CliPrintsBreakdownAndWritesNothing) {
  const std::string run = dir_ / "cli_run";
  const gramgan::test::CliResult r = gramgan::test::run_cli({"train",
                                                             "--content",
                                                             dir_ / "content",
                                                             "--style",
                                                             dir_ / "style.png",
                                                             "--out",
                                                             run,
                                                             "--vgg",
                                                             "random",
                                                             "--size",
                                                             "32",
                                                             "--batch",
                                                             "2",
                                                             "--g-width",
                                                             "4",
                                                             "--g-blocks",
                                                             "1",
                                                             "--d-width",
                                                             "4",
                                                             "--device",
                                                             "cpu",
                                                             "--dry-run"});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* category : {"parameters: G", "parameters: D", "parameters: VGG", "optimizer state", "activations: G",
                               "activations: VGG", "workspaces", "total (peak)", " MiB"})
    EXPECT_NE(r.out.find(category), std::string::npos) << category << " missing in:\n" << r.out;
  EXPECT_FALSE(fs::exists(run)) << "--dry-run created the run folder";

  // Inputs are still checked.
  const gramgan::test::CliResult bad =
      gramgan::test::run_cli({"train", "--content", dir_ / "content", "--style", dir_ / "missing.png", "--out", run,
                              "--vgg", "random", "--size", "32", "--device", "cpu", "--dry-run"});
  EXPECT_EQ(bad.status, 2) << bad.err;
  EXPECT_NE(bad.err.find("missing.png"), std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(run));
}

// ---- out of memory -----------------------------------------------------------------------------------------------

TEST(OutOfMemoryMessage, NamesWhatHowMuchFreeAndAdvice) {
  const std::string text =
      gramgan::out_of_memory_message("cuda:0", "activations: VGG and loss terms", 3 * kMiB, kMiB, 80 * 1024 * kMiB, 0);
  for (const char* part : {"cuda:0", "activations: VGG and loss terms", "3145728 bytes (3.00 MiB)", "(1.00 MiB) free",
                           "81920.00 MiB", "--size", "--batch"})
    EXPECT_NE(text.find(part), std::string::npos) << part << " missing in: " << text;
}

TEST(OutOfMemoryMessage, CachingAllocatorRetriesThenNamesTheLabel) {
  int attempts = 0, frees = 0;
  gramgan::CachingAllocator allocator(
      "cuda:7",
      {[&](std::size_t) -> void* { return ++attempts == 1 ? &attempts : nullptr; }, [&](void*) { ++frees; }, [] {},
       [] {
         return std::pair<std::size_t, std::size_t>{2 * kMiB, 16 * kMiB};
       }});
  void* cached = allocator.allocate(100);
  allocator.deallocate(cached, 100);  // one block in the cache, freed before the retry
  const AllocationScope scope("activations: G");
  try {
    allocator.allocate(5 * kMiB);
    FAIL() << "no error";
  } catch (const gramgan::Error& e) {
    const std::string text = e.what();
    EXPECT_NE(text.find("cuda:7: out of memory allocating 5242880 bytes (5.00 MiB) for activations: G"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("(2.00 MiB) free of 16777216 bytes (16.00 MiB)"), std::string::npos) << text;
    EXPECT_NE(text.find("--size or --batch"), std::string::npos) << text;
  }
  EXPECT_EQ(attempts, 3);  // the first block, then the request and its retry
  EXPECT_EQ(frees, 1);
}

TEST(OutOfMemoryMessage, AbsurdCudaAllocation) {
  if (!gramgan::cuda_available()) GTEST_SKIP() << "no GPU: " << gramgan::cuda_unavailable_reason();
  const AllocationScope scope("a test tensor");
  try {
    const Tensor t = Tensor::empty(Shape{std::int64_t(1) << 44}, gramgan::DType::float32, Device::cuda(0));  // 64 TiB
    FAIL() << "64 TiB were allocated";
  } catch (const gramgan::Error& e) {
    const std::string text = e.what();
    for (const char* part : {"out of memory", "for a test tensor", "free of", "--size or --batch"})
      EXPECT_NE(text.find(part), std::string::npos) << part << " missing in: " << text;
  }
}

}  // namespace
