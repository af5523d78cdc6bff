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
// Conv2dShape::upsample (forward only): x is read as its nearest 2x upsampling, x[n,ci,i/2,j/2] for the upsampled
// image's (i, j), so an upsample followed by a conv never stores the 4x image; the GEMM and its sums are those of
// the conv on the stored upsampled image, bit for bit.
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
//            At stride 2 the GEMM runs per sub-pixel phase (DataGradPhase), over the taps that can read it.
//   wgrad:   M = Cout, N = Cin*KH*KW, K = N*OH*OW, cut into `splits` fixed chunks (deterministic split-K): block
//            z writes its partial tile to workspace slice z, then split_sum_kernel adds the slices in order z = 0..
//            The blocks of the first N tile also sum their dy tile's rows: the dbias partials.
// All three run one pipeline, gemm_mainloop (kernels/conv2d_mainloop.cuh), fed by a loader per pass that gathers
// its A and B tiles. A block computes a kM x kN tile of C in kTileK-deep stages; each of its 256 threads owns a
// kTm x kTn register tile. Float tile shapes by M, as nvcc builds them: 16 x 256 (2x8 per thread) for M <= 16 (RGB
// ends), 64 x 256 (8x8) for M <= 64, 128 x 128 (8x8) above; double uses 16 x 128 and 32 x 64 (2x4). The simulator
// builds shapes of its own for a CPU core (SimulatorTiles). Every output is written by one thread in a fixed order,
// and a tile's shape decides which thread that is, never the order of its sum: results are bitwise repeatable, and
// the same for both tile sets (tests compare them).
// Precision::tf32 (float only) runs the same loaders and block tiles through the tensor-core pipeline of
// kernels/conv2d_mma.cuh (operands rounded to TF32 when staged, m16n8k8 MMAs, FP32 accumulators): the *_tf32
// kernels below, chosen by the launchers. The fp32 kernels stay the cpu default and the accuracy reference.
// The exception: a forward pass that the tile set's direct_forward takes (nvcc: at most 4 output channels at
// the generator's 9x9 RGB output and the PatchGAN's 4x4 one-channel map; the simulator: every stride-1 3x3, 4x4
// and 9x9 forward) is a direct convolution. For the nvcc shapes the GEMM has 1-3 useful rows of a 16-row tile and
// gathers every im2col element for those few rows, so the gather costs more than the arithmetic; on a CPU core the
// direct kernel beats the GEMM at every stride-1 shape of the models (no shared memory, no barrier, so no fiber
// switch; vector FMAs along a row's pixels). It reads each input row segment once per kernel row and applies
// every tap of it to neighbouring output pixels and a group of output channels. It sums K in the same order
// (ci, kh, kw) as the GEMM, bias last, so its bits are the GEMM's. (fp32 only: tf32 keeps its MMA path, and
// double, for the gradient checks, the GEMM.)
// Likewise a stride-1 data gradient that the tile set's direct_data_gradient takes (nvcc: VGG's 3x3 conv1_1, 3
// input channels; the simulator: every stride-1 3x3, 4x4 and 9x9) is a direct convolution of dy with the flipped
// kernel, which sums each G element over its readers and walks K as the GEMM does: the GEMM's bits again.
#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "kernels/conv2d_mainloop.cuh"
#include "kernels/conv2d_mma.cuh"
#if defined(GG_SIMULATOR)
#include "kernels/conv2d_nvcc_tiles.h"
#endif
#include "kernels/launch.h"
#include "kernels/launchers.h"

