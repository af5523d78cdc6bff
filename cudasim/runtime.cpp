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
//     right stack; the runtime uses a single worker, because shared memory is then process-static.
#include "cudasim/cudasim.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cudasim/worker.h"

namespace cudasim {
namespace internal {

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

}  // namespace internal

namespace {

using namespace internal;

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

// The architectures GRAMGAN_SIM_ARCH selects, with their per-block shared-memory ceiling for opted-in kernels
// (CUDA C Programming Guide, "Technical Specifications per Compute Capability").
struct Architecture {
  int sm;
  std::size_t shared_opt_in;
};
constexpr Architecture kArchitectures[] = {{80, 163 * 1024}, {86, 99 * 1024}, {89, 99 * 1024}, {90, 227 * 1024}};
constexpr int kDefaultArchitecture = 90;

const Architecture* find_architecture(int sm) {
  for (const Architecture& a : kArchitectures)
    if (a.sm == sm) return &a;
  return nullptr;
}

std::string architecture_names() {
  std::string names;
  for (const Architecture& a : kArchitectures) names += (names.empty() ? "" : ", ") + std::to_string(a.sm);
  return names;
}

int architecture_from_environment() {
  const char* value = std::getenv("GRAMGAN_SIM_ARCH");
  if (value == nullptr || *value == '\0') return kDefaultArchitecture;
  char* end = nullptr;
  const long sm = std::strtol(value, &end, 10);
  if (end != value && *end == '\0' && find_architecture(int(sm)) != nullptr) return int(sm);
  std::fprintf(stderr, "cudasim: ignoring GRAMGAN_SIM_ARCH=%s (expected one of %s)\n", value,
               architecture_names().c_str());
  return kDefaultArchitecture;
}

std::atomic<int> g_architecture{architecture_from_environment()};

// ---- errors -----------------------------------------------------------------------------------------------------

thread_local cudaError_t tls_last_error = cudaSuccess;
thread_local std::string tls_last_launch_failure;

cudaError_t record(cudaError_t error) {
  if (error != cudaSuccess) tls_last_error = error;
  return error;
}

// ---- the worker pool ----------------------------------------------------------------------------------------------

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
// Static shared memory each kernel's blocks declared so far (GG_SHARED): the simulator learns it as threads reach
// the declarations, so a kernel's first launch is checked while it runs and later ones before they start.
std::unordered_map<const void*, std::size_t>& static_shared() {
  static std::unordered_map<const void*, std::size_t> table;
  return table;
}
std::size_t known_static_shared(const void* kernel_id) {
  std::lock_guard lock(g_attribute_mutex);
  const auto it = static_shared().find(kernel_id);
  return it == static_shared().end() ? 0 : it->second;
}

// Checks the launch configuration and sets the grid's shared-memory ceiling (static plus dynamic bytes).
std::string validate(const detail::LaunchSpec& spec, GridRun& grid) {
  const dim3 b = spec.block, g = spec.grid;
  const std::string blk = triple(b.x, b.y, b.z), grd = triple(g.x, g.y, g.z);
  if (b.x == 0 || b.y == 0 || b.z == 0) return "block " + blk + " has a zero dimension";
  if (b.x > 1024 || b.y > 1024 || b.z > 64) return "block " + blk + " exceeds the limits (1024, 1024, 64)";
  if (std::uint64_t(b.x) * b.y * b.z > 1024)
    return "block " + blk + " has " + std::to_string(std::uint64_t(b.x) * b.y * b.z) + " threads; the limit is 1024";
  if (g.x == 0 || g.y == 0 || g.z == 0) return "grid " + grd + " has a zero dimension";
  if (g.x > 2147483647u || g.y > 65535 || g.z > 65535)
    return "grid " + grd + " exceeds the limits (2^31-1, 65535, 65535)";
  std::size_t limit = kDefaultSharedBytes;
  bool opted_in = false;
  {
    std::lock_guard lock(g_attribute_mutex);
    const auto it = max_dynamic_shared().find(spec.kernel_id);
    if (it != max_dynamic_shared().end()) {
      limit = std::max(limit, it->second);
      opted_in = true;
    }
  }
  const std::string advice =
      opted_in ? " on sm_" + std::to_string(architecture())
               : " without cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)";
  if (spec.dynamic_shared_bytes > limit)
    return std::to_string(spec.dynamic_shared_bytes) + " bytes of dynamic shared memory requested; the limit is " +
           std::to_string(limit) + advice;
  grid.shared_ceiling = opted_in ? max_shared_bytes_opt_in() : kDefaultSharedBytes;
  const std::size_t declared = known_static_shared(spec.kernel_id);
  if (declared + spec.dynamic_shared_bytes > grid.shared_ceiling)
    return std::to_string(declared) + " bytes of static shared memory plus " +
           std::to_string(spec.dynamic_shared_bytes) + " dynamic exceed the limit of " +
           std::to_string(grid.shared_ceiling) + " per block" + advice;
  return {};
}

}  // namespace

// ---- launches (cudasim.h) ---------------------------------------------------------------------------------------

namespace detail {

using internal::tls_fiber;

void run_grid(const LaunchSpec& spec, void (*thread_loop)(void*), void* body) {
  if (tls_fiber != nullptr)
    throw Error("cudasim: kernel " + std::string(spec.kernel_name) +
                ": launched from inside a kernel (dynamic parallelism is not simulated)");
  std::lock_guard lock(g_launch_mutex);
  GridRun grid;
  if (const std::string problem = validate(spec, grid); !problem.empty()) {
    record(cudaErrorInvalidConfiguration);
    tls_last_launch_failure = "cudasim: kernel " + std::string(spec.kernel_name) + ": invalid launch: " + problem;
    throw Error(tls_last_launch_failure);
  }
  grid.spec = spec;
  grid.loop = thread_loop;
  grid.body = body;
  grid.order = g_thread_order.load();
  grid.total_blocks = (long long)spec.grid.x * spec.grid.y * spec.grid.z;
  // About 16 chunks per worker keeps the load balanced when blocks differ in cost.
  grid.chunk = std::max(1LL, grid.total_blocks / (16LL * pool().size()));
  pool().run(grid);
  if (const std::size_t declared = grid.static_shared_peak.load(); declared > 0) {
    std::lock_guard attribute_lock(g_attribute_mutex);
    std::size_t& known = static_shared()[spec.kernel_id];
    known = std::max(known, declared);
  }
  if (grid.failed) {
    record(grid.out_of_resources.load() ? cudaErrorLaunchOutOfResources : cudaErrorLaunchFailure);
    tls_last_launch_failure = grid.failure;
    throw Error(grid.failure);
  }
}

void set_function_max_dynamic_shared(const void* kernel_id, std::size_t bytes) {
  std::lock_guard lock(g_attribute_mutex);
  max_dynamic_shared()[kernel_id] = bytes;
}

std::size_t max_dynamic_shared_opt_in(const void* kernel_id) {
  const std::size_t ceiling = max_shared_bytes_opt_in(), declared = known_static_shared(kernel_id);
  return declared < ceiling ? ceiling - declared : 0;
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
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
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
    case cudaErrorLaunchOutOfResources:
    case cudaErrorLaunchFailure:
      return tls_last_launch_failure.empty() ? "kernel launch failed" : tls_last_launch_failure.c_str();
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
  }
  return "unknown error";
}

void set_thread_order(ThreadOrder order) { g_thread_order.store(order); }
ThreadOrder thread_order() { return g_thread_order.load(); }

int worker_count() { return pool().size(); }

void set_architecture(int sm) {
  if (find_architecture(sm) == nullptr)
    throw Error("cudasim: unknown architecture sm_" + std::to_string(sm) + " (expected one of " + architecture_names() +
                ")");
  g_architecture.store(sm);
}
int architecture() { return g_architecture.load(); }
std::size_t max_shared_bytes_opt_in() { return find_architecture(architecture())->shared_opt_in; }

void set_worker_count(int workers) {
  if (workers < 1) throw Error("cudasim: worker count must be at least 1, got " + std::to_string(workers));
  std::lock_guard lock(g_launch_mutex);
  pool().resize(workers);
}

}  // namespace cudasim
