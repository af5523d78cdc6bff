// cudasim: the CUDA device language for kernel sources compiled as C++ (the simulated "cpu" backend).
//
// CMake force-includes this header (-include) into every kernels/*.cu compiled by the host compiler, so the
// one kernel source builds unchanged for nvcc and for the simulator. It provides:
//   - qualifiers (__global__, __device__, __shared__, ...), dim3/uint3 and the vector types;
//   - threadIdx/blockIdx/blockDim/gridDim as macros over a thread_local context set before each thread runs;
//   - __syncthreads (+_count/_and/_or), __syncwarp, shuffles, votes, the tf32 tensor-core MMA and atomics;
//   - the math and bit intrinsics kernels use;
//   - cudasim::launch<Kernel>(grid, block, smem, stream, args...), which runs the grid synchronously;
//   - the limits a GPU enforces: block and grid sizes, shared memory per architecture, launch bounds.
// Execution model and diagnostics: cudasim/runtime.cpp.
#pragma once

// libstdc++ spells some attributes with names CUDA also uses; include it before defining any qualifier.
#include <math.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <source_location>
#include <string>
#include <type_traits>

#include "cudasim/mma_model.h"
#include "cudasim/runtime.h"

#define __global__ __attribute__((always_inline)) inline
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
// __launch_bounds__(max_threads[, min_blocks]) promises nvcc the largest block a kernel is launched with. nvcc then
// caps the kernel's registers so that such a block (min_blocks of them per SM) fits the register file, and a GPU
// refuses a launch with more threads per block (cudaErrorLaunchOutOfResources): so a kernel that states its
// bounds has its register budget kept by nvcc, and what remains to check is the block. An attribute cannot carry
// a value to the launch here, so every kernel repeats its bounds, with the same arguments, as its first
// statement: GG_KERNEL_BOUNDS(max_threads[, min_blocks]). Each thread of a larger block then fails before it runs
// anything, as the GPU's launch would (nvcc: no code, kernels/launch.h). tests/test_launch_bounds.cpp holds every
// kernel of kernels/ and tests/sample_kernels/ to both spellings, alike.
#define GG_KERNEL_BOUNDS(...) ::cudasim::detail::check_launch_bounds(__VA_ARGS__)
#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer puts no redzones around thread_local arrays; plain statics get them. The runtime then uses
// a single worker, so one copy of each shared array is enough.
#define GG_SIM_SHARED_STORAGE static
#else
// One copy per OS thread; an OS thread runs one block at a time.
#define GG_SIM_SHARED_STORAGE static thread_local
#endif
// Static shared memory is declared GG_SHARED(Type, name) (array extents in Type: GG_SHARED(float[8][64], tile)):
// a prefix macro cannot see the variable it declares, and the runtime must see it, to count its bytes against
// the shared-memory ceiling and to fill it with garbage at each block's start, as a GPU leaves it. nvcc's
// spelling is in kernels/launch.h. A plain __shared__ fails to compile here rather than escape both checks.
#define __shared__ static_assert(false, "declare static shared memory with GG_SHARED(Type, name)");
#define GG_SHARED(Type, name)                                                                            \
  alignas(16) alignas(::cudasim::detail::Same<Type>) GG_SIM_SHARED_STORAGE ::cudasim::detail::Same<Type> \
      gg_shared_storage_##name;                                                                          \
  ::cudasim::detail::Same<Type>& name = ::cudasim::detail::block_shared(gg_shared_storage_##name)
// extern __shared__ cannot be mapped by a prefix macro, so dynamic shared memory has its own spelling.
#define GG_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(::cudasim::detail::tls_dynamic_shared)

namespace cudasim {

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

#define GG_SIM_VECTOR_TYPES(T, name, align2, align4)                           \
  struct alignas(align2) name##2 {                                             \
    T x, y;                                                                    \
  };                                                                           \
  struct name##3 {                                                             \
    T x, y, z;                                                                 \
  };                                                                           \
  struct alignas(align4) name##4 {                                             \
    T x, y, z, w;                                                              \
  };                                                                           \
  inline constexpr name##2 make_##name##2(T x, T y) { return {x, y}; }         \
  inline constexpr name##3 make_##name##3(T x, T y, T z) { return {x, y, z}; } \
  inline constexpr name##4 make_##name##4(T x, T y, T z, T w) { return {x, y, z, w}; }
