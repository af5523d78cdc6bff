// cudasim runtime: runs kernel grids on CPU threads with CUDA semantics.
//
// Execution model
//   - Blocks are claimed from an atomic counter by a pool of OS threads (the launching thread is one of them).
//   - The threads of a block run on fibers (Boost.Context fcontext) of one OS thread. A fiber runs the block's
//     threads as a plain loop (cudasim.h: thread_loop); a thread that reaches a barrier or warp op parks on its
//     fiber and a fresh fiber continues the loop. When no thread can run, the block scheduler below resolves the
//     waits: complete warp-op groups first, then the block barrier. Barrier-free kernels cost one fiber switch
//     per block; a barrier costs two switches per thread.
//   - Everything a kernel does wrong at a barrier (threads at different barriers, threads that exited while others
//     wait, masks naming lanes that are gone, reads of lanes outside the mask, deadlock) becomes a diagnostic
//     naming kernel, block, thread and source line. The block's parked threads are then unwound (their barrier
//     call throws AbortThread, caught at the fiber's root), the grid stops, the launch throws cudasim::Error, and
//     the simulator is ready for the next launch.
//   - Under AddressSanitizer every fiber switch is announced (start/finish_switch_fiber) so ASan tracks the
//     right stack; the runtime uses a single worker, because __shared__ is then process-static.
#include "cudasim/cudasim.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <boost/context/detail/fcontext.hpp>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
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

namespace cudasim {
namespace {

namespace ctx = boost::context::detail;
using detail::BarrierKind;
using detail::ThreadState;
using detail::WarpOpKind;

// ---- configuration ----------------------------------------------------------------------------------------------

ThreadOrder order_from_environment() {
  const char* value = std::getenv("GRAMGAN_SIM_THREAD_ORDER");
  if (value == nullptr || std::string(value) == "forward" || std::string(value).empty()) return ThreadOrder::forward;
  if (std::string(value) == "reverse") return ThreadOrder::reverse;
  std::fprintf(stderr, "cudasim: ignoring GRAMGAN_SIM_THREAD_ORDER=%s (expected forward or reverse)\n", value);
  return ThreadOrder::forward;
}

int workers_from_environment() {
  if (GG_SIM_ASAN) return 1;
  if (const char* value = std::getenv("GRAMGAN_SIM_WORKERS")) {
    char* end = nullptr;
    const long n = std::strtol(value, &end, 10);
    if (end != value && *end == '\0' && n >= 1 && n <= 1024) return int(n);
    std::fprintf(stderr, "cudasim: ignoring GRAMGAN_SIM_WORKERS=%s (expected an integer from 1 to 1024)\n", value);
  }
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : int(cores);
}

std::atomic<ThreadOrder> g_thread_order{order_from_environment()};

// ---- errors -----------------------------------------------------------------------------------------------------

thread_local cudaError_t tls_last_error = cudaSuccess;
thread_local std::string tls_last_launch_failure;

cudaError_t record(cudaError_t error) {
  if (error != cudaSuccess) tls_last_error = error;
  return error;
}

// Thrown inside a parked kernel thread to unwind it after its block failed; caught at the fiber's root.
struct AbortThread {};

// ---- fibers -----------------------------------------------------------------------------------------------------

constexpr std::size_t kStackBytes = GG_SIM_ASAN ? 1024 * 1024 : 256 * 1024;

struct Fiber {
  ctx::fcontext_t context = nullptr;  // where resume() continues this fiber
  ctx::fcontext_t caller = nullptr;   // where suspend() returns to (the block scheduler)
  void* mapping = nullptr;            // stack with a guard page at its low end
  std::size_t mapping_bytes = 0;
  void (*job)(void*) = nullptr;       // thread_loop<Body> of the current launch
  void* job_argument = nullptr;
  bool job_done = true;
  void* fake_stack = nullptr;  // ASan's fake stack of this fiber while it is switched out
};

struct Worker;
thread_local Worker* tls_worker = nullptr;
thread_local Fiber* tls_fiber = nullptr;  // fiber running now on this OS thread (null: the scheduler)

[[noreturn]] void fiber_entry(ctx::transfer_t from);

int linear_thread(const uint3& i, const dim3& dim) { return int(i.x + dim.x * (i.y + dim.y * i.z)); }

// The per-thread record of a parked kernel thread.
struct ThreadSlot {
  Fiber* fiber = nullptr;
  const char* file = "";
  unsigned line = 0;
  BarrierKind barrier = BarrierKind::sync;
  WarpOpKind warp_op = WarpOpKind::sync;
  unsigned mask = 0;
  int param = 0;
  int width = 32;
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
  int waiting = 0;           // threads parked at a barrier or warp op
  int waiting_warp_ops = 0;  // of those, parked at a warp op
  std::vector<int> released;  // threads whose wait the scheduler just resolved (kept: no allocation per block)

