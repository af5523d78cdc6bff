// conv2d: implicit-GEMM convolution, NCHW, groups = 1 (CUTLASS's Fprop / Dgrad / Wgrad), float and double.
//
// clang-format off
// x: (N, Cin, H, W); weight: (Cout, Cin, KH, KW); bias: (Cout); y, dy: (N, Cout, OH, OW); stride s in {1, 2}.
//   forward:          y[n,co,oh,ow] = bias[co] + sum_{ci,kh,kw} weight[co,ci,kh,kw] x[n,ci,src(oh s-pad+kh),src(ow s-pad+kw)]
//   backward_data:    dx = the exact adjoint of x -> y (every read of the forward sends its gradient back to the
//                     pixel it read, including the mirrored reads of reflection padding)
//   backward_weight:  dweight[co,ci,kh,kw] = sum_{n,oh,ow} dy[n,co,oh,ow] x[n,ci,src(..),src(..)];
//                     dbias[co] = sum_{n,oh,ow} dy[n,co,oh,ow]
// clang-format on
// src(i) folds the padding into the index math (no padded copy): zeros reads 0 outside [0, size); reflect mirrors
// about the edge pixel without repeating it (-i below 0, 2(size-1)-i above size-1), one mirror since pad < size.
//
// Each pass is one GEMM C (M x N) = A (M x K) B (K x N) whose operands are gathered from the tensors on the fly:
//   forward: M = Cout, N = N*OH*OW output pixels, K = Cin*KH*KW. A = weight, B = im2col(x).
//   dgrad:   M = Cin,  N = N*H*W input pixels,    K = Cout*KH*KW. A = weight^T, B[(co,kh,kw), (n,ih,iw)] = the sum
//            of dy[n,co,oh,ow] over the output pixels whose tap (kh,kw) reads (ih,iw). In padded coordinates a row ih
//            is read from ph = ih+pad and, under reflection, from its mirrors pad-ih (1 <= ih <= pad) and
//            2(H-1)-ih+pad (H-1-pad <= ih < H-1); tap kh at ph belongs to oh = (ph-kh)/s when that is a whole
//            number in [0, OH). So dx is a gather (no scatter, no atomics), exact for stride 2 and reflection.
//   wgrad:   M = Cout, N = Cin*KH*KW, K = N*OH*OW, cut into `splits` fixed chunks (deterministic split-K): block
//            z writes its partial tile to workspace slice z, then split_sum_kernel adds the slices in order z = 0..
//            The blocks of the first N tile also sum their dy tile's rows: the dbias partials.
// A block computes a kM x kN tile of C in kTileK-deep stages staged in shared memory; each of its 256 threads owns
// a kTm x kTn register tile. Global loads for stage k+1 go to registers while stage k is multiplied, then into the
// second shared buffer, in kLoadParts parts (each part's loads around one part of the multiply, so only a part
// of the next stage is held in registers): one barrier per stage (in the simulator each barrier is a fiber
// switch per thread). Threads that are neighbours in the warp load neighbouring pixels (or weights along K), so
// loads coalesce where the layout lets them. Float tile shapes by M: 16 x 256 (2x8 per thread) for M <= 16 (RGB
// ends), 64 x 256 (8x8) for M <= 64, 128 x 128 (8x8) above; double uses 16 x 128 and 32 x 64 (2x4). Every
// output is written by one thread in a fixed order: results are bitwise repeatable.
#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernels/launch.h"
#include "kernels/launchers.h"

#if defined(__CUDACC__)
#define GG_CONV_UNROLL _Pragma("unroll")
#else
#define GG_CONV_UNROLL _Pragma("GCC unroll 16")
#endif

