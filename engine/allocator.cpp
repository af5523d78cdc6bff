#include "engine/allocator.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>

#include <unistd.h>

#include "cudasim/runtime.h"
#include "engine/device_cuda.h"
#include "engine/error.h"
#include "engine/memory.h"

namespace gramgan {
namespace {

std::string describe_bytes(std::size_t bytes) {
  char text[64];
  std::snprintf(text, sizeof text, "%zu bytes (%.2f MiB)", bytes, double(bytes) / (1024.0 * 1024.0));
  return text;
}

void count_allocation(AllocatorStats& stats, std::size_t bytes) {
  stats.in_use += bytes;
  stats.peak_in_use = std::max(stats.peak_in_use, stats.in_use);
}

class CpuAllocator final : public Allocator {
 public:
  void* allocate(std::size_t bytes) override {
    if (bytes == 0) return nullptr;
    void* ptr = nullptr;
    bool failed = false;
    try {
      failed = cudasim::cudaMalloc(&ptr, bytes) != cudasim::cudaSuccess || ptr == nullptr;
    } catch (const std::bad_alloc&) {
      failed = true;
    }
    const std::lock_guard lock(mutex_);
    if (failed) {
      const long pages = sysconf(_SC_AVPHYS_PAGES), all_pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
      throw Error(out_of_memory_message("cpu (host memory)", current_allocation_label(), bytes,
                                        std::size_t(std::max(0L, pages)) * std::size_t(page),
                                        std::size_t(std::max(0L, all_pages)) * std::size_t(page), stats_.in_use));
    }
    count_allocation(stats_, bytes);
    stats_.reserved = stats_.in_use;
    return ptr;
  }

  void deallocate(void* ptr, std::size_t bytes) override {
    if (ptr == nullptr) return;
    GG_CUDA_CHECK(cudasim::cudaFree(ptr));
    const std::lock_guard lock(mutex_);
    stats_.in_use -= bytes;
    stats_.reserved = stats_.in_use;
  }

  AllocatorStats stats() const override {
    const std::lock_guard lock(mutex_);
    return stats_;
  }

  void reset_peak() override {
    const std::lock_guard lock(mutex_);
    stats_.peak_in_use = stats_.in_use;
  }

 private:
  mutable std::mutex mutex_;
  AllocatorStats stats_;
};

}  // namespace

namespace {
std::mutex advice_mutex;
std::string advice = "try a smaller --size or --batch (gramgan train --dry-run prints what a configuration needs)";
}  // namespace

void set_out_of_memory_advice(std::string text) {
  const std::lock_guard lock(advice_mutex);
  advice = std::move(text);
}

std::string out_of_memory_advice() {
  const std::lock_guard lock(advice_mutex);
  return advice;
}

std::string out_of_memory_message(const std::string& device_name, const std::string& label, std::size_t bytes,
                                  std::size_t free_bytes, std::size_t total_bytes, std::size_t in_use) {
  return device_name + ": out of memory allocating " + describe_bytes(bytes) + " for " + label + "; the device has " +
         describe_bytes(free_bytes) + " free of " + describe_bytes(total_bytes) + ", " + describe_bytes(in_use) +
         " held by gramgan's tensors; " + out_of_memory_advice();
}

CachingAllocator::CachingAllocator(std::string device_name, DeviceMemoryCalls calls, Mode mode)
    : device_name_(std::move(device_name)), calls_(std::move(calls)), mode_(mode) {}

CachingAllocator::~CachingAllocator() {
  const std::lock_guard lock(mutex_);
  empty_cache_locked();
}

std::size_t CachingAllocator::round_size(std::size_t bytes) {
  constexpr std::size_t kSmallGranule = 512;
  constexpr std::size_t kLargeGranule = 128 * 1024;
  constexpr std::size_t kLargeFrom = 1024 * 1024;
  const std::size_t granule = bytes < kLargeFrom ? kSmallGranule : kLargeGranule;
  if (bytes > SIZE_MAX - granule) throw Error("cannot allocate " + std::to_string(bytes) + " bytes: size overflows");
  return (bytes + granule - 1) / granule * granule;
}

void* CachingAllocator::allocate(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  const std::size_t size = block_size(bytes);
  const std::lock_guard lock(mutex_);
  if (const auto it = free_blocks_.find(size); it != free_blocks_.end() && !it->second.empty()) {
    void* ptr = it->second.back();
    it->second.pop_back();
    count_allocation(stats_, size);
    return ptr;
  }
  void* ptr = calls_.allocate(size);
  if (ptr == nullptr) {
    empty_cache_locked();
    ptr = calls_.allocate(size);
  }
  if (ptr == nullptr) {
    const auto [free_bytes, total_bytes] =
        calls_.memory_info ? calls_.memory_info() : std::pair<std::size_t, std::size_t>{0, 0};
    throw Error(
        out_of_memory_message(device_name_, current_allocation_label(), size, free_bytes, total_bytes, stats_.in_use));
  }
  stats_.reserved += size;
  count_allocation(stats_, size);
  return ptr;
}

void CachingAllocator::deallocate(void* ptr, std::size_t bytes) {
  if (ptr == nullptr) return;
  const std::size_t size = block_size(bytes);
  const std::lock_guard lock(mutex_);
  stats_.in_use -= size;
  if (mode_ == Mode::exact) {
    calls_.synchronize();
    calls_.release(ptr);
    stats_.reserved -= size;
    return;
  }
  free_blocks_[size].push_back(ptr);
}

AllocatorStats CachingAllocator::stats() const {
  const std::lock_guard lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  const std::lock_guard lock(mutex_);
  stats_.peak_in_use = stats_.in_use;
}

void CachingAllocator::empty_cache() {
  const std::lock_guard lock(mutex_);
  empty_cache_locked();
}

void CachingAllocator::empty_cache_locked() {
  if (free_blocks_.empty()) return;
  calls_.synchronize();
  for (auto& [size, blocks] : free_blocks_) {
    for (void* ptr : blocks) calls_.release(ptr);
    stats_.reserved -= size * blocks.size();
  }
  free_blocks_.clear();
}

namespace {
bool exact_allocator_requested() {
  const char* value = std::getenv("GRAMGAN_EXACT_ALLOCATOR");
  return value != nullptr && std::string(value) == "1";
}
}  // namespace

Allocator& allocator(const Device& device) {
  check_device(device);
  // Leaked on purpose: tensors in static storage may outlive any destructor order, and freeing GPU memory after
  // the driver has shut down fails.
  static Allocator* const cpu = new CpuAllocator;
  if (device.is_cpu()) return *cpu;
  static std::mutex mutex;
  static std::map<int, Allocator*> gpu_allocators;
  const std::lock_guard lock(mutex);
  Allocator*& entry = gpu_allocators[device.index()];
  if (entry == nullptr) {
    const int index = device.index();
    const DeviceMemoryCalls calls{[index](std::size_t bytes) { return detail::gpu::allocate(index, bytes); },
                                  [index](void* ptr) { detail::gpu::release(index, ptr); },
                                  [index] { detail::gpu::synchronize(index); },
                                  [index] { return detail::gpu::memory_info(index); }};
    entry = new CachingAllocator(
        device.to_string(), calls,
        exact_allocator_requested() ? CachingAllocator::Mode::exact : CachingAllocator::Mode::caching);
  }
  return *entry;
}

}  // namespace gramgan