  ~Worker() {
    // Idle fibers sit in fiber_entry's loop with nothing to unwind; parked ones were unwound by abort_block.
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
    __sanitizer_start_switch_fiber(&scheduler_fake_stack, static_cast<char*>(f->mapping) + f->mapping_bytes - kStackBytes,
                                   kStackBytes);
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
void suspend(Fiber* f) {
#if GG_SIM_ASAN
  __sanitizer_start_switch_fiber(&f->fake_stack, tls_worker->scheduler_stack_bottom,
                                 tls_worker->scheduler_stack_bytes);
#endif
  const ctx::transfer_t back = ctx::jump_fcontext(f->caller, nullptr);
#if GG_SIM_ASAN
  __sanitizer_finish_switch_fiber(f->fake_stack, nullptr, nullptr);
#endif
  f->caller = back.fctx;
}

void fiber_entry(ctx::transfer_t from) {
  auto* f = static_cast<Fiber*>(from.data);
  f->caller = from.fctx;
#if GG_SIM_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &tls_worker->scheduler_stack_bottom, &tls_worker->scheduler_stack_bytes);
#endif
  for (;;) {
    try {
      f->job(f->job_argument);
    } catch (const AbortThread&) {
      // The block failed; this thread is unwound and the fiber returns to the pool.
    } catch (...) {
      Worker& w = *tls_worker;
      if (!w.kernel_exception) {
        w.kernel_exception = std::current_exception();
        w.failed_thread = linear_thread(detail::tls_context.thread_idx, detail::tls_context.block_dim);
      }
    }
    f->job_done = true;
    suspend(f);
  }
}

Worker& this_worker() {
  static thread_local Worker worker;
  tls_worker = &worker;
  return worker;
}

// ---- formatting ---------------------------------------------------------------------------------------------

uint3 thread_index(int linear, const dim3& dim) {
  const unsigned t = unsigned(linear);
  // One-dimensional blocks (every kernel in kernels/) skip the three divisions: this runs for every thread at
  // every barrier.
  if (dim.y == 1 && dim.z == 1) return {t, 0, 0};
  return {t % dim.x, (t / dim.x) % dim.y, t / (dim.x * dim.y)};
}

std::string triple(unsigned x, unsigned y, unsigned z) {
  char text[40];
  std::snprintf(text, sizeof text, "(%u,%u,%u)", x, y, z);
  return text;
}

const char* barrier_name(BarrierKind kind) {
  switch (kind) {
    case BarrierKind::sync: return "__syncthreads";
    case BarrierKind::count: return "__syncthreads_count";
    case BarrierKind::all: return "__syncthreads_and";
    case BarrierKind::any: return "__syncthreads_or";
  }
  return "?";
}

const char* warp_op_name(WarpOpKind kind) {
  switch (kind) {
    case WarpOpKind::sync: return "__syncwarp";
    case WarpOpKind::shfl: return "__shfl_sync";
    case WarpOpKind::shfl_up: return "__shfl_up_sync";
    case WarpOpKind::shfl_down: return "__shfl_down_sync";
    case WarpOpKind::shfl_xor: return "__shfl_xor_sync";
    case WarpOpKind::ballot: return "__ballot_sync";
    case WarpOpKind::any: return "__any_sync";
    case WarpOpKind::all: return "__all_sync";
  }
  return "?";
}

std::string hex(unsigned mask) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", mask);
  return text;
}

// ---- the block scheduler ------------------------------------------------------------------------------------

class BlockScheduler {
 public:
  explicit BlockScheduler(Worker& w) : w_(w) {}