namespace gramgan::GG_BACKEND {
namespace {

constexpr int kThreads = 256;
constexpr int kTileK = 32;
// Shared rows are padded by 4 elements: the transposed stores spread over banks, rows stay 16-byte aligned.
constexpr int kPad = 4;
// A thread's A elements of one stage lie this many rows apart.
constexpr int kARowStep = kThreads / kTileK;
// The next stage is loaded in parts: each part's global loads are issued before one part of the current stage's
// multiply and stored to shared memory after it, so a thread holds only a part of the next stage in registers
// (at one part, 8x8 tiles with 32-deep stages needed more than 255 registers in the weight gradient on sm_80).
constexpr int kLoadParts = 2;
constexpr int kPartK = kTileK / kLoadParts;
constexpr int kMaxSplits = 64;
constexpr int kSplitTargetBlocks = 264;  // two waves of a 132-SM H100
constexpr int kMinSplitStages = 16;      // a split reduces at least 512 pixels

// A block computes an M x N tile of C; each thread a Tm x Tn register tile. MinBlocks: the blocks per SM that
// __launch_bounds__ asks the register allocator to fit (2: at most 128 registers per thread).
template <int M, int N, int Tm, int Tn, int MinBlocks = 2>
struct Tile {
  static constexpr int kM = M, kN = N, kTm = Tm, kTn = Tn, kMinBlocks = MinBlocks;
  static constexpr int kThreadsN = N / Tn;
  static_assert((M / Tm) * (N / Tn) == kThreads, "one register tile per thread");
  static_assert(M % kARowStep == 0 && kThreads % N == 0, "load mappings below");
  static constexpr int kALoads = M * kTileK / kThreads;  // A elements per thread per stage
  static constexpr int kBLoads = kTileK * N / kThreads;  // B elements per thread per stage
  static_assert(kALoads % kLoadParts == 0 && kBLoads % kLoadParts == 0, "whole parts");
};

// The two stages of A and B tiles. At kTileK = 32 they exceed the 48 KiB of static shared memory (66-82 KiB), so
// they live in dynamic shared memory (launch<> opts the kernel in). Deep stages halve the barriers per FMA; in the
// simulator each barrier switches every thread's fiber and reloads its registers from its stack.
template <class T, class Cfg>
struct StageBuffers {
  T a[2][kTileK][Cfg::kM + kPad];
  T b[2][kTileK][Cfg::kN + kPad];
};
// float. 8 x 8 register tiles need more than 128 registers (ptxas spills at 2 blocks per SM), so those tiles run
// one 256-thread block per SM with 64 accumulators per thread.
using TileSmall = Tile<16, 256, 2, 8>;
using TileMedium = Tile<64, 256, 8, 8, 1>;
using TileLarge = Tile<128, 128, 8, 8, 1>;
// double (gradient checks): register tiles of an eighth of the elements, so the 32-deep stages' loads fit too.
using TileSmallDouble = Tile<16, 128, 2, 4, 1>;
using TileMediumDouble = Tile<32, 64, 2, 4, 1>;

struct ConvParams {
  int batch, cin, h, w, cout, kh, kw, pad, oh, ow;
  int shift;  // stride = 1 << shift
  bool reflect;
};

// The row (or column) of the image that padded coordinate i reads, or -1 for a zero of zero padding.
__device__ __forceinline__ int source_index(int i, int size, bool reflect) {
  if (reflect) return i < 0 ? -i : (i >= size ? 2 * (size - 1) - i : i);
  return (i >= 0 && i < size) ? i : -1;
}

// A K index of the gathered operand as its digits (channel, kernel row, kernel column). The loads walk K in
// order, so they step these digits instead of dividing by KH*KW and KW for every element they load.
struct Tap {
  int c, kh, kw;
};
__device__ __forceinline__ Tap tap_of(int k, int area, int kw_size) {
  const int c = k / area, r = k - c * area, kh = r / kw_size;
  return {c, kh, r - kh * kw_size};
}
__device__ __forceinline__ void next_tap(Tap& tap, int kh_size, int kw_size) {
  if (++tap.kw == kw_size) {
    tap.kw = 0;
    if (++tap.kh == kh_size) {
      tap.kh = 0;
      ++tap.c;
    }
  }
}
// tap += distance, given as digits (tap_of of the distance; each digit below its radix): one carry per digit.
__device__ __forceinline__ void advance_tap(Tap& tap, const Tap& distance, int kh_size, int kw_size) {
  tap.c += distance.c;
  tap.kh += distance.kh;
  tap.kw += distance.kw;
  if (tap.kw >= kw_size) {
    tap.kw -= kw_size;
    ++tap.kh;
  }
  if (tap.kh >= kh_size) {
    tap.kh -= kh_size;
    ++tap.c;
  }
}

// out[j] = im2col(x)[tap + j][pixel] for j < N: the taps of one pixel (image, origin ih0, iw0; `valid` false
// for a padding column of the GEMM) walked in K order. The input row (channel, mirrored or zero-padded row) is
// looked up again only when the walk leaves a kernel row, so an element costs a column lookup and a load. On
// return `tap` is the tap after the last one.
template <int N, class T>
__device__ __forceinline__ void gather_taps(const ConvParams& p, const T* image, bool valid, int ih0, int iw0,
                                            Tap& tap, T (&out)[N]) {
  const int in_plane = p.h * p.w;
  auto row_of = [&](const Tap& at) -> const T* {
    if (!valid || at.c >= p.cin) return nullptr;
    const int ih = source_index(ih0 + at.kh, p.h, p.reflect);
    return ih >= 0 ? image + std::size_t(at.c) * in_plane + ih * p.w : nullptr;
  };
  const T* row = row_of(tap);
  GG_CONV_UNROLL
  for (int j = 0; j < N; ++j) {
    T v = T(0);
    if (row != nullptr) {
      const int iw = source_index(iw0 + tap.kw, p.w, p.reflect);
      if (iw >= 0) v = row[iw];
    }
    out[j] = v;
    if (++tap.kw == p.kw) {
      tap.kw = 0;
      if (++tap.kh == p.kh) {
        tap.kh = 0;
        ++tap.c;
      }
      row = row_of(tap);
    }
  }
}

// out = p[0..N): vector loads from shared memory on the GPU (the compiler cannot always prove the alignment).
template <int N, class T>
__device__ __forceinline__ void load_row(const T* p, T (&out)[N]) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same_v<T, float> && N % 4 == 0) {
    GG_CONV_UNROLL
    for (int q = 0; q < N / 4; ++q) {
      const float4 v = reinterpret_cast<const float4*>(p)[q];
      out[4 * q] = v.x, out[4 * q + 1] = v.y, out[4 * q + 2] = v.z, out[4 * q + 3] = v.w;
    }
  } else if constexpr (N % 2 == 0) {
    using Pair = std::conditional_t<std::is_same_v<T, float>, float2, double2>;
    GG_CONV_UNROLL
    for (int q = 0; q < N / 2; ++q) {
      const Pair v = reinterpret_cast<const Pair*>(p)[q];
      out[2 * q] = v.x, out[2 * q + 1] = v.y;
    }
  } else
#endif
  {
    GG_CONV_UNROLL
    for (int i = 0; i < N; ++i) out[i] = p[i];
  }
}