namespace gramgan::GG_BACKEND {
namespace {

using conv_gemm::gemm_mainloop, conv_gemm::MmaAccumulators, conv_gemm::MmaTile, conv_gemm::kThreads,
    conv_gemm::StageBuffers, conv_gemm::StageRegisters, conv_gemm::Tile;

constexpr int kMaxSplits = 64;
// The direct weight gradient's output channels (conv2d_backward_weight_direct_kernel), at most.
constexpr int kMaxDirectWeightCout = 4;
// The weight gradient's split plan aims at this many blocks (264: two waves of 132 SMs, an H100 SXM). It is a
// fixed constant on purpose, not read from the device: the plan sets the summation order, so a plan that depends
// on the shape alone sums dweight in the same order on every GPU and in the simulator. The bits are repeatable on
// one backend; across backends they agree within tolerance, since nvcc (per architecture) and g++ (per -march)
// contract the tiles' multiply-adds into FMAs differently.
constexpr int kSplitPlanBlocks = 264;
constexpr int kMinSplitStages = 16;  // a split reduces at least 512 pixels

// The convolution as the kernels index it (not to be confused with engine's ops::Conv2dGeometry, the stride and
// padding a tensor op takes): Conv2dShape checked, with the output size worked out, the stride as a
// shift and the padding mode as a flag.
struct ConvIndexing {
  int batch, cin, h, w, cout, kh, kw, pad, oh, ow;
  int shift;  // stride = 1 << shift
  bool reflect;
  // h and w are the image the convolution sees; x stores it as (h >> up, w >> up) (Conv2dShape::upsample: a
  // nearest 2x upsampling read in place, forward only).
  int up = 0;
};

// The direct kernels' thread shape: kPixels neighbouring pixels of one row by kChannels channels (output pixels
// and channels in conv2d_forward_direct_kernel, input ones in conv2d_backward_data_direct_kernel).
template <int Pixels, int Channels>
struct DirectTile {
  static constexpr int kPixels = Pixels, kChannels = Channels;
};
// The square kernel widths a tile set builds a direct kernel for (each width is a kernel of its own: the width is
// compile-time). with(kw, f) calls f(std::integral_constant<int, kw>{}) when kw is one of them.
template <int... Widths>
struct KernelWidths {
  static constexpr bool contains(int kw) { return ((kw == Widths) || ...); }
  template <class F>
  static void with(int kw, [[maybe_unused]] F f) {  // unused when there are no widths
    (void)((kw == Widths && (f(std::integral_constant<int, Widths>{}), true)) || ...);
  }
};

// The tile shapes of the CUDA build. float: 8 x 8 register tiles need more than 128 registers (ptxas spills at 2
// blocks per SM), so those tiles run one 256-thread block per SM with 64 accumulators per thread. double (gradient
// checks): register tiles of an eighth of the elements, so the 32-deep stages' loads fit too.
struct NvccTiles {
  using Small = Tile<16, 256, 2, 8>;
  using Narrow = Tile<64, 256, 8, 8, 1>;  // M <= 32: the medium tile
  using Medium = Tile<64, 256, 8, 8, 1>;
  using Large = Tile<128, 128, 8, 8, 1>;
  using SmallDouble = Tile<16, 128, 2, 4, 1>;
  using MediumDouble = Tile<32, 64, 2, 4, 1>;
  // The direct kernels: 8 pixels by the 1-4 channels of a GEMM that has 1-3 useful rows of a 16-row tile and
  // gathers every element of its wide operand for those few rows: the forward of the generator's 9x9 RGB output
  // and the PatchGAN's 4x4 one-channel map, and the data gradient of VGG's 3x3 conv1_1 (3 input channels).
  using Direct = DirectTile<8, 4>;
  using DirectForwardWidths = KernelWidths<9, 4>;
  using DirectDataGradientWidths = KernelWidths<3>;
  static bool direct_forward(const ConvIndexing& g) {
    return g.cout <= Direct::kChannels && g.shift == 0 && g.up == 0 && g.kh == g.kw &&
           DirectForwardWidths::contains(g.kw);
  }
  static bool direct_data_gradient(const ConvIndexing& g) {
    return g.cin <= Direct::kChannels && g.shift == 0 && g.kh == g.kw && DirectDataGradientWidths::contains(g.kw);
  }
  // No direct weight gradient: its threads are (split, ci, kh) triples, too few to fill a GPU.
  using DirectWeightGradientWidths = KernelWidths<>;
  static bool direct_weight_gradient(const ConvIndexing&) { return false; }
};
// The simulator's, shaped for a CPU core, which has no register file or shared memory to share out but pays for
// every barrier (a fiber switch of each of the block's threads) and for every element a thread gathers: 64-deep
// stages, loaded in one part, halve the barriers per FMA; the 128-row tile's 128 x 256 block with 8 x 16 register tiles
// (eight 16-float vectors, AVX-512 registers under -march=native; 128 accumulator registers per thread on a GPU) loads
// fewer elements per FMA; and a 32-row tile spares the 32-channel layers a half-empty 64-row one. Together
// about 1.3-1.5x the nvcc shapes' speed at the models' large layers on 2 cores (bench/README, 2026-12-06).
// Stride-1 forwards and data gradients of the models' kernel sizes run direct, 16 pixels (one AVX-512 vector) by
// 16 channels a thread: 1.4-5.5x these GEMM tiles for the forward (bench/README, 2026-12-06, later), 1.7-15x for
// the data gradient (bench/README, 2026-12-06, night). At stride 2 the GEMM stays faster for all
// but 3-channel inputs, since a thread's pixels then read every other element of a row.
struct SimulatorTiles {
  using Small = Tile<16, 256, 2, 8, 2, 64, 1>;
  using Narrow = Tile<32, 256, 4, 8, 1, 64, 1>;
  using Medium = Tile<64, 256, 8, 8, 1, 64, 1>;
  using Large = Tile<128, 256, 8, 16, 1, 64, 1>;
  using SmallDouble = NvccTiles::SmallDouble;
  using MediumDouble = NvccTiles::MediumDouble;
  using Direct = DirectTile<16, 16>;
  using DirectForwardWidths = KernelWidths<9, 4, 3>;
  using DirectDataGradientWidths = KernelWidths<9, 4, 3>;
  static bool direct_forward(const ConvIndexing& g) {
    return g.shift == 0 && g.kh == g.kw && DirectForwardWidths::contains(g.kw);
  }
  static bool direct_data_gradient(const ConvIndexing& g) {
    return g.shift == 0 && g.kh == g.kw && DirectDataGradientWidths::contains(g.kw);
  }
  // The weight gradient of the generator's 9x9 RGB output (3 output channels) runs direct, its kernel rows as
  // vectors (conv2d_backward_weight_direct_kernel).
  using DirectWeightGradientWidths = KernelWidths<9>;
  static bool direct_weight_gradient(const ConvIndexing& g) {
    return g.cout <= kMaxDirectWeightCout && g.shift == 0 && g.kh == g.kw && DirectWeightGradientWidths::contains(g.kw);
  }
};
#if defined(GG_SIMULATOR)
using NativeTiles = SimulatorTiles;
#else
using NativeTiles = NvccTiles;
#endif
// tf32 (float only), the same block tiles as the float ones (so the weight gradient's split plan is one), as
// 8 warps of 64 x 32 (16 x 32 for M <= 16) fragment tiles.
using MmaTileSmall = MmaTile<16, 256, 1>;
using MmaTileMedium = MmaTile<64, 256, 1>;
using MmaTileLarge = MmaTile<128, 128, 2>;
// CUDA's limit on gridDim.y, which counts the tiles along M (Cout, or Cin for the data gradient). Every tile has
// at least 16 rows, so channel counts up to kMaxGemmRows keep the grid within it.
constexpr int kMaxGridY = 65535;
constexpr int kMaxGemmRows = kMaxGridY * std::min(NvccTiles::Small::kM, NvccTiles::SmallDouble::kM);
static_assert(SimulatorTiles::Small::kM == NvccTiles::Small::kM, "kMaxGemmRows holds for both tile sets");

// The row (or column) of the image that padded coordinate i reads, or -1 for a zero of zero padding.
__device__ __forceinline__ int source_index(int i, int size, bool reflect) {
  if (reflect) return i < 0 ? -i : (i >= size ? 2 * (size - 1) - i : i);
  return (i >= 0 && i < size) ? i : -1;
}

// The loads walk their indices in order, so they hold an index as its digits and step them instead of dividing
// for every element they load: a K index of the gathered operand as a Tap, a pixel index as a Pixel.
struct Tap {
  int c, kh, kw;  // channel, kernel row, kernel column
};
struct Pixel {
  int n, row, col;  // image, row, column
};
__device__ __forceinline__ void next_tap(Tap& tap, int kh_size, int kw_size) {
  if (++tap.kw == kw_size) {
    tap.kw = 0;
    if (++tap.kh == kh_size) {
      tap.kh = 0;
      ++tap.c;
    }
  }
}
// Index i as digits (high, middle, low) of radices (., middle, low); lower = middle * low.
template <class Digits>
__device__ __forceinline__ Digits digits_of(int i, int lower, int low) {
  const int high = i / lower, r = i - high * lower, middle = r / low;
  return {high, middle, r - middle * low};
}
// d += distance, given as digits (digits_of the distance; each digit below its radix): one carry per digit.
template <class Digits>
__device__ __forceinline__ void advance(Digits& d, const Digits& distance, int middle_radix, int low_radix) {
  auto& [high, middle, low] = d;
  const auto& [by_high, by_middle, by_low] = distance;
  high += by_high;
  middle += by_middle;
  low += by_low;
  if (low >= low_radix) {
    low -= low_radix;
    ++middle;
  }
  if (middle >= middle_radix) {
    middle -= middle_radix;
    ++high;
  }
}

// out[j] = im2col(x)[tap + j][pixel] for j < N: the taps of one output pixel (image, window origin ih0, iw0 in
// padded coordinates; `valid` false for a padding column of the GEMM) walked in K order. The input row (channel,
// mirrored or zero-padded row) is looked up again only when the walk leaves a kernel row, so an element costs a column
// lookup and a load. On return `tap` is the tap after the last one.
template <int N, class T>
__device__ __forceinline__ void gather_taps(const ConvIndexing& g, const T* image, bool valid, int ih0, int iw0,
                                            Tap& tap, T (&out)[N]) {
  const int stored_w = g.w >> g.up, in_plane = (g.h >> g.up) * stored_w;
  auto row_of = [&](const Tap& at) -> const T* {
    if (!valid || at.c >= g.cin) return nullptr;
    const int ih = source_index(ih0 + at.kh, g.h, g.reflect);
    return ih >= 0 ? image + std::size_t(at.c) * in_plane + (ih >> g.up) * stored_w : nullptr;
  };
  const T* row = row_of(tap);
  GG_CONV_UNROLL
  for (int j = 0; j < N; ++j) {
    T v = T(0);
    if (row != nullptr) {
      const int iw = source_index(iw0 + tap.kw, g.w, g.reflect);
      if (iw >= 0) v = row[iw >> g.up];
    }
    out[j] = v;
    if (++tap.kw == g.kw) {
      tap.kw = 0;
      if (++tap.kh == g.kh) {
        tap.kh = 0;
        ++tap.c;
      }
      row = row_of(tap);
    }
  }
}

// The loaders are aggregates: the kernel names the first members, the rest follow from them in order.
// Forward: A = weight, (Cout, K) row-major; B = im2col(x), a thread's column an output pixel whose taps it walks.
template <class T, class Cfg>
struct ForwardLoader {
  const ConvIndexing& g;
  const T *x, *weight;
  int row0, col0;
  StageRegisters<T, Cfg, true> regs{};
  const int depth = g.cin * g.kh * g.kw, pixel_index = col0 + regs.b_col;
  const bool pixel_ok = pixel_index < g.batch * g.oh * g.ow;
  const Pixel pixel = digits_of<Pixel>(pixel_ok ? pixel_index : 0, (g.oh * g.ow), g.ow);
  const T* x_image = x + std::size_t(pixel.n) * g.cin * (g.h >> g.up) * (g.w >> g.up);
  const int ih0 = (pixel.row << g.shift) - g.pad, iw0 = (pixel.col << g.shift) - g.pad;
  // The first B row of the next load, and the step from past a stage's last row to the next stage's first.
  Tap b_tap = digits_of<Tap>(regs.b_k, (g.kh * g.kw), g.kw);
  const Tap b_rest = digits_of<Tap>(Cfg::kTileK - Cfg::kBLoads, (g.kh * g.kw), g.kw);