  // Runs block `linear` of w_.grid to completion. On failure, records the grid's failure message.
  void run(unsigned long long linear) {
    GridRun& grid = *w_.grid;
    const dim3 g = grid.spec.grid, dim = grid.spec.block;
    w_.block_linear = linear;
    detail::tls_context.block_idx = {unsigned(linear % g.x), unsigned((linear / g.x) % g.y),
                                     unsigned(linear / (std::uint64_t(g.x) * g.y))};
    std::fill_n(w_.state.begin(), w_.threads, detail::kNotWaiting);
    w_.waiting = 0;
    w_.waiting_warp_ops = 0;
    w_.aborting = false;
    w_.diagnostic.clear();
    w_.kernel_exception = nullptr;
    w_.failed_thread = -1;
    if (grid.spec.dynamic_shared_bytes > 0) std::memset(w_.dynamic_shared, 0xff, grid.spec.dynamic_shared_bytes);

    const bool forward = grid.order == ThreadOrder::forward;
    w_.cursor = {w_.threads, forward ? 0 : w_.threads - 1, forward,
                 forward ? uint3{0, 0, 0} : uint3{dim.x - 1, dim.y - 1, dim.z - 1}};

    // Start every thread: one fiber runs them in a loop until one parks; then the next fiber takes over.
    while (w_.cursor.remaining > 0 && !failed()) {
      Fiber* f = w_.acquire_fiber();
      f->job = grid.loop;
      f->job_argument = grid.body;
      f->job_done = false;
      w_.resume(f);
      if (f->job_done) w_.release_fiber(f);
    }
    // Then release waits until every thread has exited.
    std::vector<int>& released = w_.released;
    while (w_.waiting > 0 && !failed()) {
      released.clear();
      resolve(released);
      if (released.empty()) break;  // a diagnostic was recorded
      if (!forward) std::reverse(released.begin(), released.end());
      for (int t : released) {
        resume_thread(t);
        if (failed()) break;
      }
    }
    if (failed()) fail_block();
  }

 private:
  bool failed() const { return !w_.diagnostic.empty() || w_.kernel_exception != nullptr; }

  void resume_thread(int t) {
    ThreadSlot& slot = w_.slots[t];
    Fiber* f = slot.fiber;
    slot.fiber = nullptr;
    detail::tls_context.thread_idx = thread_index(t, w_.grid->spec.block);
    if (w_.state[t] == detail::kAtWarpOp) --w_.waiting_warp_ops;
    w_.state[t] = detail::kNotWaiting;
    --w_.waiting;
    w_.resume(f);
    if (f->job_done) w_.release_fiber(f);
  }

  std::string where(int t) const {
    const uint3 b = detail::tls_context.block_idx;
    const uint3 i = thread_index(t, w_.grid->spec.block);
    return "cudasim: kernel " + std::string(w_.grid->spec.kernel_name) + ", block " + triple(b.x, b.y, b.z) +
           ", thread " + triple(i.x, i.y, i.z);
  }
  std::string site(int t) const { return std::string(w_.slots[t].file) + ":" + std::to_string(w_.slots[t].line); }
  std::string describe_wait(int t) const {
    const ThreadSlot& s = w_.slots[t];
    if (w_.state[t] == detail::kAtBlockBarrier) return std::string(barrier_name(s.barrier)) + " at " + site(t);
    return std::string(warp_op_name(s.warp_op)) + " (mask " + hex(s.mask) + ") at " + site(t);
  }
  void diagnose(const std::string& message) {
    if (w_.diagnostic.empty()) w_.diagnostic = message;
  }

  // Fills `released` with threads whose wait is over, or records a diagnostic when the waits cannot be resolved.
  void resolve(std::vector<int>& released) {
    if (w_.waiting_warp_ops > 0) resolve_warp_ops(released);
    if (released.empty() && !failed()) resolve_block_barrier(released);
  }

