// Internal Gram-matrix kernels shared by gram.cu and losses.cu (style loss); not a public header.
//
// gram_tiles_kernel: out[s][n] = scale * sum_{k in chunk s} F_n[r, k] F_n[c, k], F_n: (C, plane) row-major.
//   Only the 64 x 64 output tiles on or above the diagonal run (blockIdx.x enumerates them row by row); each
//   thread computes a 4 x 4 register tile and writes the entries with r <= c twice, at (r, c) and (c, r), so the
//   result is exactly symmetric. blockIdx.y picks a chunk of K = plane (split-K), blockIdx.z the image.
// gram_apply_kernel: out_n = scale * A_n F_n with A_n = a_n (+ a_n^T when add_transpose), a_n: (C, C);
//   a 64 (channels) x 64 (plane) tile per block, K = C.
// Both stage 32-deep K slices of their operands in shared memory (deep stages mean fewer barriers, and in the
// simulator each barrier switches every thread's fiber); micro-tile rows are ty + 16 i and columns tx + 16 j, so
// a warp reads one broadcast word of the A tile and 16 consecutive words of the B tile.
//
// gram_tiles_tf32_kernel (GramShape::precision == tf32, float): gram_tiles_kernel's tiles, split and mirroring on
//   tensor cores. Operands are rounded to TF32 (cvt.rna, kernels/mma.cuh) when staged; the 8 warps, 2 x 4, own
//   32 x 16 warp tiles of 2 x 2 m16n8k8 fragments with FP32 accumulators. Per element the arithmetic is a chain of
//   8-deep tensor-core dots in K order from a zero accumulator, over the chunk padded with zeros to whole 32-deep
//   stages (the chain tests rebuild with cudasim/mma_model.h). The stages are [row][k], rows of 36 floats: a
//   fragment load (row g, k t) then hits bank 4 g + t, all 32 distinct, and the staging stores (32 consecutive k
//   of one row per warp) are conflict-free too.
// Split-K (gram_forward, gram_mse_forward_backward): gram_split picks S chunks of K from the shape alone,
// launch_gram_tiles writes S unscaled partial Grams (S, N, C, C) to a workspace, and gram_split_sum adds them in
// the fixed order s = 0, 1, ..., S - 1: the same bits every run, no floating-point atomics. Each partial is
// mirrored, so the sum is exactly symmetric too.
#pragma once

#include <cstddef>

#include <type_traits>

#include "kernels/launch.h"
#include "kernels/mma.cuh"
#include "kernels/shapes.h"

// nvcc would unroll the 8 loads per operand completely and keep them all in flight (128 registers instead of
// 40-48, a third of the occupancy); four at a time keep the registers of 16-deep stages.
#if defined(__CUDACC__)
#define GG_GRAM_LOAD_UNROLL _Pragma("unroll 4")
#else
#define GG_GRAM_LOAD_UNROLL
#endif