// acc += a_tile[part K steps, row..] (x) b_tile[part K steps, col..]: per K step, acc[i][j] += a[i] * b[j].
// On the GPU: vector loads of a and b from shared memory and one FFMA per element. In the simulator a thread's
// stage runs between two fiber switches, so this loop is its hot path; GCC's auto-vectoriser turns the unrolled
// scalar form into multiplies and shuffles (about 20 GFLOP/s on 2 cores at VGG shapes), so each accumulator row is
// held as one GCC vector for the stage and updated with a broadcast of a[i] and a vector FMA (fp-contract=fast,
// as nvcc's default): the same operations per element in the same order as the GPU's loop, at 2.5x the speed.
template <class Cfg, class T>
__device__ __forceinline__ void multiply_stage(const T (&a_tile)[kTileK][Cfg::kM + kPad],
                                               const T (&b_tile)[kTileK][Cfg::kN + kPad], int row, int col,
                                               int part, T (&acc)[Cfg::kTm][Cfg::kTn]) {
  const int k_begin = part * kPartK;
#if defined(GG_SIMULATOR)
  static_assert((Cfg::kTn & (Cfg::kTn - 1)) == 0, "GCC vectors hold a power-of-two number of elements");
  typedef T Row __attribute__((vector_size(sizeof(T) * Cfg::kTn)));
  Row acc_rows[Cfg::kTm];
  for (int i = 0; i < Cfg::kTm; ++i) std::memcpy(&acc_rows[i], acc[i], sizeof(Row));
  for (int kk = k_begin; kk < k_begin + kPartK; ++kk) {
    Row b_row;
    std::memcpy(&b_row, &b_tile[kk][col], sizeof(Row));
    for (int i = 0; i < Cfg::kTm; ++i) acc_rows[i] += a_tile[kk][row + i] * b_row;
  }
  for (int i = 0; i < Cfg::kTm; ++i) std::memcpy(acc[i], &acc_rows[i], sizeof(Row));
#else
  GG_CONV_UNROLL
  for (int kk = k_begin; kk < k_begin + kPartK; ++kk) {
    T av[Cfg::kTm], bv[Cfg::kTn];
    load_row(&a_tile[kk][row], av);
    load_row(&b_tile[kk][col], bv);
    GG_CONV_UNROLL
    for (int i = 0; i < Cfg::kTm; ++i) {
      GG_CONV_UNROLL
      for (int j = 0; j < Cfg::kTn; ++j) acc[i][j] += av[i] * bv[j];
    }
  }
#endif
}