  void resolve_warp_ops(std::vector<int>& released) {
    unsigned covered = 0;  // lanes of the current warp whose group was evaluated
    for (int leader = 0; leader < w_.threads && !failed(); ++leader) {
      if ((leader & 31) == 0) covered = 0;
      if (w_.state[leader] != detail::kAtWarpOp || (covered >> (leader & 31) & 1u)) continue;
      const ThreadSlot& lead = w_.slots[leader];
      const int warp_base = leader & ~31;
      covered |= lead.mask;
      bool complete = true;
      for (unsigned bits = lead.mask; bits != 0; bits &= bits - 1) {
        const int lane = warp_base + __builtin_ctz(bits);
        if (lane >= w_.threads) {
          diagnose(where(leader) + ": " + warp_op_name(lead.warp_op) + " at " + site(leader) + " names lane " +
                   std::to_string(lane - warp_base) + " in mask " + hex(lead.mask) +
                   ", which does not exist (the block has " + std::to_string(w_.threads) + " threads)");
          return;
        }
        const ThreadState s = w_.state[lane];
        if (s == detail::kNotWaiting) {
          diagnose(where(leader) + ": lane " + std::to_string(lane - warp_base) + " exited while lanes wait at " +
                   describe_wait(leader) + "; every lane named in the mask must reach it");
          return;
        }
        if (s == detail::kAtBlockBarrier) {
          complete = false;  // reported as a deadlock if nothing else can move
          continue;
        }
        const ThreadSlot& other = w_.slots[lane];
        if (other.mask != lead.mask || other.warp_op != lead.warp_op ||
            (lead.warp_op != WarpOpKind::sync && (other.line != lead.line || other.file != lead.file))) {
          diagnose(where(leader) + ": lanes of one warp wait at different warp operations: lane " +
                   std::to_string(leader - warp_base) + " at " + describe_wait(leader) + ", lane " +
                   std::to_string(lane - warp_base) + " at " + describe_wait(lane));
          return;
        }
      }
      if (!complete) continue;
      compute_warp_results(leader, warp_base);
      if (failed()) return;
      for (unsigned bits = lead.mask; bits != 0; bits &= bits - 1) released.push_back(warp_base + __builtin_ctz(bits));
    }
    std::sort(released.begin(), released.end());
  }

  void compute_warp_results(int leader, int warp_base) {
    const ThreadSlot& lead = w_.slots[leader];
    const unsigned mask = lead.mask;
    std::uint64_t vote = 0;
    int count = 0, members = 0;
    for (unsigned bits = mask; bits != 0; bits &= bits - 1) {
      const int lane = __builtin_ctz(bits);
      const bool predicate = w_.slots[warp_base + lane].value != 0;
      vote |= std::uint64_t(predicate) << lane;
      count += predicate;
      ++members;
    }
    for (unsigned bits = mask; bits != 0; bits &= bits - 1) {
      const int lane = __builtin_ctz(bits);
      ThreadSlot& s = w_.slots[warp_base + lane];
      const int width = s.width, segment = lane & ~(width - 1);
      int source = lane;
      switch (s.warp_op) {
        case WarpOpKind::sync: break;
        case WarpOpKind::ballot: s.result = vote; continue;
        case WarpOpKind::any: s.result = count > 0; continue;
        case WarpOpKind::all: s.result = count == members; continue;
        case WarpOpKind::shfl: source = segment + (s.param & (width - 1)); break;
        case WarpOpKind::shfl_up:
          if ((lane & (width - 1)) >= s.param) source = lane - s.param;
          break;
        case WarpOpKind::shfl_down:
          if ((lane & (width - 1)) + s.param < width) source = lane + s.param;
          break;
        case WarpOpKind::shfl_xor: {
          const int partner = lane ^ (s.param & 31);
          if (partner < segment + width) source = partner;  // later segments read their own value
          break;
        }
      }
      if (!(mask >> source & 1u)) {
        diagnose(where(warp_base + lane) + ": " + warp_op_name(s.warp_op) + " at " + site(warp_base + lane) +
                 " reads lane " + std::to_string(source) + ", which is not in the mask " + hex(mask));
        return;
      }
      s.result = w_.slots[warp_base + source].value;
    }
  }

