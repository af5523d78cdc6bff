// The tensor-core (TF32) pipeline of kernels/conv2d.cu's three passes; not a public header.
//
// mma_mainloop computes a block's kM x kN tile of C = A B like conv_gemm::gemm_mainloop (conv2d_mainloop.cuh): the
// same per-pass loaders, the same two kTileK-deep shared-memory stages (StageBuffers, K-major: a[k][m], b[k][n])
// loaded in the same two parts, so all three passes run it. What differs:
//   - staging: each loaded element is rounded to TF32 (cvt.rna, to nearest, ties away) before it is stored, once
//     per block rather than once per fragment load; the tensor cores then read exact TF32 values.
//   - the multiply: each of the 8 warps owns a kWarpM x kWarpN tile (64 x 32 or 16 x 32) of m16n8k8 fragments and
//     runs mma.sync per fragment pair (kernels/mma.cuh), accumulating in FP32 registers (the fragments' C).
// Per output element the arithmetic is a chain of 8-deep tensor-core dot products in K order, from a zero
// accumulator: acc = mma(a[k..k+8), b[k..k+8), acc) for k = k_begin, k_begin + 8, ... up to the stage padding
// (zeros past k_end). The simulator runs the same chain through its tensor-core model, so the cpu backend gives
// the bits of the selected GPU architecture; tests rebuild the chain on the host with cudasim/mma_model.h.
//
// Bank conflicts. A lane (g = lane / 4, t = lane % 4) reads A at a[k + t][row(g)] and B at b[k + t][col(g)]. The
// stage rows are kM + 4 and kN + 4 floats long (4 mod 32 banks, which the FP32 loop's transposed stores want), so
// with rows g = 0..7 of a fragment at consecutive addresses lanes t and t + 1 would meet in one bank (4t + g).
// Instead the warp tile's rows (and columns) are permuted within each group of 32: fragment row g sits at
// (g % 4) + 16 (g / 4) + 4 q, where q numbers the (fragment, half) pairs of the group, so each fragment load of a
// warp touches 4t + {0..3, 16..19} + 4q: 32 distinct banks. The permutation is a relabelling of C's rows and
// columns, undone when the accumulators are stored (for_each_element). The 16-row warp tiles of the smallest
// block (RGB layers, M <= 16) have no group of 32 rows and keep the plain order.
#pragma once

#include "kernels/conv2d_mainloop.cuh"
#include "kernels/mma.cuh"