// y = weight * im2col(x) (+ bias). Thread t loads weight[row0 + t/kTileK + kARowStep j][k0 + t%kTileK]
// (consecutive threads: consecutive k) and im2col rows k0 + (t/kN) kBLoads + j of output pixel col0 + t%kN
// (consecutive threads: consecutive pixels; one thread: consecutive taps, stepped by a Tap).
template <class T, class Cfg>
__global__ void __launch_bounds__(kThreads, Cfg::kMinBlocks)
    conv2d_forward_kernel(ConvParams p, const T* __restrict__ x, const T* __restrict__ weight,
                          const T* __restrict__ bias, T* __restrict__ y) {
  // Two stages: threads fill one while they multiply the other, so a stage costs one barrier, not two.
  using Buffers = StageBuffers<T, Cfg>;
  GG_DYNAMIC_SHARED(Buffers, buffers);
  auto& a_tile = buffers->a;
  auto& b_tile = buffers->b;
  const int t = threadIdx.x;
  const int row0 = blockIdx.y * Cfg::kM, col0 = blockIdx.x * Cfg::kN;
  const int area = p.kh * p.kw, depth = p.cin * area;
  const int out_plane = p.oh * p.ow, in_plane = p.h * p.w, pixels = p.batch * out_plane;

  const int a_k = t % kTileK, a_row = t / kTileK;
  const int b_col = t % Cfg::kN, b_k = t / Cfg::kN;
  const int pixel = col0 + b_col;
  const bool pixel_ok = pixel < pixels;
  int ih0 = 0, iw0 = 0;
  const T* x_image = x;
  if (pixel_ok) {
    const int n = pixel / out_plane, rest = pixel - n * out_plane;
    const int oh = rest / p.ow, ow = rest - oh * p.ow;
    ih0 = (oh << p.shift) - p.pad;
    iw0 = (ow << p.shift) - p.pad;
    x_image = x + std::size_t(n) * p.cin * in_plane;
  }

  Tap b_tap = tap_of(b_k * Cfg::kBLoads, area, p.kw);  // this thread's first B row of the next load
  const Tap b_rest = tap_of(kTileK - Cfg::kBLoads, area, p.kw);
  constexpr int kAPart = Cfg::kALoads / kLoadParts, kBPart = Cfg::kBLoads / kLoadParts;
  T a_regs[kAPart], b_regs[kBPart];
  auto load = [&](int k0, int part) {
    const int k = k0 + a_k;
    GG_CONV_UNROLL
    for (int j = 0; j < kAPart; ++j) {
      const int m = row0 + a_row + kARowStep * (part * kAPart + j);
      a_regs[j] = (m < p.cout && k < depth) ? weight[std::size_t(m) * depth + k] : T(0);
    }
    gather_taps(p, x_image, pixel_ok, ih0, iw0, b_tap, b_regs);
    if (part == kLoadParts - 1) advance_tap(b_tap, b_rest, p.kh, p.kw);
  };

  const int ty = t / Cfg::kThreadsN, tx = t % Cfg::kThreadsN;
  T acc[Cfg::kTm][Cfg::kTn] = {};
  auto store = [&](int stage, int part) {
    GG_CONV_UNROLL
    for (int j = 0; j < kAPart; ++j) a_tile[stage][a_k][a_row + kARowStep * (part * kAPart + j)] = a_regs[j];
    GG_CONV_UNROLL
    for (int j = 0; j < kBPart; ++j) b_tile[stage][b_k * Cfg::kBLoads + part * kBPart + j][b_col] = b_regs[j];
  };
  for (int part = 0; part < kLoadParts; ++part) {
    load(0, part);
    store(0, part);
  }
  __syncthreads();
  for (int k0 = 0, stage = 0; k0 < depth; k0 += kTileK, stage ^= 1) {
    const bool more = k0 + kTileK < depth;
    for (int part = 0; part < kLoadParts; ++part) {
      if (more) load(k0 + kTileK, part);
      multiply_stage<Cfg>(a_tile[stage], b_tile[stage], ty * Cfg::kTm, tx * Cfg::kTn, part, acc);
      // The other stage was last read before the previous barrier, so it is free to fill.
      if (more) store(stage ^ 1, part);
    }
    __syncthreads();
  }

  GG_CONV_UNROLL
  for (int j = 0; j < Cfg::kTn; ++j) {
    const int col = col0 + tx * Cfg::kTn + j;
    if (col >= pixels) break;
    const int n = col / out_plane, rest = col - n * out_plane;
    T* out = y + std::size_t(n) * p.cout * out_plane + rest;
    GG_CONV_UNROLL
    for (int i = 0; i < Cfg::kTm; ++i) {
      const int m = row0 + ty * Cfg::kTm + i;
      if (m < p.cout) out[std::size_t(m) * out_plane] = bias != nullptr ? acc[i][j] + bias[m] : acc[i][j];
    }
  }
}