  void resolve_block_barrier(std::vector<int>& released) {
    int first = -1, exited = -1, at_warp_op = -1;
    for (int t = 0; t < w_.threads; ++t) {
      const ThreadState s = w_.state[t];
      if (s == detail::kNotWaiting && exited < 0) exited = t;
      if (s == detail::kAtWarpOp && at_warp_op < 0) at_warp_op = t;
      if (s == detail::kAtBlockBarrier && first < 0) first = t;
    }
    if (at_warp_op >= 0) {
      // Some lane the warp op waits for is parked at a block barrier, which in turn waits for this lane.
      const ThreadSlot& s = w_.slots[at_warp_op];
      const int base = at_warp_op & ~31;
      int blocker = -1;
      for (unsigned bits = s.mask; bits != 0 && blocker < 0; bits &= bits - 1) {
        const int lane = base + __builtin_ctz(bits);
        if (lane < w_.threads && w_.state[lane] == detail::kAtBlockBarrier) blocker = lane;
      }
      std::string message = where(at_warp_op) + ": deadlock: waits in " + describe_wait(at_warp_op);
      if (blocker >= 0) {
        const uint3 i = thread_index(blocker, w_.grid->spec.block);
        message += " for thread " + triple(i.x, i.y, i.z) + ", which waits in " + describe_wait(blocker);
      }
      diagnose(message);
      return;
    }
    if (exited >= 0) {
      diagnose(where(exited) + ": exited while other threads of the block wait at " + describe_wait(first) +
               "; __syncthreads must be reached by every thread of the block");
      return;
    }
    const ThreadSlot& lead = w_.slots[first];
    int count = 0;
    for (int t = 0; t < w_.threads; ++t) {
      const ThreadSlot& s = w_.slots[t];
      if (s.line != lead.line || s.file != lead.file || s.barrier != lead.barrier) {
        diagnose(where(t) + ": threads of one block wait at different barriers: this thread at " + describe_wait(t) +
                 ", thread " + [&] {
                   const uint3 i = thread_index(first, w_.grid->spec.block);
                   return triple(i.x, i.y, i.z);
                 }() + " at " + describe_wait(first));
        return;
      }
      count += s.value != 0;
    }
    std::uint64_t result = 0;
    switch (lead.barrier) {
      case BarrierKind::sync: break;
      case BarrierKind::count: result = std::uint64_t(count); break;
      case BarrierKind::all: result = count == w_.threads; break;
      case BarrierKind::any: result = count > 0; break;
    }
    for (int t = 0; t < w_.threads; ++t) {
      w_.slots[t].result = result;
      released.push_back(t);
    }
  }

  // Unwinds the parked threads of a failed block and records the grid's failure.
  void fail_block() {
    std::string message = w_.diagnostic;
    if (message.empty()) {
      message = where(w_.failed_thread >= 0 ? w_.failed_thread : 0) + ": exception escaped the kernel: ";
      try {
        std::rethrow_exception(w_.kernel_exception);
      } catch (const std::exception& e) {
        message += e.what();
      } catch (const AbortThread&) {
        message += "aborted";
      } catch (...) {
        message += "unknown exception";
      }
    }
    w_.aborting = true;
    for (int t = 0; t < w_.threads; ++t) {
      if (w_.state[t] == detail::kAtBlockBarrier || w_.state[t] == detail::kAtWarpOp) resume_thread(t);
    }
    GridRun& grid = *w_.grid;
    std::lock_guard lock(grid.failure_mutex);
    if (!grid.failed.exchange(true)) grid.failure = message;
  }

