// Devices, allocators and streams: parsing device names, the capability queries (which must answer on a machine
// without a GPU or driver), the cpu allocator's exact accounting and the caching allocator's reuse rules.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cudasim/runtime.h"
#include "engine/allocator.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/stream.h"
#include "engine/tensor.h"
#include "tests/expect_error.h"

namespace gramgan {
namespace {

TEST(Device, ParsesTheValidForms) {
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_EQ(Device::parse("cuda"), Device::cuda(0));
  EXPECT_EQ(Device::parse("cuda:1"), Device::cuda(1));
  EXPECT_EQ(Device::parse("cuda:12").index(), 12);
  EXPECT_TRUE(Device::parse("cuda:3").is_cuda());
  EXPECT_EQ(Device::cpu().to_string(), "cpu");
  EXPECT_EQ(Device::parse("cuda").to_string(), "cuda:0");
  EXPECT_EQ(Device::parse(Device::cuda(7).to_string()), Device::cuda(7));
  EXPECT_NE(Device::cpu(), Device::cuda(0));
}

TEST(Device, RejectsOtherStringsListingTheValidForms) {
  for (const char* text : {"", "gpu", "CPU", "cuda:", "cuda:-1", "cuda:1x", "cuda:+1", "cuda1", "cpu:0", " cpu"})
    EXPECT_ERROR_MENTIONS(Device::parse(text), "valid devices: cpu, cuda, cuda:N");
  EXPECT_ERROR_MENTIONS(Device::cuda(-2), "valid devices");
}

TEST(Device, QueriesAnswerWithoutAGpu) {
  const bool available = cuda_available();  // must neither throw nor crash without a driver
  EXPECT_EQ(available, cuda_device_count() > 0);
  EXPECT_EQ(available, cuda_unavailable_reason().empty());
  EXPECT_EQ(gpus().size(), std::size_t(cuda_device_count()));
  EXPECT_GE(simulator_workers(), 1);
  EXPECT_EQ(simulator_workers(), cudasim::worker_count());
  if (cuda_backend_compiled()) {
    EXPECT_FALSE(cuda_architectures().empty());
    EXPECT_GT(cuda_runtime_version(), 0);
  } else {
    EXPECT_FALSE(available);
    EXPECT_TRUE(cuda_architectures().empty());
    EXPECT_NE(cuda_unavailable_reason().find("without the CUDA backend"), std::string::npos);
  }
  for (const GpuInfo& gpu : gpus()) {
    EXPECT_FALSE(gpu.name.empty());
    EXPECT_GT(gpu.total_memory, 0u);
    EXPECT_GE(gpu.major, 5);
  }
}

TEST(Device, CudaWithoutAGpuThrowsAnActionableError) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present; this case needs a machine without one";
  const std::string expected = cuda_backend_compiled() ? "no GPU available" : "built without the CUDA backend";
  EXPECT_ERROR_MENTIONS(check_device(Device::cuda()), expected);
  EXPECT_ERROR_MENTIONS(Tensor::empty({2, 3}, DType::float32, Device::cuda()), expected);
  EXPECT_ERROR_MENTIONS(Stream(Device::cuda()), expected);
  EXPECT_ERROR_MENTIONS(Tensor::zeros({4}).to(Device::cuda()), expected);
}

TEST(Device, CudaIndexBeyondTheGpusThrows) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  EXPECT_ERROR_MENTIONS(check_device(Device::cuda(cuda_device_count())), "does not exist");
}

TEST(Device, CpuStreamIsTheSimulatorsNullStream) {
  const Stream stream(Device::cpu());
  EXPECT_EQ(stream.handle(), nullptr);
  EXPECT_EQ(stream.device(), Device::cpu());
  EXPECT_NO_THROW(stream.synchronize());
}

TEST(Device, CudaStreamIsOnePerDevice) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  const Stream a(Device::cuda()), b(Device::cuda());
  EXPECT_NE(a.handle(), nullptr);
  EXPECT_EQ(a.handle(), b.handle());
  EXPECT_NO_THROW(a.synchronize());
}

TEST(Device, CpuAllocatorCountsExactBytes) {
  Allocator& cpu = allocator(Device::cpu());
  const AllocatorStats before = cpu.stats();
  {
    const Tensor t = Tensor::empty({3, 5, 7}, DType::float64);  // 840 bytes: no rounding on cpu
    const AllocatorStats during = cpu.stats();
    EXPECT_EQ(during.in_use, before.in_use + 840);
    EXPECT_EQ(during.reserved, during.in_use);
    EXPECT_GE(during.peak_in_use, during.in_use);
  }
  EXPECT_EQ(cpu.stats().in_use, before.in_use);
  EXPECT_EQ(Tensor::empty({0, 4}).storage()->data(), nullptr);
}

TEST(Device, CachingAllocatorRoundsSizes) {
  EXPECT_EQ(CachingAllocator::round_size(1), 512u);
  EXPECT_EQ(CachingAllocator::round_size(512), 512u);
  EXPECT_EQ(CachingAllocator::round_size(513), 1024u);
  EXPECT_EQ(CachingAllocator::round_size((1 << 20) - 1), std::size_t(1) << 20);
  EXPECT_EQ(CachingAllocator::round_size((1 << 20) + 1), (std::size_t(1) << 20) + 128 * 1024);
}