// dx = weight^T * G (see the top of the file for G). Same load mapping as the forward kernel; the pixel of a
// thread's B column is an input pixel, whose (up to 3) padded rows and columns are found once.
template <class T, class Cfg>
__global__ void __launch_bounds__(kThreads, Cfg::kMinBlocks)
    conv2d_backward_data_kernel(ConvParams p, const T* __restrict__ dy, const T* __restrict__ weight,
                                T* __restrict__ dx) {
  // Two stages: threads fill one while they multiply the other, so a stage costs one barrier, not two.
  using Buffers = StageBuffers<T, Cfg>;
  GG_DYNAMIC_SHARED(Buffers, buffers);
  auto& a_tile = buffers->a;
  auto& b_tile = buffers->b;
  const int t = threadIdx.x;
  const int row0 = blockIdx.y * Cfg::kM, col0 = blockIdx.x * Cfg::kN;
  const int area = p.kh * p.kw, depth = p.cout * area;
  const int out_plane = p.oh * p.ow, in_plane = p.h * p.w, pixels = p.batch * in_plane;
  const int stride_mask = (1 << p.shift) - 1;

  const int a_k = t % kTileK, a_row = t / kTileK;
  const int b_col = t % Cfg::kN, b_k = t / Cfg::kN;
  const int pixel = col0 + b_col;
  const bool pixel_ok = pixel < pixels;
  // Padded rows (columns) that read this pixel: itself, its mirror below and its mirror above, in that order;
  // kAbsent where there is none (every tap then lies below it and is skipped). Fixed slots, no runtime index:
  // the arrays stay in registers on the GPU.
  constexpr int kAbsent = INT_MIN / 2;
  int rows[3] = {kAbsent, kAbsent, kAbsent}, cols[3] = {kAbsent, kAbsent, kAbsent};
  const T* dy_image = dy;
  if (pixel_ok) {
    const int n = pixel / in_plane, rest = pixel - n * in_plane;
    const int ih = rest / p.w, iw = rest - ih * p.w;
    dy_image = dy + std::size_t(n) * p.cout * out_plane;
    rows[0] = ih + p.pad;
    cols[0] = iw + p.pad;
    if (p.reflect) {
      if (ih >= 1 && ih <= p.pad) rows[1] = p.pad - ih;
      if (ih < p.h - 1 && ih >= p.h - 1 - p.pad) rows[2] = 2 * (p.h - 1) - ih + p.pad;
      if (iw >= 1 && iw <= p.pad) cols[1] = p.pad - iw;
      if (iw < p.w - 1 && iw >= p.w - 1 - p.pad) cols[2] = 2 * (p.w - 1) - iw + p.pad;
    }
  }

  // A column k0 + t%kTileK as (output channel, tap): a Tap whose kernel-row digit stays 0 (radix 1, tap in kw).
  Tap a_tap = tap_of(a_k, area, area);
  const Tap a_stage = tap_of(kTileK, area, area);
  Tap b_tap = tap_of(b_k * Cfg::kBLoads, area, p.kw);  // this thread's first B row of the next load
  const Tap b_rest = tap_of(kTileK - Cfg::kBLoads, area, p.kw);
  constexpr int kAPart = Cfg::kALoads / kLoadParts, kBPart = Cfg::kBLoads / kLoadParts;
  T a_regs[kAPart], b_regs[kBPart];
  auto load = [&](int part) {  // part of the next stage: the taps say which
    GG_CONV_UNROLL
    for (int j = 0; j < kAPart; ++j) {
      const int m = row0 + a_row + kARowStep * (part * kAPart + j);
      a_regs[j] =
          (m < p.cin && a_tap.c < p.cout) ? weight[(std::size_t(a_tap.c) * p.cin + m) * area + a_tap.kw] : T(0);
    }
    if (part == kLoadParts - 1) advance_tap(a_tap, a_stage, 1, area);
    GG_CONV_UNROLL
    for (int j = 0; j < kBPart; ++j) {
      T v = T(0);
      if (pixel_ok && b_tap.c < p.cout) {
        const T* dy_plane = dy_image + std::size_t(b_tap.c) * out_plane;
        GG_CONV_UNROLL
        for (int a = 0; a < 3; ++a) {
          const int dh = rows[a] - b_tap.kh;
          if (dh < 0 || (dh & stride_mask) != 0 || (dh >> p.shift) >= p.oh) continue;
          const T* dy_row = dy_plane + (dh >> p.shift) * p.ow;
          GG_CONV_UNROLL
          for (int b = 0; b < 3; ++b) {
            const int dw = cols[b] - b_tap.kw;
            if (dw < 0 || (dw & stride_mask) != 0 || (dw >> p.shift) >= p.ow) continue;
            v += dy_row[dw >> p.shift];
          }
        }
      }
      b_regs[j] = v;
      next_tap(b_tap, p.kh, p.kw);
    }
    if (part == kLoadParts - 1) advance_tap(b_tap, b_rest, p.kh, p.kw);
  };

  const int ty = t / Cfg::kThreadsN, tx = t % Cfg::kThreadsN;
  T acc[Cfg::kTm][Cfg::kTn] = {};
  auto store = [&](int stage, int part) {
    GG_CONV_UNROLL
    for (int j = 0; j < kAPart; ++j) a_tile[stage][a_k][a_row + kARowStep * (part * kAPart + j)] = a_regs[j];
    GG_CONV_UNROLL
    for (int j = 0; j < kBPart; ++j) b_tile[stage][b_k * Cfg::kBLoads + part * kBPart + j][b_col] = b_regs[j];
  };
  for (int part = 0; part < kLoadParts; ++part) {
    load(part);
    store(0, part);
  }
  __syncthreads();
  for (int k0 = 0, stage = 0; k0 < depth; k0 += kTileK, stage ^= 1) {
    const bool more = k0 + kTileK < depth;
    for (int part = 0; part < kLoadParts; ++part) {
      if (more) load(part);
      multiply_stage<Cfg>(a_tile[stage], b_tile[stage], ty * Cfg::kTm, tx * Cfg::kTn, part, acc);
      if (more) store(stage ^ 1, part);
    }
    __syncthreads();
  }

  GG_CONV_UNROLL
  for (int j = 0; j < Cfg::kTn; ++j) {
    const int col = col0 + tx * Cfg::kTn + j;
    if (col >= pixels) break;
    const int n = col / in_plane, rest = col - n * in_plane;
    T* out = dx + std::size_t(n) * p.cin * in_plane + rest;
    GG_CONV_UNROLL
    for (int i = 0; i < Cfg::kTm; ++i) {
      const int m = row0 + ty * Cfg::kTm + i;
      if (m < p.cin) out[std::size_t(m) * in_plane] = acc[i][j];
    }
  }
}