  Worker& w_;
};

// ---- the worker pool --------------------------------------------------------------------------------------------

void run_blocks(Worker& w, GridRun& grid) {
  const dim3 dim = grid.spec.block;
  w.grid = &grid;
  w.threads = int(dim.x * dim.y * dim.z);
  if (int(w.state.size()) < w.threads) {
    w.state.resize(w.threads);
    w.slots.resize(w.threads);
  }
  const std::size_t shared = grid.spec.dynamic_shared_bytes;
  if (GG_SIM_ASAN || shared > w.dynamic_shared_capacity) {
    // Under ASan the buffer has exactly the launch's size, so an out-of-bounds access is reported.
    std::free(w.dynamic_shared);
    w.dynamic_shared = nullptr;
    w.dynamic_shared_capacity = 0;
    if (shared > 0) {
      void* p = nullptr;
      if (posix_memalign(&p, 128, shared) != 0) throw std::bad_alloc();
      w.dynamic_shared = static_cast<unsigned char*>(p);
      w.dynamic_shared_capacity = shared;
    }
  }
  detail::tls_dynamic_shared = w.dynamic_shared;
  detail::tls_context.block_dim = dim;
  detail::tls_context.grid_dim = grid.spec.grid;
  detail::tls_cursor = &w.cursor;
  BlockScheduler scheduler(w);
  for (;;) {
    if (grid.failed.load(std::memory_order_relaxed)) break;
    // Blocks are claimed in chunks: one shared counter bumped per block costs more than a small block's work.
    const long long first = grid.next_block.fetch_add(grid.chunk, std::memory_order_relaxed);
    if (first >= grid.total_blocks) break;
    const long long last = std::min(first + grid.chunk, grid.total_blocks);
    for (long long block = first; block < last && !grid.failed.load(std::memory_order_relaxed); ++block)
      scheduler.run((unsigned long long)block);
  }
  detail::tls_cursor = nullptr;
  w.grid = nullptr;
}

// Helpers spin for a while before sleeping: waking a sleeping thread costs up to milliseconds on a VM, more
// than many kernels take, and training launches kernels back to back.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(200);

template <class Ready>
bool spin_until(Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinBeforeSleep;
  for (int i = 0;; ++i) {
    if (ready()) return true;
    __builtin_ia32_pause();
    if ((i & 63) == 0 && std::chrono::steady_clock::now() > deadline) return false;
  }
}

class WorkerPool {
 public:
  WorkerPool() { start(workers_from_environment()); }
  ~WorkerPool() { stop(); }

  int size() const { return workers_; }

  void resize(int workers) {
    if (GG_SIM_ASAN) workers = 1;
    if (workers == workers_) return;
    stop();
    start(workers);
  }

  // Runs the grid on the calling thread and, when it has more than one block, on the helpers too.
  void run(GridRun& grid) {
    const int helpers = int(std::min<long long>(threads_.size(), grid.total_blocks - 1));
    if (helpers > 0) {
      std::lock_guard lock(mutex_);
      grid_ = &grid;
      wanted_ = helpers;
      busy_.store(helpers);
      generation_.fetch_add(1);
    }
    if (helpers > 0) wake_.notify_all();
    run_blocks(this_worker(), grid);
    if (helpers > 0 && !spin_until([&] { return busy_.load() == 0; })) {
      std::unique_lock lock(mutex_);
      done_.wait(lock, [&] { return busy_.load() == 0; });
    }
  }

 private:
  void start(int workers) {
    workers_ = workers;
    stopping_ = false;
    // A helper counts generations from the pool's start, not from when its thread happens to run: a launch may
    // bump the generation before a new helper first looks at it.
    const unsigned long long start_generation = generation_.load();
    for (int i = 1; i < workers; ++i)
      threads_.emplace_back([this, i, start_generation] { helper_main(i, start_generation); });
  }
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      generation_.fetch_add(1);
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  void helper_main(int index, unsigned long long seen) {
    for (;;) {
      GridRun* grid = nullptr;
      if (!spin_until([&] { return generation_.load() != seen; })) {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load() != seen; });
      }
      {
        std::lock_guard lock(mutex_);
        seen = generation_.load();
        if (stopping_) return;
        if (index > wanted_) continue;
        grid = grid_;
      }
      run_blocks(this_worker(), *grid);
      if (busy_.fetch_sub(1) == 1) {
        std::lock_guard lock(mutex_);
        done_.notify_all();
      }
    }
  }