namespace gramgan::GG_BACKEND::conv_gemm {

// A block of kThreads threads (8 warps, kWarpsM x kWarpsN) computes an M x N tile; a warp a (M / kWarpsM) x
// (N / kWarpsN) tile of 16 x 8 fragments. MinBlocks as in Tile.
template <int M, int N, int WarpsM, int MinBlocks = 1>
struct MmaTile : Stages<M, N, kTileK, kLoadParts> {
  static constexpr int kMinBlocks = MinBlocks;
  static constexpr int kWarpsM = WarpsM, kWarpsN = kThreads / 32 / WarpsM;
  static constexpr int kWarpM = M / kWarpsM, kWarpN = N / kWarpsN;
  static constexpr int kFragM = kWarpM / 16, kFragN = kWarpN / 8;
  static_assert(kWarpM % 16 == 0 && kWarpN == 32, "warp tiles of whole fragments, 32 columns wide");
  static_assert(MmaTile::kPartK % 8 == 0, "whole k = 8 steps per load part");
};

// The warp tile row of half `half` (rows g or g + 8) of fragment `frag`, lane row g; see the top of the file.
template <class Cfg>
__device__ __forceinline__ int mma_row(int frag, int half, int g) {
  if constexpr (Cfg::kWarpM % 32 == 0)
    return 32 * (frag / 2) + 4 * (2 * (frag % 2) + half) + (g & 3) + 16 * (g >> 2);
  else
    return 16 * frag + 8 * half + g;
}
// The warp tile column of column c (0..7) of fragment `frag` (kWarpN = 32: four fragments per group of 32).
__device__ __forceinline__ int mma_col(int frag, int c) { return 4 * frag + (c & 3) + 16 * (c >> 2); }

template <class Cfg>
using MmaAccumulators = float[Cfg::kFragM][Cfg::kFragN][4];

// The warp's origin in the block tile.
template <class Cfg>
__device__ __forceinline__ void warp_origin(int& row, int& col) {
  const int warp = int(threadIdx.x) / 32;
  row = (warp / Cfg::kWarpsN) * Cfg::kWarpM;
  col = (warp % Cfg::kWarpsN) * Cfg::kWarpN;
}

// f(row, col, value) for every accumulator of this thread, at its place in the block tile.
template <class Cfg, class F>
__device__ __forceinline__ void for_each_element(const MmaAccumulators<Cfg>& acc, F f) {
  int row0, col0;
  warp_origin<Cfg>(row0, col0);
  const int lane = int(threadIdx.x) % 32, g = lane >> 2, t = lane & 3;
  GG_CONV_UNROLL
  for (int fm = 0; fm < Cfg::kFragM; ++fm) {
    GG_CONV_UNROLL
    for (int fn = 0; fn < Cfg::kFragN; ++fn) {
      GG_CONV_UNROLL
      for (int e = 0; e < 4; ++e)  // c0 (g, 2t), c1 (g, 2t+1), c2 (g+8, 2t), c3 (g+8, 2t+1)
        f(row0 + mma_row<Cfg>(fm, e >> 1, g), col0 + mma_col(fn, 2 * t + (e & 1)), acc[fm][fn][e]);
    }
  }
}

// acc += the warp's share of k steps [part kPartK, (part + 1) kPartK) of one stage, 8 at a time. The fragments of
// one k step are all loaded before its MMAs (kFragM * 4 + kFragN * 2 registers), so the shared-memory loads of a
// step overlap and each A fragment serves kFragN MMAs, each B fragment kFragM.
template <class Cfg>
__device__ __forceinline__ void mma_stage(const float (&a_tile)[Cfg::kTileK][Cfg::kM + kPad],
                                          const float (&b_tile)[Cfg::kTileK][Cfg::kN + kPad], int part,
                                          MmaAccumulators<Cfg>& acc) {
  int row0, col0;
  warp_origin<Cfg>(row0, col0);
  const int lane = int(threadIdx.x) % 32, g = lane >> 2, t = lane & 3;
  for (int k = part * Cfg::kPartK; k < (part + 1) * Cfg::kPartK; k += 8) {
    float a[Cfg::kFragM][4], b[Cfg::kFragN][2];
    GG_CONV_UNROLL
    for (int fm = 0; fm < Cfg::kFragM; ++fm) {
      const int r0 = row0 + mma_row<Cfg>(fm, 0, g), r1 = row0 + mma_row<Cfg>(fm, 1, g);
      a[fm][0] = a_tile[k + t][r0];
      a[fm][1] = a_tile[k + t][r1];
      a[fm][2] = a_tile[k + t + 4][r0];
      a[fm][3] = a_tile[k + t + 4][r1];
    }
    GG_CONV_UNROLL
    for (int fn = 0; fn < Cfg::kFragN; ++fn) {
      const int c = col0 + mma_col(fn, g);
      b[fn][0] = b_tile[k + t][c];
      b[fn][1] = b_tile[k + t + 4][c];
    }
    GG_CONV_UNROLL
    for (int fm = 0; fm < Cfg::kFragM; ++fm) {
      GG_CONV_UNROLL
      for (int fn = 0; fn < Cfg::kFragN; ++fn) mma_m16n8k8_tf32(acc[fm][fn], a[fm], b[fn], acc[fm][fn]);
    }
  }
}

// The loader's registers rounded to TF32, then stored to stage `stage`.
template <class Cfg, class Loader>
__device__ __forceinline__ void stage_tf32(StageBuffers<float, Cfg>& buffers, Loader& loader, int stage, int part) {
  auto& regs = loader.regs;
  GG_CONV_UNROLL
  for (int j = 0; j < regs.kAPart; ++j) regs.a[j] = to_tf32(regs.a[j]);
  GG_CONV_UNROLL
  for (int j = 0; j < regs.kBPart; ++j) regs.b[j] = to_tf32(regs.b[j]);
  regs.store(buffers, stage, part);
}

// gemm_mainloop's pipeline (conv2d_mainloop.cuh: two stage buffers, one barrier per stage, the next stage loaded
// in kLoadParts parts around the multiply) with TF32 staging and the tensor-core multiply. after_stage(a_tile)
// sees the stage's A tile as the MMAs read it (rounded to TF32).
template <class Cfg, class Loader, class AfterStage>
__device__ __forceinline__ void mma_mainloop(StageBuffers<float, Cfg>& buffers, Loader& loader, int k_begin, int k_end,
                                             MmaAccumulators<Cfg>& acc, AfterStage after_stage) {
  for (int part = 0; part < Cfg::kLoadParts; ++part) {
    loader.load(k_begin, part);
    stage_tf32(buffers, loader, 0, part);
  }
  __syncthreads();
  for (int k0 = k_begin, stage = 0; k0 < k_end; k0 += Cfg::kTileK, stage ^= 1) {
    const bool more = k0 + Cfg::kTileK < k_end;
    for (int part = 0; part < Cfg::kLoadParts; ++part) {
      if (more) loader.load(k0 + Cfg::kTileK, part);
      mma_stage<Cfg>(buffers.a[stage], buffers.b[stage], part, acc);
      if (more) stage_tf32(buffers, loader, stage ^ 1, part);
    }
    after_stage(buffers.a[stage]);
    __syncthreads();
  }
}

}  // namespace gramgan::GG_BACKEND::conv_gemm