GG_SIM_VECTOR_TYPES(float, float, 8, 16)
GG_SIM_VECTOR_TYPES(double, double, 16, 16)
GG_SIM_VECTOR_TYPES(int, int, 8, 16)
GG_SIM_VECTOR_TYPES(unsigned, uint, 8, 16)
#undef GG_SIM_VECTOR_TYPES

constexpr int warpSize = 32;

namespace detail {

// Where a barrier or warp op was called, for diagnostics. clang 14 with libstdc++ 12 has no std::source_location
// (libstdc++ needs __builtin_source_location, which clang gained in 15); the builtins below are what
// std::experimental::source_location was built on, and both compilers evaluate them at the outermost call site.
#if defined(__cpp_lib_source_location)
using SourceLocation = std::source_location;
#else
struct SourceLocation {
  static constexpr SourceLocation current(const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
    SourceLocation where;
    where.file_ = file;
    where.line_ = line;
    return where;
  }
  constexpr const char* file_name() const { return file_; }
  constexpr unsigned line() const { return line_; }

 private:
  const char* file_ = "";
  unsigned line_ = 0;
};
#endif

struct ThreadContext {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};
inline constinit thread_local ThreadContext tls_context{};

// GG_KERNEL_BOUNDS (above): a block of more than max_threads threads fails the launch. min_blocks only steers
// nvcc's register cap; no launch is refused for it.
[[noreturn]] void launch_bounds_exceeded(unsigned max_threads, const SourceLocation& where);
inline void check_launch_bounds(unsigned max_threads, unsigned /*min_blocks*/ = 0,
                                SourceLocation where = SourceLocation::current()) {
  const dim3 block = tls_context.block_dim;
  if (std::uint64_t(block.x) * block.y * block.z > max_threads) launch_bounds_exceeded(max_threads, where);
}
inline constinit thread_local unsigned char* tls_dynamic_shared = nullptr;

// What the block scheduler records per thread (one byte each). A thread that is not waiting is running, not
// started yet, or exited; when the scheduler resolves waits every thread has started, so it has exited.
enum ThreadState : unsigned char { kNotWaiting = 0, kAtBlockBarrier, kAtWarpOp };

// Where the next fiber starts running threads. A fiber runs the block's threads as a plain loop; a thread that
// waits (barrier, warp op) keeps the fiber, the runtime rebuilds the cursor from that thread's index, and a fresh
// fiber continues the loop after it. So the loop itself keeps no bookkeeping in memory and barrier-free kernels
// compile to a tight loop over threadIdx (one fiber switch per block).
struct ThreadCursor {
  int remaining;   // threads not started yet
  int next;        // linear index of the next thread to start
  bool forward;    // thread order: increasing or decreasing linear index
  uint3 next_idx;  // threadIdx of `next`
};
inline constinit thread_local ThreadCursor* tls_cursor = nullptr;
// Bumped by every wait on this OS thread: a fiber whose thread waited stops its loop after that thread.
inline constinit thread_local unsigned long long tls_waits = 0;

template <class Body>
void thread_loop(void* body_ptr) {
  Body& body = *static_cast<Body*>(body_ptr);
  const ThreadCursor start = *tls_cursor;
  const dim3 dim = tls_context.block_dim;
  const unsigned long long waits = tls_waits;
  if (start.forward) {
    unsigned x = start.next_idx.x, y = start.next_idx.y;
    for (unsigned z = start.next_idx.z; z < dim.z; ++z, y = 0) {
      for (; y < dim.y; ++y, x = 0) {
        for (; x < dim.x; ++x) {
          tls_context.thread_idx = {x, y, z};
          body();
          if (tls_waits != waits) return;
        }
      }
    }
  } else {
    int x = int(start.next_idx.x), y = int(start.next_idx.y);
    for (int z = int(start.next_idx.z); z >= 0; --z, y = int(dim.y) - 1) {
      for (; y >= 0; --y, x = int(dim.x) - 1) {
        for (; x >= 0; --x) {
          tls_context.thread_idx = {unsigned(x), unsigned(y), unsigned(z)};
          body();
          if (tls_waits != waits) return;
        }
      }
    }
  }
  tls_cursor->remaining = 0;
}

struct LaunchSpec {
  dim3 grid;
  dim3 block;
  std::size_t dynamic_shared_bytes;
  const char* kernel_name;
  const void* kernel_id;
};
void run_grid(const LaunchSpec& spec, void (*thread_loop)(void*), void* body);

enum class BarrierKind : unsigned char { sync, count, all, any };
enum class WarpOpKind : unsigned char { sync, shfl, shfl_up, shfl_down, shfl_xor, ballot, any, all, mma_tf32 };

// What a lane of mma_sync_m16n8k8_tf32 deposits (as the warp op's value) while it is parked: its fragments, on its
// fiber's stack. The scheduler reads every lane's A, B and C before it writes any D, so d may alias c.
struct MmaFragments {
  const float* a;  // 4 elements
  const float* b;  // 2
  const float* c;  // 4
  float* d;        // 4
};

// Suspend the calling kernel thread until the block (or the lanes of `mask`) arrive. Return the barrier's
// reduction of predicates, or the warp op's result bits for this lane.
int block_barrier(BarrierKind kind, int predicate, const SourceLocation& where);
std::uint64_t warp_op(WarpOpKind kind, unsigned mask, std::uint64_t value, int param, int width,
                      const SourceLocation& where);

void set_function_max_dynamic_shared(const void* kernel_id, std::size_t bytes);
// The largest value cudaFuncSetAttribute may set for the kernel: the architecture's opt-in ceiling less the
// static shared memory its earlier launches declared.
std::size_t max_dynamic_shared_opt_in(const void* kernel_id);

// GG_SHARED's type, spelled so that array extents can follow the element type inside a macro argument.
template <class T>
using Same = T;
// The first time a thread of the running block reaches a GG_SHARED declaration: fills the variable with 0xff
// bytes (a GPU leaves shared memory as garbage; NaN for floats) and counts its bytes against the block's
// shared-memory ceiling (block_scheduler.cpp).
void note_block_shared(void* storage, std::size_t bytes, const SourceLocation& where);
template <class T>
T& block_shared(T& storage, SourceLocation where = SourceLocation::current()) {
  note_block_shared(&storage, sizeof(T), where);
  return storage;
}

// "... [with auto Kernel = ns::name<float>]" -> "ns::name<float>"
inline std::string kernel_name_from_signature(const std::string& signature) {
  const auto begin = signature.find("Kernel = ");
  if (begin == std::string::npos) return signature;
  std::string text = signature.substr(begin + 9);
  if (!text.empty() && text.back() == ']') text.pop_back();
  if (!text.empty() && text.front() == '&') text.erase(0, 1);
  return text;
}
template <auto Kernel>
const char* kernel_name() {
  static const std::string name = kernel_name_from_signature(__PRETTY_FUNCTION__);
  return name.c_str();
}

template <class T>
std::uint64_t to_bits(T value) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "warp ops move values of up to 8 bytes");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  return bits;
}
template <class T>
T from_bits(std::uint64_t bits) {
  T value;
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

}  // namespace detail

