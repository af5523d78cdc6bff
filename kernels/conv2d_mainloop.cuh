// The implicit-GEMM pipeline of kernels/conv2d.cu's three passes; not a public header.
//
// gemm_mainloop computes a block's kM x kN tile of C = A B in Cfg::kTileK-deep stages held in shared memory, each
// of the 256 threads a kTm x kTn register tile of it. A pass supplies a loader that gathers its A and B tiles from
// the tensors (the conv2d.cu loaders); the loop, the stage buffers and the multiply are the same for all three.
// In the simulator each barrier is a fiber switch per thread, so the loop is built around few barriers per FMA:
// deep stages, two stage buffers (one barrier per stage) and a multiply written as GCC vector FMAs.
#pragma once

#include <cstring>
#include <type_traits>

#include "kernels/launch.h"

#if defined(__CUDACC__)
#define GG_CONV_UNROLL _Pragma("unroll")
#else
#define GG_CONV_UNROLL _Pragma("GCC unroll 16")
#endif

namespace gramgan::GG_BACKEND::conv_gemm {

constexpr int kThreads = 256;
// The stage depth of the tiles nvcc builds and of the tensor-core tiles (the simulator's own tiles go deeper; see
// conv2d.cu's SimulatorTiles).
constexpr int kTileK = 32;
// Shared rows are padded by 4 elements: the transposed stores spread over banks, rows stay 16-byte aligned.
constexpr int kPad = 4;
constexpr int kLoadParts = 2;  // the default; see gemm_mainloop

// The staging of a block's M x N tile of C, shared by Tile and the tensor-core MmaTile: TileK-deep stages, each
// loaded in LoadParts parts by StageRegisters' mappings.
template <int M, int N, int TileK, int LoadParts>
struct Stages {
  static constexpr int kM = M, kN = N, kTileK = TileK, kLoadParts = LoadParts;
  static constexpr int kARowStep = kThreads / TileK;  // a thread's A elements of one stage lie this many rows apart
  static constexpr int kPartK = TileK / LoadParts;    // the K steps of one load part
  static_assert(kThreads % TileK == 0 && M % kARowStep == 0 && kThreads % N == 0, "StageRegisters' load mappings");
  static constexpr int kALoads = M * TileK / kThreads;  // A elements per thread per stage
  static constexpr int kBLoads = TileK * N / kThreads;  // B elements per thread per stage
  static_assert(kALoads % LoadParts == 0 && kBLoads % LoadParts == 0, "whole parts");
};

// A block computes an M x N tile of C in TileK-deep stages, each loaded in LoadParts parts; each thread a Tm x Tn
// register tile. MinBlocks: the blocks per SM that __launch_bounds__ asks the register allocator to fit (2: at most
// 128 registers per thread).
template <int M, int N, int Tm, int Tn, int MinBlocks = 2, int TileK = kTileK, int LoadParts = kLoadParts>
struct Tile : Stages<M, N, TileK, LoadParts> {
  static constexpr int kTm = Tm, kTn = Tn, kMinBlocks = MinBlocks;
  static constexpr int kThreadsN = N / Tn;
  static_assert((M / Tm) * (N / Tn) == kThreads, "one register tile per thread");
};

// The two stages of A and B tiles. At kTileK = 32 they exceed the 48 KiB of static shared memory (66-82 KiB), so
// they live in dynamic shared memory (launch<> opts the kernel in). Deep stages halve the barriers per FMA; in the
// simulator each barrier switches every thread's fiber and reloads its registers from its stack.
template <class T, class Cfg>
struct StageBuffers {
  T a[2][Cfg::kTileK][Cfg::kM + kPad];
  T b[2][Cfg::kTileK][Cfg::kN + kPad];
};

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
__device__ __forceinline__ void multiply_stage(const T (&a_tile)[Cfg::kTileK][Cfg::kM + kPad],
                                               const T (&b_tile)[Cfg::kTileK][Cfg::kN + kPad], int row, int col,
                                               int part, T (&acc)[Cfg::kTm][Cfg::kTn]) {
  const int k_begin = part * Cfg::kPartK;
#if defined(GG_SIMULATOR)
  static_assert((Cfg::kTn & (Cfg::kTn - 1)) == 0, "GCC vectors hold a power-of-two number of elements");
  typedef T Row __attribute__((vector_size(sizeof(T) * Cfg::kTn)));
  Row acc_rows[Cfg::kTm];
  for (int i = 0; i < Cfg::kTm; ++i) std::memcpy(&acc_rows[i], acc[i], sizeof(Row));
  for (int kk = k_begin; kk < k_begin + Cfg::kPartK; ++kk) {
    Row b_row;
    std::memcpy(&b_row, &b_tile[kk][col], sizeof(Row));
    for (int i = 0; i < Cfg::kTm; ++i) acc_rows[i] += a_tile[kk][row + i] * b_row;
  }
  for (int i = 0; i < Cfg::kTm; ++i) std::memcpy(acc[i], &acc_rows[i], sizeof(Row));
#else
  GG_CONV_UNROLL
  for (int kk = k_begin; kk < k_begin + Cfg::kPartK; ++kk) {
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

// A thread's share of one stage, in registers between its global loads and its shared-memory stores. A: K column
// t % kTileK of rows t / kTileK + kARowStep j, so consecutive threads read consecutive K. B along K (forward, data
// gradient): kBLoads consecutive K rows from b_k of column t % kN, so consecutive threads read consecutive pixels
// and one thread consecutive taps. B along N (weight gradient): K row t % kTileK (a pixel) of kBLoads consecutive
// columns from b_col. (kTileK and kARowStep: the tile's, Cfg::.)
template <class T, class Cfg, bool kBAlongK>
struct StageRegisters {
  static constexpr int kAPart = Cfg::kALoads / Cfg::kLoadParts, kBPart = Cfg::kBLoads / Cfg::kLoadParts;
  int a_k = int(threadIdx.x) % Cfg::kTileK, a_row = int(threadIdx.x) / Cfg::kTileK;
  int b_k = kBAlongK ? int(threadIdx.x) / Cfg::kN * Cfg::kBLoads : a_k;
  int b_col = kBAlongK ? int(threadIdx.x) % Cfg::kN : a_row * Cfg::kBLoads;
  T a[kAPart], b[kBPart];

  // The tile row of element j of part `part` of the A loads.
  __device__ __forceinline__ int a_row_of(int part, int j) const {
    return a_row + Cfg::kARowStep * (part * kAPart + j);
  }
  __device__ __forceinline__ void store(StageBuffers<T, Cfg>& buffers, int stage, int part) const {
    GG_CONV_UNROLL
    for (int j = 0; j < kAPart; ++j) buffers.a[stage][a_k][a_row_of(part, j)] = a[j];
    GG_CONV_UNROLL
    for (int j = 0; j < kBPart; ++j) {
      if constexpr (kBAlongK)
        buffers.b[stage][b_k + part * kBPart + j][b_col] = b[j];
      else
        buffers.b[stage][b_k][b_col + part * kBPart + j] = b[j];
    }
  }
};

// The pipeline of all three passes: acc += A B over K indices [k_begin, k_end) (never empty: the split plan gives
// every split pixels), in Cfg::kTileK-deep stages. Two stage buffers: the threads fill one while they multiply the
// other, so a stage costs one barrier, not two (in the simulator each barrier is a fiber switch per thread). The
// next stage is loaded in Cfg::kLoadParts parts: each part's global loads are issued before one part of the
// multiply and stored to shared memory after it, so a thread holds only a part of the next stage in registers (at
// one part, the weight gradient's 8x8 tiles needed more than 255 registers on sm_80; the simulator's tiles load in
// one part, since a CPU thread's loaded values live on its stack anyway and each part reloads its accumulators).
// loader.load(k, part) gathers part `part` of the stage at K index k into loader.regs (a StageRegisters);
// after_stage(a_tile) runs once per stage, before the barrier that frees its buffers.
template <class T, class Cfg, class Loader, class AfterStage>
__device__ __forceinline__ void gemm_mainloop(StageBuffers<T, Cfg>& buffers, Loader& loader, int k_begin, int k_end,
                                              T (&acc)[Cfg::kTm][Cfg::kTn], AfterStage after_stage) {
  const int ty = int(threadIdx.x) / Cfg::kThreadsN, tx = int(threadIdx.x) % Cfg::kThreadsN;
  for (int part = 0; part < Cfg::kLoadParts; ++part) {
    loader.load(k_begin, part);
    loader.regs.store(buffers, 0, part);
  }
  __syncthreads();
  for (int k0 = k_begin, stage = 0; k0 < k_end; k0 += Cfg::kTileK, stage ^= 1) {
    const bool more = k0 + Cfg::kTileK < k_end;
    for (int part = 0; part < Cfg::kLoadParts; ++part) {
      if (more) loader.load(k0 + Cfg::kTileK, part);
      multiply_stage<Cfg>(buffers.a[stage], buffers.b[stage], ty * Cfg::kTm, tx * Cfg::kTn, part, acc);
      // The other stage was last read before the previous barrier, so it is free to fill.
      if (more) loader.regs.store(buffers, stage ^ 1, part);
    }
    after_stage(buffers.a[stage]);
    __syncthreads();
  }
}

}  // namespace gramgan::GG_BACKEND::conv_gemm