  int workers_ = 1;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::atomic<unsigned long long> generation_{0};
  bool stopping_ = false;
  GridRun* grid_ = nullptr;
  int wanted_ = 0;
  std::atomic<int> busy_{0};
};

// Launches are serialised: the simulator is one device running one kernel at a time.
std::mutex g_launch_mutex;

WorkerPool& pool() {
  static WorkerPool instance;
  return instance;
}

std::mutex g_attribute_mutex;
std::unordered_map<const void*, std::size_t>& max_dynamic_shared() {
  static std::unordered_map<const void*, std::size_t> table;
  return table;
}

std::string validate(const detail::LaunchSpec& spec) {
  const dim3 b = spec.block, g = spec.grid;
  const std::string blk = triple(b.x, b.y, b.z), grd = triple(g.x, g.y, g.z);
  if (b.x == 0 || b.y == 0 || b.z == 0) return "block " + blk + " has a zero dimension";
  if (b.x > 1024 || b.y > 1024 || b.z > 64) return "block " + blk + " exceeds the limits (1024, 1024, 64)";
  if (std::uint64_t(b.x) * b.y * b.z > 1024)
    return "block " + blk + " has " + std::to_string(std::uint64_t(b.x) * b.y * b.z) +
           " threads; the limit is 1024";
  if (g.x == 0 || g.y == 0 || g.z == 0) return "grid " + grd + " has a zero dimension";
  if (g.x > 2147483647u || g.y > 65535 || g.z > 65535) return "grid " + grd + " exceeds the limits (2^31-1, 65535, 65535)";
  std::size_t limit = kDefaultDynamicSharedBytes;
  {
    std::lock_guard lock(g_attribute_mutex);
    const auto it = max_dynamic_shared().find(spec.kernel_id);
    if (it != max_dynamic_shared().end()) limit = std::max(limit, it->second);
  }
  if (spec.dynamic_shared_bytes > limit)
    return std::to_string(spec.dynamic_shared_bytes) + " bytes of dynamic shared memory requested; the limit is " +
           std::to_string(limit) +
           (limit == kDefaultDynamicSharedBytes
                ? " without cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)"
                : "");
  return {};
}

}  // namespace

// ---- kernel-side entry points (cudasim.h) -----------------------------------------------------------------------

namespace detail {

void run_grid(const LaunchSpec& spec, void (*thread_loop)(void*), void* body) {
  if (tls_fiber != nullptr) throw Error("cudasim: kernel " + std::string(spec.kernel_name) +
                                        ": launched from inside a kernel (dynamic parallelism is not simulated)");
  std::lock_guard lock(g_launch_mutex);
  if (const std::string problem = validate(spec); !problem.empty()) {
    record(cudaErrorInvalidConfiguration);
    tls_last_launch_failure = "cudasim: kernel " + std::string(spec.kernel_name) + ": invalid launch: " + problem;
    throw Error(tls_last_launch_failure);
  }
  GridRun grid;
  grid.spec = spec;
  grid.loop = thread_loop;
  grid.body = body;
  grid.order = g_thread_order.load();
  grid.total_blocks = (long long)spec.grid.x * spec.grid.y * spec.grid.z;
  // About 16 chunks per worker keeps the load balanced when blocks differ in cost.
  grid.chunk = std::max(1LL, grid.total_blocks / (16LL * pool().size()));
  pool().run(grid);
  if (grid.failed) {
    record(cudaErrorLaunchFailure);
    tls_last_launch_failure = grid.failure;
    throw Error(grid.failure);
  }
}

namespace {
// Records that thread t waits. If t is the newest started thread, the threads after it have not started: move
// the cursor past t so the scheduler's next fiber starts them.
void note_wait(Worker& w, int t, ThreadState state) {
  ThreadCursor& c = w.cursor;
  if (c.forward ? t >= c.next : t <= c.next) {
    c.next = c.forward ? t + 1 : t - 1;
    c.remaining = c.forward ? w.threads - c.next : c.next + 1;
    if (c.remaining > 0) c.next_idx = thread_index(c.next, tls_context.block_dim);
  }
  w.state[t] = state;
  ++w.waiting;
  if (state == kAtWarpOp) ++w.waiting_warp_ops;
  ++tls_waits;
}
}  // namespace

int block_barrier(BarrierKind kind, int predicate, const detail::SourceLocation& where) {
  Fiber* f = tls_fiber;
  if (f == nullptr) throw Error(std::string("cudasim: ") + barrier_name(kind) + " called outside a kernel");
  Worker& w = *tls_worker;
  const int t = linear_thread(tls_context.thread_idx, tls_context.block_dim);
  ThreadSlot& slot = w.slots[t];
  slot.fiber = f;
  slot.file = where.file_name();
  slot.line = where.line();
  slot.barrier = kind;
  slot.value = predicate != 0;
  note_wait(w, t, kAtBlockBarrier);
  suspend(f);
  if (w.aborting) throw AbortThread{};
  return int(w.slots[t].result);
}

std::uint64_t warp_op(WarpOpKind kind, unsigned mask, std::uint64_t value, int param, int width,
                      const detail::SourceLocation& where) {
  Fiber* f = tls_fiber;
  if (f == nullptr) throw Error(std::string("cudasim: ") + warp_op_name(kind) + " called outside a kernel");
  Worker& w = *tls_worker;
  const int t = linear_thread(tls_context.thread_idx, tls_context.block_dim);
  const int lane = t & 31;
  auto fail = [&](const std::string& problem) {
    const uint3 b = tls_context.block_idx, i = tls_context.thread_idx;
    if (w.diagnostic.empty())
      w.diagnostic = "cudasim: kernel " + std::string(w.grid->spec.kernel_name) + ", block " + triple(b.x, b.y, b.z) +
                     ", thread " + triple(i.x, i.y, i.z) + ": " + warp_op_name(kind) + " at " + where.file_name() +
                     ":" + std::to_string(where.line()) + ": " + problem;
    throw AbortThread{};
  };
  if (!(mask >> lane & 1u)) fail("the calling lane " + std::to_string(lane) + " is not in its mask " + hex(mask));
  if (width < 1 || width > 32 || (width & (width - 1)) != 0)
    fail("width " + std::to_string(width) + " is not a power of two from 1 to 32");
  ThreadSlot& slot = w.slots[t];
  slot.fiber = f;
  slot.file = where.file_name();
  slot.line = where.line();
  slot.warp_op = kind;
  slot.mask = mask;
  slot.value = value;
  slot.param = param;
  slot.width = width;
  note_wait(w, t, kAtWarpOp);
  suspend(f);
  if (w.aborting) throw AbortThread{};
  return w.slots[t].result;
}

void set_function_max_dynamic_shared(const void* kernel_id, std::size_t bytes) {
  std::lock_guard lock(g_attribute_mutex);
  max_dynamic_shared()[kernel_id] = bytes;
}

}  // namespace detail