// Runs kernel `Kernel` over the grid and returns when every block is done (streams are accepted and ignored).
// Throws cudasim::Error on a bad configuration or a failing kernel.
template <auto Kernel, class... Args>
void launch(dim3 grid, dim3 block, std::size_t dynamic_shared_bytes, cudaStream_t, Args... args) {
  auto body = [&] { Kernel(args...); };
  detail::run_grid(
      {grid, block, dynamic_shared_bytes, detail::kernel_name<Kernel>(), reinterpret_cast<const void*>(Kernel)},
      &detail::thread_loop<decltype(body)>, &body);
}

template <class Kernel>
cudaError_t cudaFuncSetAttribute(Kernel* kernel, cudaFuncAttribute attribute, int value) {
  if (attribute != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      static_cast<std::size_t>(value) > detail::max_dynamic_shared_opt_in(reinterpret_cast<const void*>(kernel)))
    return cudaErrorInvalidValue;
  detail::set_function_max_dynamic_shared(reinterpret_cast<const void*>(kernel), value);
  return cudaSuccess;
}

// ---- synchronisation ----------------------------------------------------------------------------------------
inline void __syncthreads(detail::SourceLocation where = detail::SourceLocation::current()) {
  detail::block_barrier(detail::BarrierKind::sync, 0, where);
}
inline int __syncthreads_count(int predicate, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::block_barrier(detail::BarrierKind::count, predicate, where);
}
inline int __syncthreads_and(int predicate, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::block_barrier(detail::BarrierKind::all, predicate, where);
}
inline int __syncthreads_or(int predicate, detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::block_barrier(detail::BarrierKind::any, predicate, where);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, detail::SourceLocation where = detail::SourceLocation::current()) {
  detail::warp_op(detail::WarpOpKind::sync, mask, 0, 0, warpSize, where);
}
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// ---- warp shuffles and votes ----------------------------------------------------------------------------------
template <class T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize,
              detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::from_bits<T>(
      detail::warp_op(detail::WarpOpKind::shfl, mask, detail::to_bits(var), src_lane, width, where));
}
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                 detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::from_bits<T>(
      detail::warp_op(detail::WarpOpKind::shfl_up, mask, detail::to_bits(var), int(delta), width, where));
}
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                   detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::from_bits<T>(
      detail::warp_op(detail::WarpOpKind::shfl_down, mask, detail::to_bits(var), int(delta), width, where));
}
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize,
                  detail::SourceLocation where = detail::SourceLocation::current()) {
  return detail::from_bits<T>(
      detail::warp_op(detail::WarpOpKind::shfl_xor, mask, detail::to_bits(var), lane_mask, width, where));
}
inline unsigned __ballot_sync(unsigned mask, int predicate,
                              detail::SourceLocation where = detail::SourceLocation::current()) {
  return unsigned(detail::warp_op(detail::WarpOpKind::ballot, mask, predicate != 0, 0, warpSize, where));
}
inline int __any_sync(unsigned mask, int predicate, detail::SourceLocation where = detail::SourceLocation::current()) {
  return int(detail::warp_op(detail::WarpOpKind::any, mask, predicate != 0, 0, warpSize, where));
}
inline int __all_sync(unsigned mask, int predicate, detail::SourceLocation where = detail::SourceLocation::current()) {
  return int(detail::warp_op(detail::WarpOpKind::all, mask, predicate != 0, 0, warpSize, where));
}

