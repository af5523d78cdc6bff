// Device memory: one allocator per device, shared by every tensor on it.
//
//   cpu:  straight to the simulator's cudaMalloc/cudaFree with exact sizes, so AddressSanitizer sees every
//         out-of-bounds access a kernel makes.
//   cuda: a caching allocator (below): cudaMalloc/cudaFree synchronise the device and cost microseconds, and a
//         training step frees and reallocates the same sizes every iteration. GRAMGAN_EXACT_ALLOCATOR=1 makes it
//         exact instead (every request its own cudaMalloc of exactly its size, freed when the tensor goes), so
//         compute-sanitizer sees the overruns and stale reads that rounding and reuse would hide.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/device.h"

namespace gramgan {

struct AllocatorStats {
  std::size_t in_use = 0;       // bytes handed out and not yet freed (rounded sizes for a caching allocator)
  std::size_t reserved = 0;     // bytes obtained from the runtime: in use plus cached
  std::size_t peak_in_use = 0;  // high-water mark of in_use
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  // nullptr for 0 bytes; throws gramgan::Error naming the size when memory runs out.
  virtual void* allocate(std::size_t bytes) = 0;
  // `bytes` is the size passed to allocate().
  virtual void deallocate(void* ptr, std::size_t bytes) = 0;
  virtual AllocatorStats stats() const = 0;
  // peak_in_use becomes in_use: the next peak is that of what runs from now on.
  virtual void reset_peak() = 0;
  // Returns cached blocks to the runtime (no-op where nothing is cached).
  virtual void empty_cache() {}
};

// The allocator of `device`; checks the device first (check_device). Lives until the process exits.
Allocator& allocator(const Device& device);

// What to try when memory runs out, for the command that is running: the CLI sets it ("a smaller --size or
// --batch", "smaller images"); out_of_memory_message and the CLI's host out-of-memory error end with it.
void set_out_of_memory_advice(std::string advice);
std::string out_of_memory_advice();

// The error text for a device that cannot supply `bytes`: what was being allocated (`label`, an AllocationScope's,
// engine/memory.h), how much, how much the device has free of its total and what tensors hold, and what to try
// (out_of_memory_advice).
std::string out_of_memory_message(const std::string& device_name, const std::string& label, std::size_t bytes,
                                  std::size_t free_bytes, std::size_t total_bytes, std::size_t in_use);

// What an allocator needs from a device's runtime.
struct DeviceMemoryCalls {
  std::function<void*(std::size_t)> allocate;  // nullptr when out of memory
  std::function<void(void*)> release;
  std::function<void()> synchronize;  // returns once every kernel queued on the device has finished
  std::function<std::pair<std::size_t, std::size_t>()> memory_info;  // free and total bytes; may be empty
};

// Caches freed blocks in free lists keyed by their rounded size and hands them out again for requests of the
// same rounded size; no splitting or merging. Sizes round up to 512 bytes below 1 MiB and to 128 KiB above,
// wasting at most 1/8 of a large block.
//
// Reusing a block the moment it is freed is safe only because all work on a device goes to its one stream:
// kernels still reading the old tensor are queued before any that write the new one. Returning a block to the
// runtime is not (queued kernels may still use it), so the device is synchronised first.
//
// Mode::exact neither rounds nor caches: each request is its own allocation and goes back to the runtime (after
// a synchronisation) when freed. Slow; for memory checkers.
class CachingAllocator final : public Allocator {
 public:
  enum class Mode { caching, exact };

  // When the runtime is out of memory the cache is emptied and the request retried once; memory_info gives the
  // device's free and total bytes for the error that follows a second failure.
  CachingAllocator(std::string device_name, DeviceMemoryCalls calls, Mode mode = Mode::caching);
  ~CachingAllocator() override;

  static std::size_t round_size(std::size_t bytes);

  void* allocate(std::size_t bytes) override;
  void deallocate(void* ptr, std::size_t bytes) override;
  AllocatorStats stats() const override;
  void reset_peak() override;
  void empty_cache() override;

 private:
  std::size_t block_size(std::size_t bytes) const { return mode_ == Mode::exact ? bytes : round_size(bytes); }
  void empty_cache_locked();

  std::string device_name_;
  DeviceMemoryCalls calls_;
  Mode mode_;
  mutable std::mutex mutex_;
  std::map<std::size_t, std::vector<void*>> free_blocks_;
  AllocatorStats stats_;
};

}  // namespace gramgan
