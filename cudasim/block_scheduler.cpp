// The block scheduler of the simulator: runs one block's threads on fibers and resolves their waits at
// __syncthreads (and its _count/_and/_or forms) and at warp-collective operations (shuffles, votes, __syncwarp,
// the tensor-core MMA); every misuse becomes a diagnostic naming kernel, block, thread and source line. The kernel
// side of a barrier (block_barrier, warp_op: a thread records what it waits for and parks its fiber) is at the end
// of this file.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "cudasim/worker.h"

namespace cudasim {
namespace internal {

// ---- formatting (block_scheduler.cpp) ------------------------------------------------------------------------

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
    case WarpOpKind::mma_tf32: return "mma_sync_m16n8k8_tf32";
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
    w_.block_shared_seen.clear();
    w_.block_static_shared = 0;
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
      if ((leader & kLaneMask) == 0) covered = 0;
      if (w_.state[leader] != detail::kAtWarpOp || (covered >> (leader & kLaneMask) & 1u)) continue;
      const ThreadSlot& lead = w_.slots[leader];
      const int warp_base = leader & ~kLaneMask;
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
    if (lead.warp_op == WarpOpKind::mma_tf32) {
      compute_mma(warp_base);
      return;
    }
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
        case WarpOpKind::sync:
        case WarpOpKind::mma_tf32: break;  // (handled above)
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
          const int partner = lane ^ (s.param & kLaneMask);
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