namespace gramgan::GG_BACKEND::detail {

constexpr int kGramTile = 64;
constexpr int kGramTileK = 32;
constexpr int kGramMicro = 4;
constexpr int kGramThreadsPerRow = kGramTile / kGramMicro;             // 16
constexpr int kGramThreads = kGramThreadsPerRow * kGramThreadsPerRow;  // 256
constexpr int kGramLoads = kGramTile * kGramTileK / kGramThreads;      // 8 elements per operand per stage
static_assert(kGramTile * kGramTileK % kGramThreads == 0, "every thread loads the same number of elements");

__host__ __device__ inline int gram_row_tiles(int channels) { return (channels + kGramTile - 1) / kGramTile; }
inline int gram_upper_tiles(int channels) {
  const int tiles = gram_row_tiles(channels);
  return tiles * (tiles + 1) / 2;
}

// Enough blocks to fill a GPU (about 256) when the batch and channel tiles alone do not, with at least 512
// elements of K per split and at most 64 splits. Chunks are whole kGramTileK-deep K stages.
struct GramSplit {
  int splits, chunk;
};
inline GramSplit gram_split(int batch, int channels, int plane) {
  long long blocks = static_cast<long long>(gram_upper_tiles(channels)) * batch;
  if (blocks < 1) blocks = 1;
  long long splits = (256 + blocks - 1) / blocks;
  const long long by_k = (plane + 511) / 512;
  if (splits > by_k) splits = by_k;
  if (splits > 64) splits = 64;
  if (splits < 1) splits = 1;
  long long chunk = (plane + splits - 1) / splits;
  chunk = (chunk + kGramTileK - 1) / kGramTileK * kGramTileK;
  return {int((plane + chunk - 1) / chunk), int(chunk)};
}

// acc += the thread's micro-tile of one stage: rows ty + 16 i of a_tile, columns tx + 16 j of b_tile, K in order.
template <class T, int kARow, int kBRow>
__device__ __forceinline__ void multiply_gram_stage(const T (&a_tile)[kGramTileK][kARow],
                                                    const T (&b_tile)[kGramTileK][kBRow], int ty, int tx,
                                                    T (&acc)[kGramMicro][kGramMicro]) {
  for (int kk = 0; kk < kGramTileK; ++kk) {
    T av[kGramMicro], bv[kGramMicro];
    for (int i = 0; i < kGramMicro; ++i) av[i] = a_tile[kk][ty + kGramThreadsPerRow * i];
    for (int j = 0; j < kGramMicro; ++j) bv[j] = b_tile[kk][tx + kGramThreadsPerRow * j];
    for (int i = 0; i < kGramMicro; ++i)
      for (int j = 0; j < kGramMicro; ++j) acc[i][j] += av[i] * bv[j];
  }
}

// This block's tile: rows row0.., columns col0.. (blockIdx.x enumerates the tiles on or above the diagonal row by
// row) and its K range [k_begin, k_end) (blockIdx.y: the split).
__device__ __forceinline__ void gram_block_tile(int channels, int plane, int chunk, int& row0, int& col0, int& k_begin,
                                                int& k_end) {
  const int row_tiles = gram_row_tiles(channels);
  int tile = blockIdx.x, tile_row = 0;
  while (tile >= row_tiles - tile_row) {
    tile -= row_tiles - tile_row;
    ++tile_row;
  }
  row0 = tile_row * kGramTile;
  col0 = (tile_row + tile) * kGramTile;
  k_begin = blockIdx.y * chunk;
  k_end = plane - k_begin < chunk ? plane : k_begin + chunk;
}

template <class T>
__global__ void __launch_bounds__(kGramThreads)
    gram_tiles_kernel(int batch, int channels, int plane, int chunk, const T* features, T scale, T* out) {
  GG_KERNEL_BOUNDS(kGramThreads);
  // Transposed ([k][row]) and padded by one so that the transposing stores do not all hit one bank.
  GG_SHARED(T[kGramTileK][kGramTile + 1], a_tile);
  GG_SHARED(T[kGramTileK][kGramTile + 1], b_tile);

  const int t = threadIdx.x;
  const int ty = t / kGramThreadsPerRow, tx = t % kGramThreadsPerRow;
  int row0, col0, k_begin, k_end;
  gram_block_tile(channels, plane, chunk, row0, col0, k_begin, k_end);
  const int split = blockIdx.y, image = blockIdx.z;
  const T* f = features + std::size_t(image) * channels * plane;

  T acc[kGramMicro][kGramMicro] = {};
  for (int k0 = k_begin; k0 < k_end; k0 += kGramTileK) {
    GG_GRAM_LOAD_UNROLL
    for (int l = 0; l < kGramLoads; ++l) {
      // 16 consecutive threads read 16 consecutive k of one row.
      const int e = t + kGramThreads * l, row = e / kGramTileK, kk = e % kGramTileK, k = k0 + kk;
      const bool k_in = k < k_end;
      a_tile[kk][row] = k_in && row0 + row < channels ? f[std::size_t(row0 + row) * plane + k] : T(0);
      b_tile[kk][row] = k_in && col0 + row < channels ? f[std::size_t(col0 + row) * plane + k] : T(0);
    }
    __syncthreads();
    multiply_gram_stage(a_tile, b_tile, ty, tx, acc);
    // The next stage overwrites tiles that other threads may still be reading.
    __syncthreads();
  }

  T* g = out + (std::size_t(split) * batch + image) * channels * channels;
  for (int i = 0; i < kGramMicro; ++i) {
    const int r = row0 + ty + kGramThreadsPerRow * i;
    for (int j = 0; j < kGramMicro; ++j) {
      const int c = col0 + tx + kGramThreadsPerRow * j;
      if (r < channels && c < channels && r <= c) {
        const T value = acc[i][j] * scale;
        g[std::size_t(r) * channels + c] = value;
        g[std::size_t(c) * channels + r] = value;
      }
    }
  }
}

// ---- tf32: gram_tiles_kernel on tensor cores (see the top of the file) ----
constexpr int kGramMmaRow = kGramTileK + 4;  // floats per staged row: bank 4 g + t for a fragment load
constexpr int kGramWarpsN = 4, kGramWarpM = kGramTile / (kGramThreads / 32 / kGramWarpsN), kGramWarpN = 16;
static_assert(kGramWarpM == 32 && kGramWarpN * kGramWarpsN == kGramTile, "8 warps of 32 x 16 cover the tile");

// A template (of float only) so that the header may define it in every file that includes it.
template <class T>
__global__ void __launch_bounds__(kGramThreads)
    gram_tiles_tf32_kernel(int batch, int channels, int plane, int chunk, const T* features, T scale, T* out) {
  GG_KERNEL_BOUNDS(kGramThreads);
  static_assert(std::is_same_v<T, float>, "tf32 operands are floats");
  GG_SHARED(float[kGramTile][kGramMmaRow], a_tile);  // [row][k]: rows row0.. of F
  GG_SHARED(float[kGramTile][kGramMmaRow], b_tile);  // [row][k]: rows col0.. of F (B's columns)

  const int t = threadIdx.x, lane = t % 32, warp = t / 32, g = lane >> 2, q = lane & 3;
  const int warp_row = (warp / kGramWarpsN) * kGramWarpM, warp_col = (warp % kGramWarpsN) * kGramWarpN;
  int row0, col0, k_begin, k_end;
  gram_block_tile(channels, plane, chunk, row0, col0, k_begin, k_end);
  const int split = blockIdx.y, image = blockIdx.z;
  const float* f = features + std::size_t(image) * channels * plane;

  float acc[2][2][4] = {};
  for (int k0 = k_begin; k0 < k_end; k0 += kGramTileK) {
    GG_GRAM_LOAD_UNROLL
    for (int l = 0; l < kGramLoads; ++l) {
      // A warp reads (and stores) 32 consecutive k of one row.
      const int e = t + kGramThreads * l, row = e / kGramTileK, kk = e % kGramTileK, k = k0 + kk;
      const bool k_in = k < k_end;
      a_tile[row][kk] = to_tf32(k_in && row0 + row < channels ? f[std::size_t(row0 + row) * plane + k] : 0.0f);
      b_tile[row][kk] = to_tf32(k_in && col0 + row < channels ? f[std::size_t(col0 + row) * plane + k] : 0.0f);
    }
    __syncthreads();
    for (int kk = 0; kk < kGramTileK; kk += 8) {
      // Fragments (kernels/mma.cuh): a0 A(g, q), a1 A(g+8, q), a2 A(g, q+4), a3 A(g+8, q+4); b0 B(q, g), b1 B(q+4, g)
      // with B(k, c) = F(col0 + c, k), i.e. b_tile[c][k].
      float a[2][4], b[2][2];
      for (int fm = 0; fm < 2; ++fm) {
        const int r = warp_row + 16 * fm + g;
        a[fm][0] = a_tile[r][kk + q];
        a[fm][1] = a_tile[r + 8][kk + q];
        a[fm][2] = a_tile[r][kk + q + 4];
        a[fm][3] = a_tile[r + 8][kk + q + 4];
      }
      for (int fn = 0; fn < 2; ++fn) {
        const int c = warp_col + 8 * fn + g;
        b[fn][0] = b_tile[c][kk + q];
        b[fn][1] = b_tile[c][kk + q + 4];
      }
      for (int fm = 0; fm < 2; ++fm)
        for (int fn = 0; fn < 2; ++fn) mma_m16n8k8_tf32(acc[fm][fn], a[fm], b[fn], acc[fm][fn]);
    }
    // The next stage overwrites tiles that other warps may still be reading.
    __syncthreads();
  }

  float* out_g = out + (std::size_t(split) * batch + image) * channels * channels;
  for (int fm = 0; fm < 2; ++fm)
    for (int fn = 0; fn < 2; ++fn)
      for (int e = 0; e < 4; ++e) {  // c0 (g, 2q), c1 (g, 2q+1), c2 (g+8, 2q), c3 (g+8, 2q+1)
        const int r = row0 + warp_row + 16 * fm + g + 8 * (e >> 1);
        const int c = col0 + warp_col + 8 * fn + 2 * q + (e & 1);
        if (r < channels && c < channels && r <= c) {
          const float value = acc[fm][fn][e] * scale;
          out_g[std::size_t(r) * channels + c] = value;
          out_g[std::size_t(c) * channels + r] = value;
        }
      }
}

template <class T>
__global__ void __launch_bounds__(kGramThreads)
    gram_apply_kernel(int channels, int plane, const T* a, bool add_transpose, const T* features, T scale, T* out) {
  GG_KERNEL_BOUNDS(kGramThreads);
  GG_SHARED(T[kGramTileK][kGramTile + 1], a_tile);  // [k][row], transposed
  GG_SHARED(T[kGramTileK][kGramTile], b_tile);      // [k][column of the plane]

  const int t = threadIdx.x;
  const int ty = t / kGramThreadsPerRow, tx = t % kGramThreadsPerRow;
  const int col0 = blockIdx.x * kGramTile, row0 = blockIdx.y * kGramTile, image = blockIdx.z;
  const std::size_t square = std::size_t(channels) * channels;
  const T* an = a + image * square;
  const T* f = features + std::size_t(image) * channels * plane;

  T acc[kGramMicro][kGramMicro] = {};
  for (int k0 = 0; k0 < channels; k0 += kGramTileK) {
    GG_GRAM_LOAD_UNROLL
    for (int l = 0; l < kGramLoads; ++l) {
      const int e = t + kGramThreads * l;
      const int row = row0 + e / kGramTileK, ka = k0 + e % kGramTileK;
      T av = T(0);
      if (row < channels && ka < channels) {
        av = an[std::size_t(row) * channels + ka];
        if (add_transpose) av += an[std::size_t(ka) * channels + row];
      }
      a_tile[e % kGramTileK][e / kGramTileK] = av;
      const int kb = k0 + e / kGramTile, col = col0 + e % kGramTile;
      b_tile[e / kGramTile][e % kGramTile] = kb < channels && col < plane ? f[std::size_t(kb) * plane + col] : T(0);
    }
    __syncthreads();
    multiply_gram_stage(a_tile, b_tile, ty, tx, acc);
    __syncthreads();
  }

  T* o = out + std::size_t(image) * channels * plane;
  for (int i = 0; i < kGramMicro; ++i) {
    const int r = row0 + ty + kGramThreadsPerRow * i;
    if (r >= channels) break;
    for (int j = 0; j < kGramMicro; ++j) {
      const int c = col0 + tx + kGramThreadsPerRow * j;
      if (c < plane) o[std::size_t(r) * plane + c] = acc[i][j] * scale;
    }
  }
}

// Element i of the Gram summed over the S partials (total = N C C elements each), in split order.
template <class T>
__host__ __device__ inline T gram_split_sum(const T* split_grams, std::size_t total, int splits, std::size_t i) {
  T sum = split_grams[i];
  for (int s = 1; s < splits; ++s) sum += split_grams[std::size_t(s) * total + i];
  return sum;
}

// out[s] (S, N, C, C) = scale * the split-s partial Grams of features (N, C, plane), on tensor cores when
// shape.precision is tf32 and T is float (double stays double).
template <class T>
void launch_gram_tiles(const GramShape& shape, GramSplit split, const T* features, T scale, T* out,
                       StreamHandle stream) {
  const dim3 grid(unsigned(gram_upper_tiles(shape.channels)), unsigned(split.splits), unsigned(shape.batch));
  if constexpr (std::is_same_v<T, float>)
    if (shape.precision == Precision::tf32)
      return launch<gram_tiles_tf32_kernel<T>>(grid, dim3(kGramThreads), 0, stream, shape.batch, shape.channels,
                                               shape.plane, split.chunk, features, scale, out);
  launch<gram_tiles_kernel<T>>(grid, dim3(kGramThreads), 0, stream, shape.batch, shape.channels, shape.plane,
                               split.chunk, features, scale, out);
}

}  // namespace gramgan::GG_BACKEND::detail
