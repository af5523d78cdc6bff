// Internal to the simulator runtime (runtime.cpp, block_scheduler.cpp): the fibers that run a block's threads,
// the per-OS-thread worker that owns them, and the record of one grid launch. The execution model is described
// at the top of runtime.cpp.
#pragma once

#include "cudasim/cudasim.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <boost/context/detail/fcontext.hpp>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define GG_SIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GG_SIM_ASAN 1
#endif
#endif
#ifndef GG_SIM_ASAN
#define GG_SIM_ASAN 0
#endif
#if GG_SIM_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace cudasim::internal {

namespace ctx = boost::context::detail;
using detail::BarrierKind;
using detail::ThreadState;
using detail::WarpOpKind;

// A thread's lane is its linear index modulo the warp size (a power of two).
constexpr int kLaneMask = warpSize - 1;
static_assert((warpSize & kLaneMask) == 0, "the warp size must be a power of two");

// Thrown inside a parked kernel thread to unwind it after its block failed; caught at the fiber's root.
struct AbortThread {};

// ---- fibers -----------------------------------------------------------------------------------------------------

constexpr std::size_t kStackBytes = GG_SIM_ASAN ? 1024 * 1024 : 256 * 1024;

struct Fiber {
  ctx::fcontext_t context = nullptr;  // where resume() continues this fiber
  ctx::fcontext_t caller = nullptr;   // where suspend() returns to (the block scheduler)
  void* mapping = nullptr;            // stack with a guard page at its low end
  std::size_t mapping_bytes = 0;
  void (*job)(void*) = nullptr;  // thread_loop<Body> of the current launch
  void* job_argument = nullptr;
  bool job_done = true;
  void* fake_stack = nullptr;  // ASan's fake stack of this fiber while it is switched out
};

struct Worker;
inline thread_local Worker* tls_worker = nullptr;
inline thread_local Fiber* tls_fiber = nullptr;  // fiber running now on this OS thread (null: the scheduler)

[[noreturn]] void fiber_entry(ctx::transfer_t from);  // runtime.cpp

inline int linear_thread(const uint3& i, const dim3& dim) { return int(i.x + dim.x * (i.y + dim.y * i.z)); }

// The per-thread record of a parked kernel thread.
struct ThreadSlot {
  Fiber* fiber = nullptr;
  const char* file = "";
  unsigned line = 0;
  BarrierKind barrier = BarrierKind::sync;
  WarpOpKind warp_op = WarpOpKind::sync;
  unsigned mask = 0;
  int param = 0;
  int width = warpSize;
  std::uint64_t value = 0;
  std::uint64_t result = 0;
};

struct GridRun {
  detail::LaunchSpec spec;
  void (*loop)(void*) = nullptr;
  void* body = nullptr;
  ThreadOrder order = ThreadOrder::forward;
  long long total_blocks = 0;
  long long chunk = 1;  // blocks a worker claims at once
  std::atomic<long long> next_block{0};
  std::atomic<bool> failed{false};
  std::mutex failure_mutex;
  std::string failure;
  std::size_t shared_ceiling = 0;                  // static plus dynamic shared bytes a block may use
  std::atomic<std::size_t> static_shared_peak{0};  // the most static shared bytes one block declared
  std::atomic<bool> out_of_resources{false};       // a block exceeded the kernel's GG_KERNEL_BOUNDS
};

struct Worker {
  std::vector<Fiber*> idle_fibers;
  std::vector<Fiber*> all_fibers;
  const void* scheduler_stack_bottom = nullptr;  // for ASan's switch annotations
  std::size_t scheduler_stack_bytes = 0;
  void* scheduler_fake_stack = nullptr;
  unsigned char* dynamic_shared = nullptr;
  std::size_t dynamic_shared_capacity = 0;

