// One tf32 m16n8k8 MMA per warp (kernels/mma.cuh), and cvt.rna.tf32 elementwise: the same source on the GPU's
// tensor cores and in the simulator's model of them, so a GPU test can compare the two bit for bit.
//
// Layout: tile w is a (16, 8) and c, d (16, 8) row-major, b (8, 8) row-major as (k, n), at offsets w * 128,
// w * 64 and w * 128. Each lane loads its fragments with the PTX ISA's formulas (kernels/mma.cuh).
#include <stdexcept>

#include "kernels/launch.h"
#include "kernels/mma.cuh"
#include "tests/sample_kernels/sample_kernels.h"

namespace gramgan::GG_BACKEND::samples {
namespace {

constexpr int kWarps = 4, kThreads = 32 * kWarps;

__global__ void __launch_bounds__(kThreads)
    mma_tf32_tiles_kernel(const float* a, const float* b, const float* c, float* d, int tiles) {
  GG_KERNEL_BOUNDS(kThreads);
  const int tile = int(blockIdx.x) * kWarps + int(threadIdx.x) / 32;
  if (tile >= tiles) return;  // whole warps only: the MMA needs all 32 lanes
  const int lane = int(threadIdx.x) % 32, g = lane / 4, t = lane % 4;
  a += std::size_t(tile) * 128;
  b += std::size_t(tile) * 64;
  c += std::size_t(tile) * 128;
  d += std::size_t(tile) * 128;
  const float fa[4] = {a[g * 8 + t], a[(g + 8) * 8 + t], a[g * 8 + t + 4], a[(g + 8) * 8 + t + 4]};
  const float fb[2] = {b[t * 8 + g], b[(t + 4) * 8 + g]};
  float acc[4] = {c[g * 8 + 2 * t], c[g * 8 + 2 * t + 1], c[(g + 8) * 8 + 2 * t], c[(g + 8) * 8 + 2 * t + 1]};
  mma_m16n8k8_tf32(acc, fa, fb, acc);
  d[g * 8 + 2 * t] = acc[0];
  d[g * 8 + 2 * t + 1] = acc[1];
  d[(g + 8) * 8 + 2 * t] = acc[2];
  d[(g + 8) * 8 + 2 * t + 1] = acc[3];
}

__global__ void __launch_bounds__(kThreads) tf32_round_kernel(const float* x, float* y, std::size_t count) {
  GG_KERNEL_BOUNDS(kThreads);
  const std::size_t i = std::size_t(blockIdx.x) * kThreads + threadIdx.x;
  if (i < count) y[i] = to_tf32(x[i]);
}

}  // namespace

void mma_tf32_tiles(const float* a, const float* b, const float* c, float* d, int tiles, StreamHandle stream) {
  if (tiles < 0) throw std::invalid_argument("mma_tf32_tiles: tiles must not be negative");
  if (tiles == 0) return;
  launch<mma_tf32_tiles_kernel>(dim3(unsigned((tiles + kWarps - 1) / kWarps)), dim3(kThreads), 0, stream, a, b, c, d,
                                tiles);
}

void tf32_round_forward(const float* x, float* y, std::size_t count, StreamHandle stream) {
  if (count == 0) return;
  const std::size_t blocks = (count + kThreads - 1) / kThreads;
  if (blocks > 0x7fffffffu) throw std::invalid_argument("tf32_round_forward: count exceeds one grid");
  launch<tf32_round_kernel>(dim3(unsigned(blocks)), dim3(kThreads), 0, stream, x, y, count);
}

}  // namespace gramgan::GG_BACKEND::samples