  // The 32 lanes' fragments as matrices, per the PTX ISA's tf32 m16n8k8 layouts (g = lane / 4, t = lane % 4):
  // A: a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4); B: b0 (t, g), b1 (t+4, g);
  // C and D: c0 (g, 2t), c1 (g, 2t+1), c2 (g+8, 2t), c3 (g+8, 2t+1).
  void compute_mma(int warp_base) {
    float a[kMmaM][kMmaK], b[kMmaK][kMmaN], c[kMmaM][kMmaN], d[kMmaM][kMmaN];
    for (int lane = 0; lane < warpSize; ++lane) {
      const auto& f = *reinterpret_cast<const detail::MmaFragments*>(w_.slots[warp_base + lane].value);
      const int g = lane >> 2, t = lane & 3;
      a[g][t] = f.a[0];
      a[g + 8][t] = f.a[1];
      a[g][t + 4] = f.a[2];
      a[g + 8][t + 4] = f.a[3];
      b[t][g] = f.b[0];
      b[t + 4][g] = f.b[1];
      c[g][2 * t] = f.c[0];
      c[g][2 * t + 1] = f.c[1];
      c[g + 8][2 * t] = f.c[2];
      c[g + 8][2 * t + 1] = f.c[3];
    }
    mma_tf32_m16n8k8(&a[0][0], &b[0][0], &c[0][0], &d[0][0], architecture());
    for (int lane = 0; lane < warpSize; ++lane) {
      const auto& f = *reinterpret_cast<const detail::MmaFragments*>(w_.slots[warp_base + lane].value);
      const int g = lane >> 2, t = lane & 3;
      f.d[0] = d[g][2 * t];
      f.d[1] = d[g][2 * t + 1];
      f.d[2] = d[g + 8][2 * t];
      f.d[3] = d[g + 8][2 * t + 1];
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
      const int base = at_warp_op & ~kLaneMask;
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
                 ", thread " +
                 [&] {
                   const uint3 i = thread_index(first, w_.grid->spec.block);
                   return triple(i.x, i.y, i.z);
                 }() +
                 " at " + describe_wait(first));
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

// ---- one worker's share of a grid --------------------------------------------------------------------------------

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

}  // namespace internal

// ---- kernel-side entry points (cudasim.h) -----------------------------------------------------------------------

namespace detail {

using namespace internal;

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

void note_block_shared(void* storage, std::size_t bytes, const detail::SourceLocation& where) {
  if (tls_fiber == nullptr) throw Error("cudasim: GG_SHARED declared outside a kernel");
  Worker& w = *tls_worker;
  for (const void* seen : w.block_shared_seen)
    if (seen == storage) return;
  w.block_shared_seen.push_back(storage);
  w.block_static_shared += bytes;
  std::memset(storage, 0xff, bytes);
  GridRun& grid = *w.grid;
  std::size_t peak = grid.static_shared_peak.load(std::memory_order_relaxed);
  while (peak < w.block_static_shared && !grid.static_shared_peak.compare_exchange_weak(peak, w.block_static_shared)) {
  }
  const std::size_t total = w.block_static_shared + grid.spec.dynamic_shared_bytes;
  std::string problem;
  if (w.block_static_shared > kDefaultSharedBytes)
    problem = std::to_string(w.block_static_shared) + " bytes of static shared memory; the limit is " +
              std::to_string(kDefaultSharedBytes);
  else if (total > grid.shared_ceiling)
    problem = std::to_string(w.block_static_shared) + " bytes of static shared memory plus " +
              std::to_string(grid.spec.dynamic_shared_bytes) + " dynamic exceed the limit of " +
              std::to_string(grid.shared_ceiling) + " per block";
  if (problem.empty()) return;
  if (w.diagnostic.empty()) {
    const uint3 b = tls_context.block_idx, i = tls_context.thread_idx;
    w.diagnostic = "cudasim: kernel " + std::string(grid.spec.kernel_name) + ", block " + triple(b.x, b.y, b.z) +
                   ", thread " + triple(i.x, i.y, i.z) + ": GG_SHARED at " + where.file_name() + ":" +
                   std::to_string(where.line()) + ": " + problem;
  }
  throw AbortThread{};
}

void launch_bounds_exceeded(unsigned max_threads, const detail::SourceLocation& where) {
  if (tls_fiber == nullptr) throw Error("cudasim: GG_KERNEL_BOUNDS called outside a kernel");
  Worker& w = *tls_worker;
  GridRun& grid = *w.grid;
  grid.out_of_resources.store(true);
  if (w.diagnostic.empty()) {
    const uint3 b = tls_context.block_idx, i = tls_context.thread_idx;
    const dim3 d = tls_context.block_dim;
    w.diagnostic = "cudasim: kernel " + std::string(grid.spec.kernel_name) + ", block " + triple(b.x, b.y, b.z) +
                   ", thread " + triple(i.x, i.y, i.z) + ": a block of " + triple(d.x, d.y, d.z) + " = " +
                   std::to_string(std::uint64_t(d.x) * d.y * d.z) + " threads exceeds the kernel's " +
                   "__launch_bounds__ of " + std::to_string(max_threads) + " (GG_KERNEL_BOUNDS at " +
                   where.file_name() + ":" + std::to_string(where.line()) +
                   "): a GPU refuses the launch (too many resources requested for launch)";
  }
  throw AbortThread{};
}

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
  const int lane = t & kLaneMask;
  auto fail = [&](const std::string& problem) {
    const uint3 b = tls_context.block_idx, i = tls_context.thread_idx;
    if (w.diagnostic.empty())
      w.diagnostic = "cudasim: kernel " + std::string(w.grid->spec.kernel_name) + ", block " + triple(b.x, b.y, b.z) +
                     ", thread " + triple(i.x, i.y, i.z) + ": " + warp_op_name(kind) + " at " + where.file_name() +
                     ":" + std::to_string(where.line()) + ": " + problem;
    throw AbortThread{};
  };
  if (!(mask >> lane & 1u)) fail("the calling lane " + std::to_string(lane) + " is not in its mask " + hex(mask));
  if (width < 1 || width > warpSize || (width & (width - 1)) != 0)
    fail("width " + std::to_string(width) + " is not a power of two from 1 to " + std::to_string(warpSize));
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

}  // namespace detail
}  // namespace cudasim