  __device__ __forceinline__ void load(int k0, int part) {
    const int k = k0 + regs.a_k;
    GG_CONV_UNROLL
    for (int j = 0; j < regs.kAPart; ++j) {
      const int m = row0 + regs.a_row_of(part, j);
      regs.a[j] = (m < g.cout && k < depth) ? weight[std::size_t(m) * depth + k] : T(0);
    }
    gather_taps(g, x_image, pixel_ok, ih0, iw0, b_tap, regs.b);
    if (part == Cfg::kLoadParts - 1) advance(b_tap, b_rest, g.kh, g.kw);
  }
};

// Padded coordinates that read image coordinate i: itself, its mirror below and its mirror above (reflection
// only), in that order; kAbsent where there is none (every tap then lies below it and is skipped). Fixed slots, no
// runtime index: they stay in registers on the GPU.
struct Readers {
  static constexpr int kAbsent = INT_MIN / 2;
  int at[3];
};
__device__ __forceinline__ Readers readers_of(int i, int size, int pad, bool reflect) {
  Readers r = {{i + pad, Readers::kAbsent, Readers::kAbsent}};
  if (reflect && i >= 1 && i <= pad) r.at[1] = pad - i;
  if (reflect && i < size - 1 && i >= size - 1 - pad) r.at[2] = 2 * (size - 1) - i + pad;
  return r;
}

// The data gradient's sub-pixel phases. At stride 2 an input pixel's readers (itself and its mirrors) all have
// the parity of ih + pad, so only the taps kh of that parity can read it: the others are zeros of G. Phase
// (row, col) of the 4^shift phases (blockIdx.z) holds the pixels (s i + row, s j + col) and gathers only the
// taps (tap_row + s t, tap_col + s u), a quarter of K at a 4x4 kernel. Its K walks (channel, t, u) in the full K's
// order less the skipped zeros, and an accumulator never sums to -0 (it starts at +0), so w * 0 added to it changes
// nothing: dx has the bits of the full gather (while the weights are finite). At stride 1 there is one phase, all of K.
struct DataGradPhase {
  int row, col;          // the phase's first pixel row and column; its pixels are s apart
  int h, w;              // its pixel rows and columns per image
  int tap_row, tap_col;  // the first kernel row and column of its taps, which are s apart
  int kh, kw;            // its taps down and across the kernel: K = Cout kh kw
};
__device__ __forceinline__ DataGradPhase data_grad_phase(const ConvIndexing& g, int phase) {
  const int s = 1 << g.shift, row = phase >> 1, col = phase & 1;
  const int tap_row = (row + g.pad) & (s - 1), tap_col = (col + g.pad) & (s - 1);
  return {row,     col,     (g.h - row + s - 1) >> g.shift,      (g.w - col + s - 1) >> g.shift,
          tap_row, tap_col, (g.kh - tap_row + s - 1) >> g.shift, (g.kw - tap_col + s - 1) >> g.shift};
}
int data_grad_phases(const ConvIndexing& g) { return 1 << (2 * g.shift); }

// Data gradient of one phase (p): A = weight^T, B = G, both over the phase's K (above); a thread's column a pixel
// of the phase, whose readers it finds once. Taps are held as (channel, t, u) digits of the phase's taps.
template <class T, class Cfg>
struct DataGradLoader {
  const ConvIndexing& g;
  const DataGradPhase& p;
  const T *dy, *weight;
  int row0, col0;
  StageRegisters<T, Cfg, true> regs{};
  const int area = g.kh * g.kw, phase_area = p.kh * p.kw, out_plane = g.oh * g.ow;
  const int phase_plane = p.h * p.w, pixel_index = col0 + regs.b_col;
  const bool pixel_ok = pixel_index < g.batch * phase_plane;
  const Pixel pixel = digits_of<Pixel>(pixel_ok ? pixel_index : 0, phase_plane, p.w);
  const T* dy_image = dy + std::size_t(pixel.n) * g.cout * out_plane;
  const Readers rows = readers_of((pixel.row << g.shift) + p.row, g.h, g.pad, g.reflect);
  const Readers cols = readers_of((pixel.col << g.shift) + p.col, g.w, g.pad, g.reflect);
  Tap a_tap = digits_of<Tap>(regs.a_k, phase_area, p.kw), b_tap = digits_of<Tap>(regs.b_k, phase_area, p.kw);
  const Tap a_stage = digits_of<Tap>(Cfg::kTileK, phase_area, p.kw);
  const Tap b_rest = digits_of<Tap>(Cfg::kTileK - Cfg::kBLoads, phase_area, p.kw);

  __device__ __forceinline__ void load(int, int part) {  // the taps say where the next stage starts
    const std::size_t a_offset =
        std::size_t(((p.tap_row + (a_tap.kh << g.shift)) * g.kw) + p.tap_col + (a_tap.kw << g.shift));
    GG_CONV_UNROLL
    for (int j = 0; j < regs.kAPart; ++j) {
      const int m = row0 + regs.a_row_of(part, j);
      regs.a[j] = (m < g.cin && a_tap.c < g.cout) ? weight[(std::size_t(a_tap.c) * g.cin + m) * area + a_offset] : T(0);
    }
    if (part == Cfg::kLoadParts - 1) advance(a_tap, a_stage, p.kh, p.kw);
    GG_CONV_UNROLL
    for (int j = 0; j < regs.kBPart; ++j) {
      T v = T(0);
      if (pixel_ok && b_tap.c < g.cout) {
        const T* dy_plane = dy_image + std::size_t(b_tap.c) * out_plane;
        const int kh = p.tap_row + (b_tap.kh << g.shift), kw = p.tap_col + (b_tap.kw << g.shift);
        GG_CONV_UNROLL
        for (int a = 0; a < 3; ++a) {
          const int dh = rows.at[a] - kh;  // a multiple of the stride: the phase's taps have the readers' parity
          if (dh < 0 || (dh >> g.shift) >= g.oh) continue;
          const T* dy_row = dy_plane + (dh >> g.shift) * g.ow;
          GG_CONV_UNROLL
          for (int b = 0; b < 3; ++b) {
            const int dw = cols.at[b] - kw;
            if (dw < 0 || (dw >> g.shift) >= g.ow) continue;
            v += dy_row[dw >> g.shift];
          }
        }
      }
      regs.b[j] = v;
      next_tap(b_tap, p.kh, p.kw);
    }
    if (part == Cfg::kLoadParts - 1) advance(b_tap, b_rest, p.kh, p.kw);
  }
};

// Weight gradient over pixels [begin, end): A = dy, (Cout, pixels) per image; B = im2col(x)^T, a thread's K row a
// pixel whose kBLoads consecutive taps (columns) it walks. kTileK neighbouring threads read kTileK neighbouring
// pixels; the pixel and the columns' taps are stepped, not divided, per stage.
template <class T, class Cfg>
struct WeightGradLoader {
  const ConvIndexing& g;
  const T *x, *dy;
  int row0, col0, begin, end;
  StageRegisters<T, Cfg, false> regs{};
  const int area = g.kh * g.kw, out_plane = g.oh * g.ow;
  const Tap first_column = digits_of<Tap>(col0 + regs.b_col, area, g.kw);
  Tap column = first_column;  // the next B column of the part being loaded
  int q = begin + regs.a_k;   // the pixel of the next load, as an index and as a Pixel
  Pixel pixel = digits_of<Pixel>(q, out_plane, g.ow);
  const Pixel pixel_stage = digits_of<Pixel>(Cfg::kTileK, out_plane, g.ow);