// Partial dweight (and dbias) of split blockIdx.z: pixels [z chunk, (z+1) chunk). Thread t loads pixel
// k0 + t%kTileK of dy rows row0 + t/kTileK + kARowStep j and of im2col columns col0 + (t/kTileK) kBLoads + j:
// kTileK neighbouring threads read kTileK neighbouring pixels. The pixel (n, oh, ow) and the columns' taps are
// stepped, not divided, per stage.
// Workspace slice z: dweight partial (Cout, Cin*KH*KW), then dbias partial (Cout).
template <class T, class Cfg>
__global__ void __launch_bounds__(kThreads, Cfg::kMinBlocks)
    conv2d_backward_weight_kernel(ConvParams p, const T* __restrict__ x, const T* __restrict__ dy, int chunk,
                                  bool with_bias, T* __restrict__ workspace) {
  // Two stages: threads fill one while they multiply the other, so a stage costs one barrier, not two.
  using Buffers = StageBuffers<T, Cfg>;
  GG_DYNAMIC_SHARED(Buffers, buffers);
  auto& a_tile = buffers->a;
  auto& b_tile = buffers->b;
  const int t = threadIdx.x;
  const int row0 = blockIdx.y * Cfg::kM, col0 = blockIdx.x * Cfg::kN;
  const int area = p.kh * p.kw, depth = p.cin * area;
  const int out_plane = p.oh * p.ow, in_plane = p.h * p.w, pixels = p.batch * out_plane;
  const int begin = blockIdx.z * chunk, end = pixels - begin <= chunk ? pixels : begin + chunk;

  const int k_local = t % kTileK, lane_row = t / kTileK;
  const Tap first_column = tap_of(col0 + lane_row * Cfg::kBLoads, area, p.kw);
  // The pixel of the next load as (image, output row, output column): a Tap in the radix (., OH, OW).
  int q = begin + k_local;
  Tap pixel = tap_of(q, out_plane, p.ow);
  const Tap pixel_stage = tap_of(kTileK, out_plane, p.ow);

  constexpr int kAPart = Cfg::kALoads / kLoadParts, kBPart = Cfg::kBLoads / kLoadParts;
  T a_regs[kAPart], b_regs[kBPart];
  Tap column = first_column;  // the next B column of the part being loaded
  auto load = [&](int part) {
    const bool ok = q < end;
    const int n = ok ? pixel.c : 0, oh = ok ? pixel.kh : 0, ow = ok ? pixel.kw : 0;
    const T* dy_pixel = dy + std::size_t(n) * p.cout * out_plane + oh * p.ow + ow;
    GG_CONV_UNROLL
    for (int j = 0; j < kAPart; ++j) {
      const int m = row0 + lane_row + kARowStep * (part * kAPart + j);
      a_regs[j] = (ok && m < p.cout) ? dy_pixel[std::size_t(m) * out_plane] : T(0);
    }
    const T* x_image = x + std::size_t(n) * p.cin * in_plane;
    const int ih0 = (oh << p.shift) - p.pad, iw0 = (ow << p.shift) - p.pad;
    if (part == 0) column = first_column;
    gather_taps(p, x_image, ok, ih0, iw0, column, b_regs);
    if (part == kLoadParts - 1) {
      q += kTileK;
      advance_tap(pixel, pixel_stage, p.oh, p.ow);
    }
  };

  const int ty = t / Cfg::kThreadsN, tx = t % Cfg::kThreadsN;
  const bool bias_thread = with_bias && blockIdx.x == 0 && tx == 0;
  T acc[Cfg::kTm][Cfg::kTn] = {};
  T bias_acc[Cfg::kTm] = {};
  auto store = [&](int stage, int part) {
    GG_CONV_UNROLL
    for (int j = 0; j < kAPart; ++j) a_tile[stage][k_local][lane_row + kARowStep * (part * kAPart + j)] = a_regs[j];
    GG_CONV_UNROLL
    for (int j = 0; j < kBPart; ++j) b_tile[stage][k_local][lane_row * Cfg::kBLoads + part * kBPart + j] = b_regs[j];
  };
  if (begin < end) {  // begin and end are the same for the whole block
    for (int part = 0; part < kLoadParts; ++part) {
      load(part);
      store(0, part);
    }
  }
  __syncthreads();
  for (int k0 = begin, stage = 0; k0 < end; k0 += kTileK, stage ^= 1) {
    const bool more = k0 + kTileK < end;
    for (int part = 0; part < kLoadParts; ++part) {
      if (more) load(part);
      multiply_stage<Cfg>(a_tile[stage], b_tile[stage], ty * Cfg::kTm, tx * Cfg::kTn, part, acc);
      if (more) store(stage ^ 1, part);
    }
    if (bias_thread) {
      for (int kk = 0; kk < kTileK; ++kk) {
        GG_CONV_UNROLL
        for (int i = 0; i < Cfg::kTm; ++i) bias_acc[i] += a_tile[stage][kk][ty * Cfg::kTm + i];
      }
    }
    __syncthreads();
  }

  T* partial = workspace + std::size_t(blockIdx.z) * (std::size_t(p.cout) * depth + p.cout);
  GG_CONV_UNROLL
  for (int i = 0; i < Cfg::kTm; ++i) {
    const int m = row0 + ty * Cfg::kTm + i;
    if (m >= p.cout) break;
    GG_CONV_UNROLL
    for (int j = 0; j < Cfg::kTn; ++j) {
      const int col = col0 + tx * Cfg::kTn + j;
      if (col < depth) partial[std::size_t(m) * depth + col] = acc[i][j];
    }
    if (bias_thread) partial[std::size_t(p.cout) * depth + m] = bias_acc[i];
  }
}

// out[i] = sum over splits z = 0, 1, ... of workspace[z][i], in that order; i < weights go to dweight, the rest
// (when dbias is wanted) to dbias.
template <class T>
__global__ void __launch_bounds__(kThreads)
    split_sum_kernel(const T* __restrict__ workspace, int splits, std::size_t slice, std::size_t weights,
                     std::size_t count, T* __restrict__ dweight, T* __restrict__ dbias) {
  const std::size_t i = std::size_t(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= count) return;
  T sum = workspace[i];
  for (int z = 1; z < splits; ++z) sum += workspace[std::size_t(z) * slice + i];
  if (i < weights)
    dweight[i] = sum;
  else
    dbias[i - weights] = sum;
}