// The caching allocator over simulator memory with a byte budget, so running out can be provoked. `events` logs
// the runtime calls in order ("sync", "free"), to check that nothing goes back to the runtime unsynchronised.
struct BudgetedRaw {
  explicit BudgetedRaw(std::size_t bytes) : budget(bytes) {}

  std::size_t budget;
  std::size_t used = 0;
  int calls = 0;
  std::map<void*, std::size_t> sizes;
  std::vector<std::string> events;

  CachingAllocator make(CachingAllocator::Mode mode = CachingAllocator::Mode::caching) {
    DeviceMemoryCalls runtime;
    runtime.allocate = [this](std::size_t bytes) -> void* {
      ++calls;
      if (used + bytes > budget) return nullptr;
      void* ptr = nullptr;
      GG_CUDA_CHECK(cudasim::cudaMalloc(&ptr, bytes));
      used += bytes;
      sizes[ptr] = bytes;
      return ptr;
    };
    runtime.release = [this](void* ptr) {
      GG_CUDA_CHECK(cudasim::cudaFree(ptr));
      used -= sizes.at(ptr);
      sizes.erase(ptr);
      events.push_back("free");
    };
    runtime.synchronize = [this] { events.push_back("sync"); };
    return CachingAllocator("test", runtime, mode);
  }
};

TEST(Device, CachingAllocatorReusesFreedBlocksOfTheSameSize) {
  BudgetedRaw raw(1 << 20);
  CachingAllocator cache = raw.make();
  void* a = cache.allocate(1000);  // 1024 bytes
  EXPECT_EQ(cache.stats().in_use, 1024u);
  cache.deallocate(a, 1000);
  EXPECT_EQ(cache.stats().in_use, 0u);
  EXPECT_EQ(cache.stats().reserved, 1024u);
  void* b = cache.allocate(700);  // same class: the cached block comes back without a runtime call
  EXPECT_EQ(b, a);
  EXPECT_EQ(raw.calls, 1);
  void* c = cache.allocate(2000);  // other class: a new block
  EXPECT_NE(c, a);
  EXPECT_EQ(raw.calls, 2);
  EXPECT_EQ(cache.stats().in_use, 1024u + 2048u);
  EXPECT_EQ(cache.stats().peak_in_use, 1024u + 2048u);
  cache.deallocate(b, 700);
  cache.deallocate(c, 2000);
  EXPECT_EQ(cache.stats().reserved, 3072u);
  cache.empty_cache();
  EXPECT_EQ(cache.stats().reserved, 0u);
  EXPECT_EQ(cache.stats().peak_in_use, 3072u);
  EXPECT_EQ(cache.allocate(0), nullptr);
}

TEST(Device, CachingAllocatorEmptiesItsCacheBeforeGivingUp) {
  BudgetedRaw raw(4096);
  CachingAllocator cache = raw.make();
  cache.deallocate(cache.allocate(2048), 2048);  // cached: the budget now has 2048 bytes left
  void* big = cache.allocate(3072);              // fails once, frees the cached block, succeeds
  EXPECT_NE(big, nullptr);
  EXPECT_EQ(cache.stats().reserved, 3072u);
  EXPECT_ERROR_MENTIONS(cache.allocate(8192), "out of memory allocating 8192 bytes");
  cache.deallocate(big, 3072);
}

TEST(Device, CachingAllocatorSynchronisesBeforeReturningBlocks) {
  BudgetedRaw raw(4096);
  CachingAllocator cache = raw.make();
  cache.deallocate(cache.allocate(1024), 1024);
  cache.deallocate(cache.allocate(2048), 2048);
  EXPECT_TRUE(raw.events.empty());   // cached, not freed
  void* big = cache.allocate(3072);  // out of budget: the cache is emptied, one synchronisation before the frees
  EXPECT_EQ(raw.events, (std::vector<std::string>{"sync", "free", "free"}));
  cache.deallocate(big, 3072);
}

TEST(Device, ExactAllocatorNeitherRoundsNorCaches) {
  BudgetedRaw raw(1 << 20);
  CachingAllocator exact = raw.make(CachingAllocator::Mode::exact);
  void* a = exact.allocate(1000);
  EXPECT_EQ(raw.sizes.at(a), 1000u);
  EXPECT_EQ(exact.stats().in_use, 1000u);
  exact.deallocate(a, 1000);
  EXPECT_EQ(raw.events, (std::vector<std::string>{"sync", "free"}));
  EXPECT_EQ(exact.stats().reserved, 0u);
  EXPECT_EQ(raw.used, 0u);
  void* b = exact.allocate(1000);
  EXPECT_EQ(raw.calls, 2);  // a fresh runtime allocation, not a reused block
  exact.deallocate(b, 1000);
}

TEST(Device, CudaAllocatorCachesTensorMemory) {
  if (!cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  Allocator& gpu = allocator(Device::cuda());
  const void* first = nullptr;
  {
    const Tensor t = Tensor::empty({1000}, DType::float32, Device::cuda());
    first = t.data_ptr();
    EXPECT_GE(gpu.stats().in_use, 4000u);
  }
  const Tensor again = Tensor::empty({1000}, DType::float32, Device::cuda());
  EXPECT_EQ(again.data_ptr(), first);
  EXPECT_GE(gpu.stats().reserved, gpu.stats().in_use);
}

}  // namespace
}  // namespace gramgan