// ---- host API (runtime.h) ---------------------------------------------------------------------------------------

cudaError_t cudaMalloc(void** ptr, std::size_t bytes) {
  if (ptr == nullptr) return record(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  // Exact size (no rounding), so AddressSanitizer reports an access one past the end.
  if (posix_memalign(ptr, 256, bytes) != 0) {
    *ptr = nullptr;
    return record(cudaErrorMemoryAllocation);
  }
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return record(cudaErrorInvalidValue);
  if (bytes == 0) return cudaSuccess;
  if (dst == nullptr || src == nullptr) return record(cudaErrorInvalidValue);
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}

cudaError_t cudaMemset(void* ptr, int value, std::size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (ptr == nullptr) return record(cudaErrorInvalidValue);
  std::memset(ptr, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* ptr, int value, std::size_t bytes, cudaStream_t) {
  return cudaMemset(ptr, value, bytes);
}

cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  if (stream == nullptr) return record(cudaErrorInvalidValue);
  *stream = nullptr;  // every stream is the in-order default stream
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }

cudaError_t cudaGetLastError() {
  const cudaError_t error = tls_last_error;
  tls_last_error = cudaSuccess;
  return error;
}
cudaError_t cudaPeekAtLastError() { return tls_last_error; }

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration:
    case cudaErrorLaunchFailure:
      return tls_last_launch_failure.empty() ? "kernel launch failed" : tls_last_launch_failure.c_str();
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
  }
  return "unknown error";
}

void set_thread_order(ThreadOrder order) { g_thread_order.store(order); }
ThreadOrder thread_order() { return g_thread_order.load(); }

int worker_count() { return pool().size(); }

void set_worker_count(int workers) {
  if (workers < 1) throw Error("cudasim: worker count must be at least 1, got " + std::to_string(workers));
  std::lock_guard lock(g_launch_mutex);
  pool().resize(workers);
}

}  // namespace cudasim