// ---- host side ---------------------------------------------------------------------------------------------

std::string describe(const Conv2dShape& s) {
  return "(batch=" + std::to_string(s.batch) + ", in_channels=" + std::to_string(s.in_channels) +
         ", height=" + std::to_string(s.height) + ", width=" + std::to_string(s.width) +
         ", out_channels=" + std::to_string(s.out_channels) + ", kernel=" + std::to_string(s.kernel_h) + "x" +
         std::to_string(s.kernel_w) + ", stride=" + std::to_string(s.stride) + ", pad=" + std::to_string(s.pad) +
         (s.padding == Padding::reflect ? " reflect)" : " zeros)");
}

// Throws std::invalid_argument naming the launcher and the shape; returns the kernels' parameters.
ConvParams check_shape(const Conv2dShape& s, const char* launcher) {
  const auto fail = [&](const std::string& what) {
    throw std::invalid_argument(std::string(launcher) + ": " + what + "; shape " + describe(s));
  };
  if (s.batch < 1 || s.in_channels < 1 || s.height < 1 || s.width < 1 || s.out_channels < 1 || s.kernel_h < 1 ||
      s.kernel_w < 1)
    fail("batch, channels, height, width and kernel sizes must be positive");
  if (s.stride != 1 && s.stride != 2) fail("stride must be 1 or 2");
  if (s.pad < 0) fail("pad must be >= 0");
  if (s.padding == Padding::reflect && (s.pad >= s.height || s.pad >= s.width))
    fail("reflection padding needs pad < height and pad < width (use zero padding or a smaller pad)");
  const long long padded_h = s.height + 2LL * s.pad, padded_w = s.width + 2LL * s.pad;
  if (padded_h < s.kernel_h || padded_w < s.kernel_w)
    fail("the kernel is larger than the padded input, so the output would be empty");
  const long long oh = (padded_h - s.kernel_h) / s.stride + 1, ow = (padded_w - s.kernel_w) / s.stride + 1;
  const long long in_image = 1LL * s.in_channels * s.height * s.width, out_image = 1LL * s.out_channels * oh * ow;
  if (1LL * s.batch * s.height * s.width > INT_MAX || 1LL * s.batch * oh * ow > INT_MAX || in_image > INT_MAX ||
      out_image > INT_MAX || 1LL * s.in_channels * s.kernel_h * s.kernel_w * s.out_channels > INT_MAX ||
      s.in_channels > 65535 * 16 || s.out_channels > 65535 * 16)
    fail("sizes exceed the kernels' 32-bit pixel and channel indexing");
  return {s.batch,    s.in_channels, s.height, s.width, s.out_channels,        s.kernel_h,
          s.kernel_w, s.pad,         int(oh),  int(ow), s.stride == 2 ? 1 : 0, s.padding == Padding::reflect};
}

void check_pointer(const void* p, const char* launcher, const char* name) {
  if (p == nullptr) throw std::invalid_argument(std::string(launcher) + ": " + name + " is null");
}

// Calls f(TileX{}) with the tile shape for GEMM row count m and element type T (the tile lists above).
template <class T, class F>
void with_tile(int m, F f) {
  if constexpr (std::is_same_v<T, double>) {
    if (m <= TileSmallDouble::kM)
      f(TileSmallDouble{});
    else
      f(TileMediumDouble{});
  } else {
    if (m <= TileSmall::kM)
      f(TileSmall{});
    else if (m <= TileMedium::kM)
      f(TileMedium{});
    else
      f(TileLarge{});
  }
}

template <class Cfg>
dim3 gemm_grid(int m, int n, int splits = 1) {
  return dim3(unsigned((n + Cfg::kN - 1) / Cfg::kN), unsigned((m + Cfg::kM - 1) / Cfg::kM), unsigned(splits));
}

struct SplitPlan {
  int splits, chunk;  // chunk: pixels per split, a multiple of kTileK
};

// Enough splits that the float tiles fill kSplitTargetBlocks blocks. Depends on the shape only (not on the
// dtype or the backend), so both backends reduce in the same order and the workspace size is one function.
SplitPlan split_plan(const ConvParams& p) {
  const long long pixels = 1LL * p.batch * p.oh * p.ow;
  const long long stages = (pixels + kTileK - 1) / kTileK;
  long long tiles = 0;
  with_tile<float>(p.cout, [&](auto tile) {
    using Cfg = decltype(tile);
    tiles = ((p.cout + Cfg::kM - 1) / Cfg::kM) * ((1LL * p.cin * p.kh * p.kw + Cfg::kN - 1) / Cfg::kN);
  });
  long long splits = (kSplitTargetBlocks + tiles - 1) / tiles;
  splits = std::min<long long>({splits, kMaxSplits, (stages + kMinSplitStages - 1) / kMinSplitStages});
  splits = std::max<long long>(splits, 1);
  const long long chunk_stages = (stages + splits - 1) / splits;
  return {int((stages + chunk_stages - 1) / chunk_stages), int(chunk_stages * kTileK)};
}