  __device__ __forceinline__ void load(int, int part) {
    const bool ok = q < end;
    const Pixel at = ok ? pixel : Pixel{0, 0, 0};
    const T* dy_pixel = dy + std::size_t(at.n) * g.cout * out_plane + at.row * g.ow + at.col;
    GG_CONV_UNROLL
    for (int j = 0; j < regs.kAPart; ++j) {
      const int m = row0 + regs.a_row_of(part, j);
      regs.a[j] = (ok && m < g.cout) ? dy_pixel[std::size_t(m) * out_plane] : T(0);
    }
    const T* x_image = x + std::size_t(at.n) * g.cin * g.h * g.w;
    const int ih0 = (at.row << g.shift) - g.pad, iw0 = (at.col << g.shift) - g.pad;
    if (part == 0) column = first_column;
    gather_taps(g, x_image, ok, ih0, iw0, column, regs.b);
    if (part == Cfg::kLoadParts - 1) {
      q += Cfg::kTileK;
      advance(pixel, pixel_stage, g.oh, g.ow);
    }
  }
};

// out[offset(col) + m plane] = acc (+ bias[m]) for this thread's register tile, where the GEMM's columns
// col < pixels are pixels of an NCHW tensor of `rows` channels and `plane` pixels per channel, and offset(col) is
// the column's pixel in channel 0.
template <class Cfg, class T, class Offset>
__device__ __forceinline__ void store_pixels(const T (&acc)[Cfg::kTm][Cfg::kTn], int row0, int col0, int rows,
                                             std::size_t plane, int pixels, Offset offset, const T* bias, T* out) {
  const int ty = int(threadIdx.x) / Cfg::kThreadsN, tx = int(threadIdx.x) % Cfg::kThreadsN;
  GG_CONV_UNROLL
  for (int j = 0; j < Cfg::kTn; ++j) {
    const int col = col0 + tx * Cfg::kTn + j;
    if (col >= pixels) break;
    T* image = out + offset(col);
    GG_CONV_UNROLL
    for (int i = 0; i < Cfg::kTm; ++i) {
      const int m = row0 + ty * Cfg::kTm + i;
      if (m < rows) image[m * plane] = bias != nullptr ? acc[i][j] + bias[m] : acc[i][j];
    }
  }
}

// y = weight * im2col(x) (+ bias).
template <class T, class Cfg>
__global__ void __launch_bounds__(kThreads, Cfg::kMinBlocks)
    conv2d_forward_kernel(ConvIndexing g, const T* __restrict__ x, const T* __restrict__ weight,
                          const T* __restrict__ bias, T* __restrict__ y) {
  GG_KERNEL_BOUNDS(kThreads, Cfg::kMinBlocks);
  using Buffers = StageBuffers<T, Cfg>;
  GG_DYNAMIC_SHARED(Buffers, buffers);
  const int row0 = blockIdx.y * Cfg::kM, col0 = blockIdx.x * Cfg::kN;
  ForwardLoader<T, Cfg> loader{g, x, weight, row0, col0};
  T acc[Cfg::kTm][Cfg::kTn] = {};
  gemm_mainloop(*buffers, loader, 0, loader.depth, acc, [](const auto&) {});
  const int plane = g.oh * g.ow;
  const auto offset = [&](int col) {
    const int n = col / plane;
    return std::size_t(n) * g.cout * plane + (col - n * plane);
  };
  store_pixels<Cfg>(acc, row0, col0, g.cout, plane, g.batch * plane, offset, bias, y);
}

// A direct kernel's kPixels neighbouring pixels of one row: one GCC vector on a CPU core (an AVX-512 register at
// 16 floats; a tap is one vector FMA per channel, with a broadcast weight), an array of registers on the GPU. Lane
// indices are compile-time wherever a kernel reads or writes one lane.
#if defined(GG_SIMULATOR)
template <class T, int N>
struct PixelLanesOf {
  typedef T type __attribute__((vector_size(sizeof(T) * N)));
};
template <class T, int N>
using PixelLanes = typename PixelLanesOf<T, N>::type;
template <class Lanes, class T>
__device__ __forceinline__ Lanes load_lanes(const T* p) {
  Lanes l;
  std::memcpy(&l, p, sizeof(l));
  return l;
}
#else
template <class T, int N>
struct PixelLanes {
  T lane[N];
  __device__ __forceinline__ T& operator[](int i) { return lane[i]; }
  __device__ __forceinline__ PixelLanes& operator+=(const PixelLanes& o) {
    GG_CONV_UNROLL
    for (int i = 0; i < N; ++i) lane[i] += o.lane[i];
    return *this;
  }
  __device__ __forceinline__ friend PixelLanes operator*(T w, const PixelLanes& l) {
    PixelLanes r;
    GG_CONV_UNROLL
    for (int i = 0; i < N; ++i) r.lane[i] = w * l.lane[i];
    return r;
  }
};
template <class Lanes, class T>
__device__ __forceinline__ Lanes load_lanes(const T* p) {
  Lanes l;
  GG_CONV_UNROLL
  for (int i = 0; i < int(sizeof(l.lane) / sizeof(T)); ++i) l.lane[i] = p[i];
  return l;
}
#endif

// The row segment a direct kernel reads: on a CPU core in place when it lies inside the row (in_place), else, and
// always on the GPU (where the copy stays in registers), the copy that fill() writes to segment.
template <class T, class Fill>
__device__ __forceinline__ const T* row_segment(const T* in_place, bool inside, T* segment, Fill fill) {
#if defined(GG_SIMULATOR)
  if (inside) return in_place;
#else
  (void)in_place;
  (void)inside;
#endif
  fill();
  return segment;
}

// A direct kernel's thread, over an (n, channels, rows, cols) output: channels [c0, c0 + count) of the run of
// Shape::kPixels pixels at (at.n, at.row, col0 ..), of which `valid` lie in the row. Channel groups are the slowest
// index, so neighbouring threads share a group's weights. direct_thread is false for the threads past the last.
struct DirectThread {
  int c0, count;
  Pixel at;
  int col0, valid;
};
template <class Shape>
long long direct_threads(int batch, int channels, int rows, int cols) {
  return 1LL * ((channels + Shape::kChannels - 1) / Shape::kChannels) * batch * rows *
         ((cols + Shape::kPixels - 1) / Shape::kPixels);
}
template <class Shape>
__device__ __forceinline__ bool direct_thread(int batch, int channels, int rows, int cols, DirectThread& d) {
  const int groups = (cols + Shape::kPixels - 1) / Shape::kPixels;
  const long long t = 1LL * blockIdx.x * kThreads + threadIdx.x, per_group = 1LL * batch * rows * groups;
  if (t >= per_group * ((channels + Shape::kChannels - 1) / Shape::kChannels)) return false;
  d.c0 = int(t / per_group) * Shape::kChannels;
  d.count = channels - d.c0 < Shape::kChannels ? channels - d.c0 : Shape::kChannels;
  d.at = digits_of<Pixel>(int(t % per_group), rows * groups, groups);
  d.col0 = d.at.col * Shape::kPixels;
  d.valid = cols - d.col0 < Shape::kPixels ? cols - d.col0 : Shape::kPixels;
  return true;
}

// The direct forward (top of the file): a thread computes Shape::kPixels neighbouring output pixels of one row for
// Shape::kChannels output channels (a channel group; threads of one group are neighbours, so they share its
// weights). Stride 1; the kernel width is compile-time, so the input row segment a kernel row needs, and every
// tap's offset in it, are fixed: on the GPU they stay in registers. It sums K in the GEMM's order (ci, kh, kw),
// bias last, so its bits are the GEMM's: a zero-padding tap adds w * 0 to an accumulator that is never -0.
template <class T, class Shape, int KW>
__global__ void __launch_bounds__(kThreads)
    conv2d_forward_direct_kernel(ConvIndexing g, const T* __restrict__ x, const T* __restrict__ weight,
                                 const T* __restrict__ bias, T* __restrict__ y) {
  GG_KERNEL_BOUNDS(kThreads);
  constexpr int kPixels = Shape::kPixels, kChannels = Shape::kChannels;
  constexpr int kSegment = kPixels - 1 + KW;
  DirectThread d;
  if (!direct_thread<Shape>(g.batch, g.cout, g.oh, g.ow, d)) return;
  const int co0 = d.c0, channels = d.count, ow0 = d.col0, valid = d.valid;
  const Pixel at = d.at;
  // Segment elements past `needed` feed only output columns beyond the row: never read (they may lie beyond the
  // padding). A segment inside the (stored, not upsampled) image needs no padding lookups.
  const int iw0 = ow0 - g.pad, needed = valid - 1 + KW;
  const bool inside = g.up == 0 && iw0 >= 0 && iw0 + kSegment <= g.w;
  const int depth = g.cin * g.kh * KW, stored_w = g.w >> g.up, stored_plane = (g.h >> g.up) * stored_w;
  const T* x_image = x + std::size_t(at.n) * g.cin * stored_plane;
  const T* co_weights = weight + std::size_t(co0) * depth;
  using Lanes = PixelLanes<T, kPixels>;
  Lanes acc[kChannels] = {};
  for (int ci = 0; ci < g.cin; ++ci) {
    for (int kh = 0; kh < g.kh; ++kh) {
      const int ih = source_index(at.row - g.pad + kh, g.h, g.reflect);
      if (ih < 0) continue;
      const T* row = x_image + std::size_t(ci) * stored_plane + std::size_t(ih >> g.up) * stored_w;
      T segment[kSegment];
      const auto fill_segment = [&] {
        GG_CONV_UNROLL
        for (int e = 0; e < kSegment; ++e) {
          if (inside) {
            segment[e] = row[iw0 + e];
          } else {
            const int iw = e < needed ? source_index(iw0 + e, g.w, g.reflect) : -1;
            segment[e] = iw >= 0 ? row[iw >> g.up] : T(0);
          }
        }
      };
      const T* source = row_segment(row + iw0, inside, segment, fill_segment);
      const T* taps = co_weights + (std::size_t(ci) * g.kh + kh) * KW;
      GG_CONV_UNROLL
      for (int kw = 0; kw < KW; ++kw) {
        const Lanes in = load_lanes<Lanes>(source + kw);
        GG_CONV_UNROLL
        for (int co = 0; co < kChannels; ++co) {
          if (co >= channels) break;
          acc[co] += taps[std::size_t(co) * depth + kw] * in;
        }
      }
    }
  }
  const int plane = g.oh * g.ow;
  T* out = y + (std::size_t(at.n) * g.cout + co0) * plane + at.row * g.ow + ow0;
  GG_CONV_UNROLL
  for (int co = 0; co < kChannels; ++co) {
    if (co >= channels) break;
    const T b = bias != nullptr ? bias[co0 + co] : T(0);
    GG_CONV_UNROLL
    for (int p = 0; p < kPixels; ++p)
      if (p < valid) out[std::size_t(co) * plane + p] = bias != nullptr ? acc[co][p] + b : acc[co][p];
  }
}

// The direct data gradient (stride 1; chosen by the tile set's direct_data_gradient): a thread computes
// Shape::kPixels neighbouring input pixels of one row for Shape::kChannels input channels. At stride 1, G's element
// ((co, kh, kw), (ih, iw)) (top of the file) is the sum over the readers (a, b) of row ih and column iw of
// dy[co, row_a - kh, col_b - kw]: for the readers b = 0 (the pixel itself) a run of dy's row read at offset
// KW - 1 - kw, so the thread reads the dy row segment once per (co, kh, reader row) and gets every tap from it. It
// walks K in the GEMM's order (co, kh, kw), adds a pixel's reader terms in the GEMM's order (a outer, b inner,
// the mirrored columns b = 1, 2 lane by lane after the segment's term of their row), and multiplies the sum by
// the weight: its bits are the GEMM's.
template <class T, class Shape, int KW>
__global__ void __launch_bounds__(kThreads)
    conv2d_backward_data_direct_kernel(ConvIndexing g, const T* __restrict__ dy, const T* __restrict__ weight,
                                       T* __restrict__ dx) {
  GG_KERNEL_BOUNDS(kThreads);
  constexpr int kPixels = Shape::kPixels, kChannels = Shape::kChannels;
  constexpr int kSegment = kPixels - 1 + KW;
  using Lanes = PixelLanes<T, kPixels>;
  DirectThread d;
  if (!direct_thread<Shape>(g.batch, g.cin, g.h, g.w, d)) return;
  const int ci0 = d.c0, channels = d.count, iw0 = d.col0, valid = d.valid;
  const Pixel at = d.at;
  // Pixel p's own column reads dy column iw0 + p + pad - kw at tap kw: element p + KW - 1 - kw of the segment that
  // starts at dy column ow0. Elements past `needed` feed only pixels beyond the row (never stored).
  const int ow0 = iw0 + g.pad - (KW - 1), needed = valid - 1 + KW;
  // The segment elements that lie in dy's row: [seg_lo, seg_hi); the others are zeros (or never read).
  const int seg_lo = ow0 < 0 ? -ow0 : 0, seg_hi = g.ow - ow0 < needed ? g.ow - ow0 : needed;
  const bool inside = ow0 >= 0 && ow0 + kSegment <= g.ow;
  const Readers rows = readers_of(at.row, g.h, g.pad, g.reflect);
  // Reflection: pixels [lo1, hi1) are also read as column pad - iw, pixels [lo2, hi2) as 2(W-1) - iw + pad.
  int lo1 = 0, hi1 = 0, lo2 = 0, hi2 = 0;
  if (g.reflect) {
    lo1 = 1 - iw0 > 0 ? 1 - iw0 : 0;
    hi1 = g.pad + 1 - iw0 < valid ? g.pad + 1 - iw0 : valid;
    lo2 = g.w - 1 - g.pad - iw0 > 0 ? g.w - 1 - g.pad - iw0 : 0;
    hi2 = g.w - 1 - iw0 < valid ? g.w - 1 - iw0 : valid;
  }
  const int area = g.kh * KW, out_plane = g.oh * g.ow;
  const T* dy_image = dy + std::size_t(at.n) * g.cout * out_plane;
  Lanes acc[kChannels] = {};
  // The sum over K. The simulator compiles it apart for threads with mirrored columns: the others never touch a
  // single lane, so their tap values stay in vector registers.
  const auto sum_over_taps = [&](auto mirrored) {
    for (int co = 0; co < g.cout; ++co) {
      const T* dy_plane = dy_image + std::size_t(co) * out_plane;
      const T* taps_of_co = weight + (std::size_t(co) * g.cin + ci0) * area;
      for (int kh = 0; kh < g.kh; ++kh) {
        // The dy rows of the readers (a) that tap row kh reaches, in the GEMM's order.
        const T* reached[3];
        int count = 0;
        GG_CONV_UNROLL
        for (int a = 0; a < 3; ++a) {
          const int dh = rows.at[a] - kh;
          if (dh >= 0 && dh < g.oh) reached[count++] = dy_plane + std::size_t(dh) * g.ow;
        }
        if (count == 0) continue;  // every tap of this kernel row is a zero of G
        Lanes v[KW];               // G at taps (co, kh, 0..KW-1) for the thread's pixels
        GG_CONV_UNROLL
        for (int r = 0; r < 3; ++r) {
          if (r >= count) break;
          const T* row = reached[r];
          T segment[kSegment];
          const auto fill_segment = [&] {
            GG_CONV_UNROLL
            for (int e = 0; e < kSegment; ++e) segment[e] = e >= seg_lo && e < seg_hi ? row[ow0 + e] : T(0);
          };
          const T* source = row_segment(row + ow0, inside, segment, fill_segment);
          GG_CONV_UNROLL
          for (int kw = 0; kw < KW; ++kw) {
            const Lanes own = load_lanes<Lanes>(source + KW - 1 - kw);
            if (r == 0)
              v[kw] = own;
            else
              v[kw] += own;
            if constexpr (decltype(mirrored)::value) {
              GG_CONV_UNROLL
              for (int p = 0; p < kPixels; ++p) {
                const int iw = iw0 + p, below = g.pad - iw - kw, above = 2 * (g.w - 1) - iw + g.pad - kw;
                if (p >= lo1 && p < hi1 && below >= 0 && below < g.ow) v[kw][p] += row[below];
                if (p >= lo2 && p < hi2 && above >= 0 && above < g.ow) v[kw][p] += row[above];
              }
            }
          }
        }
        const T* taps = taps_of_co + kh * KW;
        GG_CONV_UNROLL
        for (int kw = 0; kw < KW; ++kw) {
          GG_CONV_UNROLL
          for (int c = 0; c < kChannels; ++c) {
            if (c >= channels) break;
            acc[c] += taps[std::size_t(c) * area + kw] * v[kw];
          }
        }
      }
    }
  };
#if defined(GG_SIMULATOR)
  if (hi1 > lo1 || hi2 > lo2)
    sum_over_taps(std::true_type{});
  else
    sum_over_taps(std::false_type{});
#else
  sum_over_taps(std::true_type{});  // the GPU indexes lanes at compile time either way: one copy keeps registers low
#endif
  const std::size_t plane = std::size_t(g.h) * g.w;
  T* out = dx + (std::size_t(at.n) * g.cin + ci0) * plane + std::size_t(at.row) * g.w + iw0;
  GG_CONV_UNROLL
  for (int c = 0; c < kChannels; ++c) {
    if (c >= channels) break;
    GG_CONV_UNROLL
    for (int p = 0; p < kPixels; ++p)
      if (p < valid) out[std::size_t(c) * plane + p] = acc[c][p];
  }
}

// The offset in dx (or any (N, Cin, H, W) tensor) of channel 0 at the data gradient's GEMM column `column` of
// phase p: the column's pixel (n, i, j) of the phase is the image's (n, s i + p.row, s j + p.col).
__device__ __forceinline__ std::size_t data_grad_pixel(const ConvIndexing& g, const DataGradPhase& p, int column) {
  const Pixel at = digits_of<Pixel>(column, p.h * p.w, p.w);
  return std::size_t(at.n) * g.cin * g.h * g.w + std::size_t((at.row << g.shift) + p.row) * g.w +
         ((at.col << g.shift) + p.col);
}

// dx = weight^T * G (see the top of the file for G), the pixels of phase blockIdx.z.
template <class T, class Cfg>
__global__ void __launch_bounds__(kThreads, Cfg::kMinBlocks)
    conv2d_backward_data_kernel(ConvIndexing g, const T* __restrict__ dy, const T* __restrict__ weight,
                                T* __restrict__ dx) {
  GG_KERNEL_BOUNDS(kThreads, Cfg::kMinBlocks);
  using Buffers = StageBuffers<T, Cfg>;
  GG_DYNAMIC_SHARED(Buffers, buffers);
  const DataGradPhase p = data_grad_phase(g, int(blockIdx.z));
  const int row0 = blockIdx.y * Cfg::kM, col0 = blockIdx.x * Cfg::kN, pixels = g.batch * p.h * p.w;
  if (col0 >= pixels) return;  // the grid covers the largest phase; the whole block leaves, before any barrier
  const int depth = g.cout * p.kh * p.kw;
  T acc[Cfg::kTm][Cfg::kTn] = {};
  if (depth > 0) {  // else (a 1x1 kernel at stride 2) no tap reads the phase: its gradient is 0
    DataGradLoader<T, Cfg> loader{g, p, dy, weight, row0, col0};
    gemm_mainloop(*buffers, loader, 0, depth, acc, [](const auto&) {});
  }
  store_pixels<Cfg>(
      acc, row0, col0, g.cin, std::size_t(g.h) * g.w, pixels, [&](int col) { return data_grad_pixel(g, p, col); },
      static_cast<const T*>(nullptr), dx);
}

// Partial dweight (and dbias) of split blockIdx.z: pixels [z chunk, (z+1) chunk). The blocks of the first N tile
// also sum the rows of each dy stage: the dbias partials.
// Workspace slice z: dweight partial (Cout, Cin*KH*KW), then dbias partial (Cout).
template <class T, class Cfg>
__global__ void __launch_bounds__(kThreads, Cfg::kMinBlocks)
    conv2d_backward_weight_kernel(ConvIndexing g, const T* __restrict__ x, const T* __restrict__ dy, int chunk,
                                  bool with_bias, T* __restrict__ workspace) {
  GG_KERNEL_BOUNDS(kThreads, Cfg::kMinBlocks);
  using Buffers = StageBuffers<T, Cfg>;
  GG_DYNAMIC_SHARED(Buffers, buffers);
  const int row0 = blockIdx.y * Cfg::kM, col0 = blockIdx.x * Cfg::kN;
  const int depth = g.cin * g.kh * g.kw, pixels = g.batch * g.oh * g.ow;
  const int begin = blockIdx.z * chunk, end = pixels - begin <= chunk ? pixels : begin + chunk;
  WeightGradLoader<T, Cfg> loader{g, x, dy, row0, col0, begin, end};

  const int ty = int(threadIdx.x) / Cfg::kThreadsN, tx = int(threadIdx.x) % Cfg::kThreadsN;
  const bool bias_thread = with_bias && blockIdx.x == 0 && tx == 0;
  T acc[Cfg::kTm][Cfg::kTn] = {};
  T bias_acc[Cfg::kTm] = {};
  gemm_mainloop(*buffers, loader, begin, end, acc, [&](const auto& a_tile) {
    if (!bias_thread) return;
    for (int kk = 0; kk < Cfg::kTileK; ++kk) {
      GG_CONV_UNROLL
      for (int i = 0; i < Cfg::kTm; ++i) bias_acc[i] += a_tile[kk][ty * Cfg::kTm + i];
    }
  });

  T* partial = workspace + std::size_t(blockIdx.z) * (std::size_t(g.cout) * depth + g.cout);
  GG_CONV_UNROLL
  for (int i = 0; i < Cfg::kTm; ++i) {
    const int m = row0 + ty * Cfg::kTm + i;
    if (m >= g.cout) break;
    GG_CONV_UNROLL
    for (int j = 0; j < Cfg::kTn; ++j) {
      const int col = col0 + tx * Cfg::kTn + j;
      if (col < depth) partial[std::size_t(m) * depth + col] = acc[i][j];
    }
    if (bias_thread) partial[std::size_t(g.cout) * depth + m] = bias_acc[i];
  }
}

// The direct weight gradient, for layers with at most kMaxCout output channels (the tile set's
// direct_weight_gradient): split z's partials, as conv2d_backward_weight_kernel writes them. There the GEMM has
// 1-4 useful rows of a 16-row tile and gathers every im2col element for them; here a thread owns the taps
// (ci, kh, 0..KW-1) of every output channel (its lanes the kernel columns) and walks the chunk's pixels in order,
// reading per pixel one x row segment and dy of each output channel: each tap sums the same products in the GEMM's
// order (acc += dy x per pixel), so the partials carry the GEMM's bits. The threads of (ci, kh) = (0, 0) also sum
// dy over the chunk: the dbias partials. Stride 1.
template <class T, int KW>
__global__ void __launch_bounds__(kThreads)
    conv2d_backward_weight_direct_kernel(ConvIndexing g, const T* __restrict__ x, const T* __restrict__ dy, int chunk,
                                         int splits, bool with_bias, T* __restrict__ workspace) {
  GG_KERNEL_BOUNDS(kThreads);
  constexpr int kLanes = 16, kMaxCout = kMaxDirectWeightCout;
  static_assert(KW <= kLanes, "a kernel row fits the lanes");
  using Lanes = PixelLanes<T, kLanes>;
  const long long t = 1LL * blockIdx.x * kThreads + threadIdx.x;
  if (t >= 1LL * splits * g.cin * g.kh) return;
  const int kh = int(t % g.kh), ci = int(t / g.kh % g.cin), z = int(t / (1LL * g.kh * g.cin));
  const int out_plane = g.oh * g.ow, pixels = g.batch * out_plane, depth = g.cin * g.kh * KW;
  const int begin = z * chunk, end = pixels - begin <= chunk ? pixels : begin + chunk;
  const bool bias_thread = with_bias && ci == 0 && kh == 0;
  Lanes acc[kMaxCout] = {};
  T bias_acc[kMaxCout] = {};
  for (int q = begin; q < end;) {  // one output row's run of the chunk at a time
    const Pixel at = digits_of<Pixel>(q, out_plane, g.ow);
    const int run = g.ow - at.col < end - q ? g.ow - at.col : end - q;
    const int ih = source_index(at.row - g.pad + kh, g.h, g.reflect);
    const T* row = ih >= 0 ? x + (std::size_t(at.n) * g.cin + ci) * g.h * g.w + std::size_t(ih) * g.w : nullptr;
    const T* dy_run = dy + std::size_t(at.n) * g.cout * out_plane + at.row * g.ow + at.col;
    for (int j = 0; j < run; ++j) {
      const int iw0 = at.col + j - g.pad;
      Lanes in = {};
      if (row != nullptr) {
        T segment[kLanes];
        const auto fill_segment = [&] {
          GG_CONV_UNROLL
          for (int e = 0; e < kLanes; ++e) {
            const int iw = e < KW ? source_index(iw0 + e, g.w, g.reflect) : -1;
            segment[e] = iw >= 0 ? row[iw] : T(0);
          }
        };
        in = load_lanes<Lanes>(row_segment(row + iw0, iw0 >= 0 && iw0 + kLanes <= g.w, segment, fill_segment));
      }
      GG_CONV_UNROLL
      for (int co = 0; co < kMaxCout; ++co) {
        if (co >= g.cout) break;
        const T d = dy_run[std::size_t(co) * out_plane + j];
        acc[co] += d * in;
        if (bias_thread) bias_acc[co] += d;
      }
    }
    q += run;
  }
  T* partial = workspace + std::size_t(z) * (std::size_t(g.cout) * depth + g.cout);
  GG_CONV_UNROLL
  for (int co = 0; co < kMaxCout; ++co) {
    if (co >= g.cout) break;
    GG_CONV_UNROLL
    for (int kw = 0; kw < KW; ++kw) partial[std::size_t(co) * depth + (ci * g.kh + kh) * KW + kw] = acc[co][kw];
    if (bias_thread) partial[std::size_t(g.cout) * depth + co] = bias_acc[co];
  }
}

// out[i] = sum over splits z = 0, 1, ... of workspace[z][i], in that order; i < weights go to dweight, the rest
// (when dbias is wanted) to dbias.
template <class T>
__global__ void __launch_bounds__(kThreads)
    split_sum_kernel(const T* __restrict__ workspace, int splits, std::size_t slice, std::size_t weights,
                     std::size_t count, T* __restrict__ dweight, T* __restrict__ dbias) {
  GG_KERNEL_BOUNDS(kThreads);
  const std::size_t i = std::size_t(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= count) return;
  T sum = workspace[i];
  for (int z = 1; z < splits; ++z) sum += workspace[std::size_t(z) * slice + i];
  if (i < weights)
    dweight[i] = sum;
  else
    dbias[i - weights] = sum;
}

// ---- tf32: the passes above on tensor cores (kernels/conv2d_mma.cuh), the same loaders and outputs ----------

template <class Cfg>
__global__ void __launch_bounds__(kThreads, Cfg::kMinBlocks)
    conv2d_forward_tf32_kernel(ConvIndexing g, const float* __restrict__ x, const float* __restrict__ weight,
                               const float* __restrict__ bias, float* __restrict__ y) {
  GG_KERNEL_BOUNDS(kThreads, Cfg::kMinBlocks);
  using Buffers = StageBuffers<float, Cfg>;
  GG_DYNAMIC_SHARED(Buffers, buffers);
  const int row0 = blockIdx.y * Cfg::kM, col0 = blockIdx.x * Cfg::kN, plane = g.oh * g.ow;
  ForwardLoader<float, Cfg> loader{g, x, weight, row0, col0};
  MmaAccumulators<Cfg> acc = {};
  conv_gemm::mma_mainloop(*buffers, loader, 0, loader.depth, acc, [](const auto&) {});
  conv_gemm::for_each_element<Cfg>(acc, [&](int r, int c, float v) {
    const int m = row0 + r, col = col0 + c;
    if (m >= g.cout || col >= g.batch * plane) return;
    const int n = col / plane;
    y[(std::size_t(n) * g.cout + m) * plane + (col - n * plane)] = bias != nullptr ? v + bias[m] : v;
  });
}

template <class Cfg>
__global__ void __launch_bounds__(kThreads, Cfg::kMinBlocks)
    conv2d_backward_data_tf32_kernel(ConvIndexing g, const float* __restrict__ dy, const float* __restrict__ weight,
                                     float* __restrict__ dx) {
  GG_KERNEL_BOUNDS(kThreads, Cfg::kMinBlocks);
  using Buffers = StageBuffers<float, Cfg>;
  GG_DYNAMIC_SHARED(Buffers, buffers);
  const DataGradPhase p = data_grad_phase(g, int(blockIdx.z));
  const int row0 = blockIdx.y * Cfg::kM, col0 = blockIdx.x * Cfg::kN, pixels = g.batch * p.h * p.w;
  if (col0 >= pixels) return;
  const int depth = g.cout * p.kh * p.kw;
  MmaAccumulators<Cfg> acc = {};
  if (depth > 0) {
    DataGradLoader<float, Cfg> loader{g, p, dy, weight, row0, col0};
    conv_gemm::mma_mainloop(*buffers, loader, 0, depth, acc, [](const auto&) {});
  }
  const std::size_t plane = std::size_t(g.h) * g.w;
  conv_gemm::for_each_element<Cfg>(acc, [&](int r, int c, float v) {
    const int m = row0 + r, col = col0 + c;
    if (m < g.cin && col < pixels) dx[data_grad_pixel(g, p, col) + m * plane] = v;
  });
}

// The workspace slices of conv2d_backward_weight_kernel. The dbias partials are the sums of the staged dy tiles,
// so of dy rounded to TF32 (in FP32 adds): thread r < kM of the first N tile's blocks sums row r.
template <class Cfg>
__global__ void __launch_bounds__(kThreads, Cfg::kMinBlocks)
    conv2d_backward_weight_tf32_kernel(ConvIndexing g, const float* __restrict__ x, const float* __restrict__ dy,
                                       int chunk, bool with_bias, float* __restrict__ workspace) {
  GG_KERNEL_BOUNDS(kThreads, Cfg::kMinBlocks);
  using Buffers = StageBuffers<float, Cfg>;
  GG_DYNAMIC_SHARED(Buffers, buffers);
  const int row0 = blockIdx.y * Cfg::kM, col0 = blockIdx.x * Cfg::kN;
  const int depth = g.cin * g.kh * g.kw, pixels = g.batch * g.oh * g.ow;
  const int begin = blockIdx.z * chunk, end = pixels - begin <= chunk ? pixels : begin + chunk;
  WeightGradLoader<float, Cfg> loader{g, x, dy, row0, col0, begin, end};
  const int bias_row = int(threadIdx.x);
  const bool bias_thread = with_bias && blockIdx.x == 0 && bias_row < Cfg::kM;
  MmaAccumulators<Cfg> acc = {};
  float bias_acc = 0;
  conv_gemm::mma_mainloop(*buffers, loader, begin, end, acc, [&](const auto& a_tile) {
    if (!bias_thread) return;
    for (int kk = 0; kk < Cfg::kTileK; ++kk) bias_acc += a_tile[kk][bias_row];
  });
  float* partial = workspace + std::size_t(blockIdx.z) * (std::size_t(g.cout) * depth + g.cout);
  conv_gemm::for_each_element<Cfg>(acc, [&](int r, int c, float v) {
    const int m = row0 + r, col = col0 + c;
    if (m < g.cout && col < depth) partial[std::size_t(m) * depth + col] = v;
  });
  if (bias_thread && row0 + bias_row < g.cout) partial[std::size_t(g.cout) * depth + row0 + bias_row] = bias_acc;
}

// ---- host side ---------------------------------------------------------------------------------------------

std::string describe(const Conv2dShape& s) {
  return "(batch=" + std::to_string(s.batch) + ", in_channels=" + std::to_string(s.in_channels) +
         ", height=" + std::to_string(s.height) + ", width=" + std::to_string(s.width) +
         ", out_channels=" + std::to_string(s.out_channels) + ", kernel=" + std::to_string(s.kernel_h) + "x" +
         std::to_string(s.kernel_w) + ", stride=" + std::to_string(s.stride) + ", pad=" + std::to_string(s.pad) +
         (s.padding == Padding::reflect ? " reflect" : " zeros") + std::string(s.upsample ? ", upsample 2x)" : ")");
}

// Throws std::invalid_argument naming the launcher and the shape; returns the kernels' geometry.
ConvIndexing check_shape(const Conv2dShape& s, const char* launcher) {
  const auto fail = [&](const std::string& what) {
    throw std::invalid_argument(std::string(launcher) + ": " + what + "; shape " + describe(s));
  };
  if (s.batch < 1 || s.in_channels < 1 || s.height < 1 || s.width < 1 || s.out_channels < 1 || s.kernel_h < 1 ||
      s.kernel_w < 1)
    fail("batch, channels, height, width and kernel sizes must be positive");
  if (s.stride != 1 && s.stride != 2) fail("stride must be 1 or 2");
  if (s.pad < 0) fail("pad must be >= 0");
  if (s.height > INT_MAX / 2 || s.width > INT_MAX / 2) fail("sizes exceed the kernels' 32-bit pixel indexing");
  const int h = s.in_height(), w = s.in_width();  // the image the convolution sees (upsampled or not)
  if (s.padding == Padding::reflect && (s.pad >= h || s.pad >= w))
    fail("reflection padding needs pad < height and pad < width (use zero padding or a smaller pad)");
  const long long padded_h = h + 2LL * s.pad, padded_w = w + 2LL * s.pad;
  if (padded_h < s.kernel_h || padded_w < s.kernel_w)
    fail("the kernel is larger than the padded input, so the output would be empty");
  const long long oh = (padded_h - s.kernel_h) / s.stride + 1, ow = (padded_w - s.kernel_w) / s.stride + 1;
  const long long in_image = 1LL * s.in_channels * h * w, out_image = 1LL * s.out_channels * oh * ow;
  if (1LL * s.batch * h * w > INT_MAX || 1LL * s.batch * oh * ow > INT_MAX || in_image > INT_MAX ||
      out_image > INT_MAX || 1LL * s.in_channels * s.kernel_h * s.kernel_w * s.out_channels > INT_MAX ||
      s.in_channels > kMaxGemmRows || s.out_channels > kMaxGemmRows)
    fail("sizes exceed the kernels' 32-bit pixel and channel indexing");
  return {s.batch,           s.in_channels, h,       w,       s.out_channels,        s.kernel_h,
          s.kernel_w,        s.pad,         int(oh), int(ow), s.stride == 2 ? 1 : 0, s.padding == Padding::reflect,
          s.upsample ? 1 : 0};
}

// The backward passes take the stored image: a caller of an upsampling forward upsamples x for them (engine/ops.cpp).
void check_not_upsampling(const Conv2dShape& s, const char* launcher) {
  if (s.upsample)
    throw std::invalid_argument(std::string(launcher) +
                                ": upsample applies to conv2d_forward only; pass the upsampled x and shape instead");
}

void check_pointers(const char* launcher, std::initializer_list<std::pair<const void*, const char*>> pointers) {
  for (const auto& [p, name] : pointers)
    if (p == nullptr) throw std::invalid_argument(std::string(launcher) + ": " + name + " is null");
}

// Calls f(Tiles::X{}) with the tile shape of set Tiles for a GEMM of m rows and depth k, element type T. A GEMM
// that one nvcc stage covers (k <= 32: VGG conv1_1's forward, k = 27) takes the nvcc tiles: a deeper stage would
// be mostly zeros.
template <class T, class Tiles, class F>
void with_tile(int m, int k, F f) {
  if constexpr (!std::is_same_v<Tiles, NvccTiles>)
    if (k <= conv_gemm::kTileK) return with_tile<T, NvccTiles>(m, k, f);
  if constexpr (std::is_same_v<T, double>) {
    if (m <= Tiles::SmallDouble::kM) return f(typename Tiles::SmallDouble{});
    return f(typename Tiles::MediumDouble{});
  } else {
    if (m <= Tiles::Small::kM) return f(typename Tiles::Small{});
    if (m <= Tiles::Narrow::kM) return f(typename Tiles::Narrow{});
    if (m <= Tiles::Medium::kM) return f(typename Tiles::Medium{});
    return f(typename Tiles::Large{});
  }
}

// Calls f(TileX{}) with the tf32 tile for GEMM row count m: the float tile's M and N.
template <class F>
void with_mma_tile(int m, F f) {
  if (m <= MmaTileSmall::kM) return f(MmaTileSmall{});
  if (m <= MmaTileMedium::kM) return f(MmaTileMedium{});
  return f(MmaTileLarge{});
}

// z: the weight gradient's splits, the data gradient's phases.
template <class Cfg>
dim3 gemm_grid(int m, int n, int z = 1) {
  return dim3(unsigned((n + Cfg::kN - 1) / Cfg::kN), unsigned((m + Cfg::kM - 1) / Cfg::kM), unsigned(z));
}

struct SplitPlan {
  int splits, chunk;  // chunk: pixels per split, a multiple of kTileK
};

// Enough splits that the nvcc float tiles fill kSplitPlanBlocks blocks. Depends on the shape only (not on the
// dtype, the backend, its tile set or the device), so both backends reduce in the same order and the workspace size
// is one function. A chunk need not be a whole number of a deeper tile's stages: its last stage is zero-padded.
SplitPlan split_plan(const ConvIndexing& g) {
  using conv_gemm::kTileK;
  static_assert(NvccTiles::Small::kTileK == kTileK && NvccTiles::Large::kTileK == kTileK, "the plan's stages");
  const long long pixels = 1LL * g.batch * g.oh * g.ow;
  const long long stages = (pixels + kTileK - 1) / kTileK;
  long long tiles = 0;
  with_tile<float, NvccTiles>(g.cout, int(std::min<long long>(pixels, INT_MAX)), [&](auto tile) {
    using Cfg = decltype(tile);
    tiles = ((g.cout + Cfg::kM - 1) / Cfg::kM) * ((1LL * g.cin * g.kh * g.kw + Cfg::kN - 1) / Cfg::kN);
  });
  long long splits = (kSplitPlanBlocks + tiles - 1) / tiles;
  splits = std::min<long long>({splits, kMaxSplits, (stages + kMinSplitStages - 1) / kMinSplitStages});
  splits = std::max<long long>(splits, 1);
  const long long chunk_stages = (stages + splits - 1) / splits;
  return {int((stages + chunk_stages - 1) / chunk_stages), int(chunk_stages * kTileK)};
}

// The direct kernels run float only. Double (the gradient checks) takes the GEMM, whose bits they give anyway, and
// is spared their compile time.
// Launches the direct forward when tile set Tiles takes the shape direct (top of the file); false otherwise.
template <class Tiles, class T>
bool forward_direct(const ConvIndexing& g, const T* x, const T* weight, const T* bias, T* y, StreamHandle stream) {
  if constexpr (std::is_same_v<T, float>) {
    if (!Tiles::direct_forward(g)) return false;
    Tiles::DirectForwardWidths::with(g.kw, [&](auto kw) {
      using Shape = typename Tiles::Direct;
      const long long threads = direct_threads<Shape>(g.batch, g.cout, g.oh, g.ow);
      launch<conv2d_forward_direct_kernel<T, Shape, decltype(kw)::value>>(
          dim3(unsigned((threads + kThreads - 1) / kThreads)), dim3(kThreads), 0, stream, g, x, weight, bias, y);
    });
    return true;
  }
  return false;
}

// Launches the direct data gradient when tile set Tiles takes the shape direct; false otherwise.
template <class Tiles, class T>
bool backward_data_direct(const ConvIndexing& g, const T* dy, const T* weight, T* dx, StreamHandle stream) {
  if constexpr (std::is_same_v<T, float>) {
    if (!Tiles::direct_data_gradient(g)) return false;
    Tiles::DirectDataGradientWidths::with(g.kw, [&](auto kw) {
      using Shape = typename Tiles::Direct;
      const long long threads = direct_threads<Shape>(g.batch, g.cin, g.h, g.w);
      launch<conv2d_backward_data_direct_kernel<T, Shape, decltype(kw)::value>>(
          dim3(unsigned((threads + kThreads - 1) / kThreads)), dim3(kThreads), 0, stream, g, dy, weight, dx);
    });
    return true;
  }
  return false;
}

// The three passes with the tile shapes of set Tiles (the launchers below use the backend's own).
template <class Tiles, class T>
void forward_with(const Conv2dShape& shape, const T* x, const T* weight, const T* bias, T* y, StreamHandle stream) {
  const ConvIndexing g = check_shape(shape, "conv2d_forward");
  check_pointers("conv2d_forward", {{x, "x"}, {weight, "weight"}, {y, "y"}});
  if constexpr (std::is_same_v<T, float>)  // tf32 applies to float only: double stays double
    if (shape.precision == Precision::tf32)
      return with_mma_tile(g.cout, [&](auto tile) {
        using Cfg = decltype(tile);
        launch<conv2d_forward_tf32_kernel<Cfg>>(gemm_grid<Cfg>(g.cout, g.batch * g.oh * g.ow), dim3(kThreads),
                                                sizeof(StageBuffers<float, Cfg>), stream, g, x, weight, bias, y);
      });
  if (forward_direct<Tiles>(g, x, weight, bias, y, stream)) return;
  with_tile<T, Tiles>(g.cout, g.cin * g.kh * g.kw, [&](auto tile) {
    using Cfg = decltype(tile);
    launch<conv2d_forward_kernel<T, Cfg>>(gemm_grid<Cfg>(g.cout, g.batch * g.oh * g.ow), dim3(kThreads),
                                          sizeof(StageBuffers<T, Cfg>), stream, g, x, weight, bias, y);
  });
}

template <class Tiles, class T>
void backward_data_with(const Conv2dShape& shape, const T* dy, const T* weight, T* dx, StreamHandle stream) {
  check_not_upsampling(shape, "conv2d_backward_data");
  const ConvIndexing g = check_shape(shape, "conv2d_backward_data");
  check_pointers("conv2d_backward_data", {{dy, "dy"}, {weight, "weight"}, {dx, "dx"}});
  // The grid's z are the phases; its columns cover the largest phase, and each phase's taps the deepest one's.
  const int phases = data_grad_phases(g), s = 1 << g.shift;
  const int phase_pixels = g.batch * ((g.h + s - 1) / s) * ((g.w + s - 1) / s);
  const int phase_depth = g.cout * ((g.kh + s - 1) / s) * ((g.kw + s - 1) / s);
  if constexpr (std::is_same_v<T, float>)  // tf32 applies to float only: double stays double
    if (shape.precision == Precision::tf32)
      return with_mma_tile(g.cin, [&](auto tile) {
        using Cfg = decltype(tile);
        launch<conv2d_backward_data_tf32_kernel<Cfg>>(gemm_grid<Cfg>(g.cin, phase_pixels, phases), dim3(kThreads),
                                                      sizeof(StageBuffers<float, Cfg>), stream, g, dy, weight, dx);
      });
  if (backward_data_direct<Tiles>(g, dy, weight, dx, stream)) return;
  with_tile<T, Tiles>(g.cin, phase_depth, [&](auto tile) {
    using Cfg = decltype(tile);
    launch<conv2d_backward_data_kernel<T, Cfg>>(gemm_grid<Cfg>(g.cin, phase_pixels, phases), dim3(kThreads),
                                                sizeof(StageBuffers<T, Cfg>), stream, g, dy, weight, dx);
  });
}

template <class Tiles, class T>
void backward_weight_with(const Conv2dShape& shape, const T* x, const T* dy, T* dweight, T* dbias, T* workspace,
                          StreamHandle stream) {
  check_not_upsampling(shape, "conv2d_backward_weight");
  const ConvIndexing g = check_shape(shape, "conv2d_backward_weight");
  check_pointers("conv2d_backward_weight", {{x, "x"}, {dy, "dy"}, {dweight, "dweight"}, {workspace, "workspace"}});
  const SplitPlan plan = split_plan(g);
  const int depth = g.cin * g.kh * g.kw;
  const bool with_bias = dbias != nullptr;
  bool tf32 = false, direct = false;
  if constexpr (std::is_same_v<T, float>)
    if ((tf32 = shape.precision == Precision::tf32))
      with_mma_tile(g.cout, [&](auto tile) {
        using Cfg = decltype(tile);
        launch<conv2d_backward_weight_tf32_kernel<Cfg>>(gemm_grid<Cfg>(g.cout, depth, plan.splits), dim3(kThreads),
                                                        sizeof(StageBuffers<float, Cfg>), stream, g, x, dy, plan.chunk,
                                                        with_bias, workspace);
      });
  if constexpr (std::is_same_v<T, float>)  // float only, as the other direct kernels (above)
    if (!tf32 && (direct = Tiles::direct_weight_gradient(g)))
      Tiles::DirectWeightGradientWidths::with(g.kw, [&](auto kw) {
        const long long threads = 1LL * plan.splits * g.cin * g.kh;
        launch<conv2d_backward_weight_direct_kernel<T, decltype(kw)::value>>(
            dim3(unsigned((threads + kThreads - 1) / kThreads)), dim3(kThreads), 0, stream, g, x, dy, plan.chunk,
            plan.splits, with_bias, workspace);
      });
  if (!tf32 && !direct)
    with_tile<T, Tiles>(g.cout, plan.chunk, [&](auto tile) {
      using Cfg = decltype(tile);
      launch<conv2d_backward_weight_kernel<T, Cfg>>(gemm_grid<Cfg>(g.cout, depth, plan.splits), dim3(kThreads),
                                                    sizeof(StageBuffers<T, Cfg>), stream, g, x, dy, plan.chunk,
                                                    with_bias, workspace);
    });
  const std::size_t weights = std::size_t(g.cout) * depth;
  const std::size_t count = weights + (with_bias ? g.cout : 0);
  const dim3 grid(unsigned((count + kThreads - 1) / kThreads));
  launch<split_sum_kernel<T>>(grid, dim3(kThreads), 0, stream, static_cast<const T*>(workspace), plan.splits,
                              weights + g.cout, weights, count, dweight, dbias);
}

}  // namespace

template <class T>
void conv2d_forward(const Conv2dShape& shape, const T* x, const T* weight, const T* bias, T* y, StreamHandle stream) {
  forward_with<NativeTiles>(shape, x, weight, bias, y, stream);
}

template <class T>
void conv2d_backward_data(const Conv2dShape& shape, const T* dy, const T* weight, T* dx, StreamHandle stream) {
  backward_data_with<NativeTiles>(shape, dy, weight, dx, stream);
}

std::size_t conv2d_backward_weight_workspace(const Conv2dShape& shape, StreamHandle) {
  check_not_upsampling(shape, "conv2d_backward_weight_workspace");
  const ConvIndexing g = check_shape(shape, "conv2d_backward_weight_workspace");
  return std::size_t(split_plan(g).splits) * (std::size_t(g.cout) * g.cin * g.kh * g.kw + g.cout);
}

template <class T>
void conv2d_backward_weight(const Conv2dShape& shape, const T* x, const T* dy, T* dweight, T* dbias, T* workspace,
                            StreamHandle stream) {
  backward_weight_with<NativeTiles>(shape, x, dy, dweight, dbias, workspace, stream);
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

#if defined(GG_SIMULATOR)
namespace nvcc_tiles {  // kernels/conv2d_nvcc_tiles.h

void conv2d_forward(const Conv2dShape& shape, const float* x, const float* weight, const float* bias, float* y,
                    StreamHandle stream) {
  forward_with<NvccTiles>(shape, x, weight, bias, y, stream);
}

void conv2d_backward_data(const Conv2dShape& shape, const float* dy, const float* weight, float* dx,
                          StreamHandle stream) {
  backward_data_with<NvccTiles>(shape, dy, weight, dx, stream);
}

void conv2d_backward_weight(const Conv2dShape& shape, const float* x, const float* dy, float* dweight, float* dbias,
                            float* workspace, StreamHandle stream) {
  backward_weight_with<NvccTiles>(shape, x, dy, dweight, dbias, workspace, stream);
}

}  // namespace nvcc_tiles
#endif

}  // namespace gramgan::GG_BACKEND