// ---- tensor cores ---------------------------------------------------------------------------------------------
// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {d}, {a}, {b}, {c}: every lane of the warp calls it at the
// same site with its fragments (layouts: PTX ISA, "Matrix Fragments for mma.m16n8k8"). The lanes park; the
// scheduler assembles A (16x8), B (8x8) and C (16x8), computes D with the current architecture's tensor-core
// arithmetic (cudasim/mma_model.h) and scatters it back. Kernels spell it through kernels/mma.cuh.
inline void mma_sync_m16n8k8_tf32(float (&d)[4], const float (&a)[4], const float (&b)[2], const float (&c)[4],
                                  detail::SourceLocation where = detail::SourceLocation::current()) {
  const detail::MmaFragments fragments{a, b, c, d};
  detail::warp_op(detail::WarpOpKind::mma_tf32, 0xffffffffu, reinterpret_cast<std::uintptr_t>(&fragments), 0, warpSize,
                  where);
}
// cvt.rna.tf32.f32: round to TF32, to nearest with ties away from zero (cudasim/mma_model.h: tf32_round).
inline float cvt_rna_tf32(float x) { return tf32_round(x); }

// ---- atomics (relaxed, as CUDA's; blocks run on several OS threads) --------------------------------------------
namespace detail {
template <class T, class F>
T atomic_update(T* address, F update) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  auto* word = reinterpret_cast<Bits*>(address);
  Bits old_bits = __atomic_load_n(word, __ATOMIC_RELAXED);
  for (;;) {
    const T old_value = from_bits<T>(old_bits);
    const Bits new_bits = Bits(to_bits(update(old_value)));
    if (__atomic_compare_exchange_n(word, &old_bits, new_bits, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
      return old_value;
  }
}
}  // namespace detail

#define GG_SIM_INTEGER_ATOMICS(T)                                                           \
  inline T atomicAdd(T* a, T v) { return __atomic_fetch_add(a, v, __ATOMIC_RELAXED); }      \
  inline T atomicSub(T* a, T v) { return __atomic_fetch_sub(a, v, __ATOMIC_RELAXED); }      \
  inline T atomicExch(T* a, T v) { return __atomic_exchange_n(a, v, __ATOMIC_RELAXED); }    \
  inline T atomicAnd(T* a, T v) { return __atomic_fetch_and(a, v, __ATOMIC_RELAXED); }      \
  inline T atomicOr(T* a, T v) { return __atomic_fetch_or(a, v, __ATOMIC_RELAXED); }        \
  inline T atomicXor(T* a, T v) { return __atomic_fetch_xor(a, v, __ATOMIC_RELAXED); }      \
  inline T atomicMin(T* a, T v) {                                                           \
    return detail::atomic_update(a, [v](T old) { return old < v ? old : v; });              \
  }                                                                                         \
  inline T atomicMax(T* a, T v) {                                                           \
    return detail::atomic_update(a, [v](T old) { return old > v ? old : v; });              \
  }                                                                                         \
  inline T atomicCAS(T* a, T compare, T v) {                                                \
    __atomic_compare_exchange_n(a, &compare, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED); \
    return compare;                                                                         \
  }
GG_SIM_INTEGER_ATOMICS(int)
GG_SIM_INTEGER_ATOMICS(unsigned)
GG_SIM_INTEGER_ATOMICS(unsigned long long)
#undef GG_SIM_INTEGER_ATOMICS

inline float atomicAdd(float* a, float v) {
  return detail::atomic_update(a, [v](float old) { return old + v; });
}
inline double atomicAdd(double* a, double v) {
  return detail::atomic_update(a, [v](double old) { return old + v; });
}
inline float atomicExch(float* a, float v) {
  return detail::from_bits<float>(
      __atomic_exchange_n(reinterpret_cast<std::uint32_t*>(a), std::uint32_t(detail::to_bits(v)), __ATOMIC_RELAXED));
}
// CUDA's wrapping increment/decrement: ((old >= limit) ? 0 : old + 1) and ((old == 0 || old > limit) ? limit : old -
// 1).
inline unsigned atomicInc(unsigned* a, unsigned limit) {
  return detail::atomic_update(a, [limit](unsigned old) { return old >= limit ? 0u : old + 1; });
}
inline unsigned atomicDec(unsigned* a, unsigned limit) {
  return detail::atomic_update(a, [limit](unsigned old) { return (old == 0 || old > limit) ? limit : old - 1; });
}

// ---- math and bit intrinsics ----------------------------------------------------------------------------------
// Fast-math intrinsics map to the accurate functions: results differ from a GPU's within its documented error.
// glibc's <math.h> declares its own __expf etc., so these names are macros onto cudasim's versions (below).
inline float fast_expf(float x) { return std::exp(x); }
inline float fast_logf(float x) { return std::log(x); }
inline float fast_sinf(float x) { return std::sin(x); }
inline float fast_cosf(float x) { return std::cos(x); }
inline float fast_powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __frsqrt_rn(float x) { return 1.0f / std::sqrt(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : (x == x ? x : 0.0f)); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline int __float2int_rn(float x) { return int(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return int(x); }
inline int __float_as_int(float x) { return detail::from_bits<int>(detail::to_bits(x)); }
inline unsigned __float_as_uint(float x) { return detail::from_bits<unsigned>(detail::to_bits(x)); }
inline float __int_as_float(int x) { return detail::from_bits<float>(detail::to_bits(x)); }
inline float __uint_as_float(unsigned x) { return detail::from_bits<float>(detail::to_bits(x)); }
inline long long __double_as_longlong(double x) { return detail::from_bits<long long>(detail::to_bits(x)); }
inline double __longlong_as_double(long long x) { return detail::from_bits<double>(detail::to_bits(x)); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(unsigned(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
  x = ((x >> 8) & 0x00ff00ffu) | ((x & 0x00ff00ffu) << 8);
  return (x >> 16) | (x << 16);
}
inline unsigned __umulhi(unsigned a, unsigned b) { return unsigned((std::uint64_t(a) * b) >> 32); }
inline int __mulhi(int a, int b) { return int((std::int64_t(a) * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
template <class T>
T __ldg(const T* p) {
  return *p;
}
// CUDA's device min/max overloads (mixed int/unsigned and float/double forms).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }

}  // namespace cudasim

// Kernel sources use these names unqualified, as in CUDA.
using namespace cudasim;
#define threadIdx (::cudasim::detail::tls_context.thread_idx)
#define blockIdx (::cudasim::detail::tls_context.block_idx)
#define blockDim (::cudasim::detail::tls_context.block_dim)
#define gridDim (::cudasim::detail::tls_context.grid_dim)
#define __expf ::cudasim::fast_expf
#define __logf ::cudasim::fast_logf
#define __sinf ::cudasim::fast_sinf
#define __cosf ::cudasim::fast_cosf
#define __powf ::cudasim::fast_powf