std::size_t workspace_elements(const ConvParams& p, const SplitPlan& plan) {
  return std::size_t(plan.splits) * (std::size_t(p.cout) * p.cin * p.kh * p.kw + p.cout);
}

template <class T>
void forward_impl(const Conv2dShape& shape, const T* x, const T* weight, const T* bias, T* y, StreamHandle stream) {
  const ConvParams p = check_shape(shape, "conv2d_forward");
  check_pointer(x, "conv2d_forward", "x");
  check_pointer(weight, "conv2d_forward", "weight");
  check_pointer(y, "conv2d_forward", "y");
  const int pixels = p.batch * p.oh * p.ow;
  with_tile<T>(p.cout, [&](auto tile) {
    using Cfg = decltype(tile);
    launch<conv2d_forward_kernel<T, Cfg>>(gemm_grid<Cfg>(p.cout, pixels), dim3(kThreads), sizeof(StageBuffers<T, Cfg>), stream, p, x, weight, bias,
                                          y);
  });
}

template <class T>
void backward_data_impl(const Conv2dShape& shape, const T* dy, const T* weight, T* dx, StreamHandle stream) {
  const ConvParams p = check_shape(shape, "conv2d_backward_data");
  check_pointer(dy, "conv2d_backward_data", "dy");
  check_pointer(weight, "conv2d_backward_data", "weight");
  check_pointer(dx, "conv2d_backward_data", "dx");
  const int pixels = p.batch * p.h * p.w;
  with_tile<T>(p.cin, [&](auto tile) {
    using Cfg = decltype(tile);
    launch<conv2d_backward_data_kernel<T, Cfg>>(gemm_grid<Cfg>(p.cin, pixels), dim3(kThreads), sizeof(StageBuffers<T, Cfg>), stream, p, dy, weight,
                                                dx);
  });
}

template <class T>
void backward_weight_impl(const Conv2dShape& shape, const T* x, const T* dy, T* dweight, T* dbias, T* workspace,
                          StreamHandle stream) {
  const ConvParams p = check_shape(shape, "conv2d_backward_weight");
  check_pointer(x, "conv2d_backward_weight", "x");
  check_pointer(dy, "conv2d_backward_weight", "dy");
  check_pointer(dweight, "conv2d_backward_weight", "dweight");
  check_pointer(workspace, "conv2d_backward_weight", "workspace");
  const SplitPlan plan = split_plan(p);
  const int depth = p.cin * p.kh * p.kw;
  const bool with_bias = dbias != nullptr;
  with_tile<T>(p.cout, [&](auto tile) {
    using Cfg = decltype(tile);
    launch<conv2d_backward_weight_kernel<T, Cfg>>(gemm_grid<Cfg>(p.cout, depth, plan.splits), dim3(kThreads), sizeof(StageBuffers<T, Cfg>), stream,
                                                  p, x, dy, plan.chunk, with_bias, workspace);
  });
  const std::size_t weights = std::size_t(p.cout) * depth;
  const std::size_t count = weights + (with_bias ? p.cout : 0);
  const dim3 grid(unsigned((count + kThreads - 1) / kThreads));
  launch<split_sum_kernel<T>>(grid, dim3(kThreads), 0, stream, static_cast<const T*>(workspace), plan.splits,
                              weights + p.cout, weights, count, dweight, dbias);
}

}  // namespace

template <class T>
void conv2d_forward(const Conv2dShape& shape, const T* x, const T* weight, const T* bias, T* y, StreamHandle stream) {
  forward_impl(shape, x, weight, bias, y, stream);
}

template <class T>
void conv2d_backward_data(const Conv2dShape& shape, const T* dy, const T* weight, T* dx, StreamHandle stream) {
  backward_data_impl(shape, dy, weight, dx, stream);
}

std::size_t conv2d_backward_weight_workspace(const Conv2dShape& shape, StreamHandle) {
  const ConvParams p = check_shape(shape, "conv2d_backward_weight_workspace");
  return workspace_elements(p, split_plan(p));
}

template <class T>
void conv2d_backward_weight(const Conv2dShape& shape, const T* x, const T* dy, T* dweight, T* dbias, T* workspace,
                            StreamHandle stream) {
  backward_weight_impl(shape, x, dy, dweight, dbias, workspace, stream);
}

template void conv2d_forward<float>(const Conv2dShape&, const float*, const float*, const float*, float*, StreamHandle);
template void conv2d_forward<double>(const Conv2dShape&, const double*, const double*, const double*, double*,
                                     StreamHandle);
template void conv2d_backward_data<float>(const Conv2dShape&, const float*, const float*, float*, StreamHandle);
template void conv2d_backward_data<double>(const Conv2dShape&, const double*, const double*, double*, StreamHandle);
template void conv2d_backward_weight<float>(const Conv2dShape&, const float*, const float*, float*, float*, float*,
                                            StreamHandle);
template void conv2d_backward_weight<double>(const Conv2dShape&, const double*, const double*, double*, double*,
                                             double*, StreamHandle);

}  // namespace gramgan::GG_BACKEND