  // State of the block being run.
  GridRun* grid = nullptr;
  unsigned long long block_linear = 0;
  int threads = 0;
  std::vector<ThreadState> state;
  std::vector<ThreadSlot> slots;
  detail::ThreadCursor cursor{};
  bool aborting = false;
  std::string diagnostic;  // first problem found in this block
  std::exception_ptr kernel_exception;
  int failed_thread = -1;
  int waiting = 0;            // threads parked at a barrier or warp op
  int waiting_warp_ops = 0;   // of those, parked at a warp op
  std::vector<int> released;  // threads whose wait the scheduler just resolved (kept: no allocation per block)
  std::vector<const void*> block_shared_seen;  // GG_SHARED variables the block has reached
  std::size_t block_static_shared = 0;         // their bytes

  ~Worker() {
    // Idle fibers sit in fiber_entry's loop with nothing to unwind; parked ones were unwound by
    // BlockScheduler::fail_block (block_scheduler.cpp).
    for (Fiber* f : all_fibers) {
      munmap(f->mapping, f->mapping_bytes);
      delete f;
    }
    std::free(dynamic_shared);
  }

  Fiber* acquire_fiber() {
    if (!idle_fibers.empty()) {
      Fiber* f = idle_fibers.back();
      idle_fibers.pop_back();
      return f;
    }
    const std::size_t page = std::size_t(sysconf(_SC_PAGESIZE));
    auto* f = new Fiber;
    f->mapping_bytes = kStackBytes + page;
    f->mapping = mmap(nullptr, f->mapping_bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (f->mapping == MAP_FAILED) {
      delete f;
      throw std::bad_alloc();
    }
    mprotect(f->mapping, page, PROT_NONE);  // overflowing a fiber stack faults instead of corrupting memory
    f->context = ctx::make_fcontext(static_cast<char*>(f->mapping) + f->mapping_bytes, kStackBytes, fiber_entry);
    all_fibers.push_back(f);
    return f;
  }

  void release_fiber(Fiber* f) { idle_fibers.push_back(f); }

  // Switch from the scheduler into fiber f until it suspends.
  void resume(Fiber* f) {
#if GG_SIM_ASAN
    __sanitizer_start_switch_fiber(&scheduler_fake_stack,
                                   static_cast<char*>(f->mapping) + f->mapping_bytes - kStackBytes, kStackBytes);
#endif
    tls_fiber = f;
    const ctx::transfer_t back = ctx::jump_fcontext(f->context, f);
    tls_fiber = nullptr;
#if GG_SIM_ASAN
    __sanitizer_finish_switch_fiber(scheduler_fake_stack, nullptr, nullptr);
#endif
    f->context = back.fctx;
  }
};

// Switch from fiber f back to its scheduler; returns when the scheduler resumes f.
inline void suspend(Fiber* f) {
#if GG_SIM_ASAN
  __sanitizer_start_switch_fiber(&f->fake_stack, tls_worker->scheduler_stack_bottom, tls_worker->scheduler_stack_bytes);
#endif
  const ctx::transfer_t back = ctx::jump_fcontext(f->caller, nullptr);
#if GG_SIM_ASAN
  __sanitizer_finish_switch_fiber(f->fake_stack, nullptr, nullptr);
#endif
  f->caller = back.fctx;
}

Worker& this_worker();  // the calling OS thread's worker (runtime.cpp)

inline uint3 thread_index(int linear, const dim3& dim) {
  const unsigned t = unsigned(linear);
  // One-dimensional blocks (every kernel in kernels/) skip the three divisions: this runs for every thread at
  // every barrier.
  if (dim.y == 1 && dim.z == 1) return {t, 0, 0};
  return {t % dim.x, (t / dim.x) % dim.y, t / (dim.x * dim.y)};
}

std::string triple(unsigned x, unsigned y, unsigned z);  // "(x,y,z)"
const char* barrier_name(BarrierKind kind);
const char* warp_op_name(WarpOpKind kind);
std::string hex(unsigned mask);

// Runs blocks of `grid` on worker `w` until none is left or the grid failed (block_scheduler.cpp).
void run_blocks(Worker& w, GridRun& grid);

}  // namespace cudasim::internal
