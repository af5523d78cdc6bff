// SGEMM c = a * b with shared-memory tiling and register blocking.
//
// Layout: row-major a (m, k), b (k, n), c (m, n); any sizes, including ones that are not tile multiples.
// A block computes a kTile x kTile tile of c from kTileK-deep stages of a and b staged in shared memory; each of
// its 16 x 16 threads accumulates a kMicro x kMicro register tile (rows ty*4.., columns tx*4..). Per stage every
// thread loads one float4 of a and one of b: 64 rows x 16 of a and 16 rows x 64 of b are 256 quads each.
// Quads fall back to scalar, zero-filled loads at the edges and when a row is not 16-byte aligned.
//
// Why: the classic blocking of Volkov & Demmel (2008) and of the CUTLASS/llm.c tutorials, small enough to read;
// it exercises barriers, shared memory and vector types in the simulator, and is the benchmark's compute kernel.
#include <cstdint>
#include <stdexcept>

#include "kernels/launch.h"
#include "tests/sample_kernels/sample_kernels.h"

namespace gramgan::GG_BACKEND::samples {
namespace {

constexpr int kTile = 64;
constexpr int kTileK = 16;
constexpr int kMicro = 4;
constexpr int kThreadsPerRow = kTile / kMicro;             // 16
constexpr int kThreads = kThreadsPerRow * kThreadsPerRow;  // 256
static_assert(kTile * kTileK == 4 * kThreads, "each thread loads exactly one quad of a and one of b per stage");

__device__ bool is_aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// The quad m[row][col..col+3] of a (rows, cols) row-major matrix, zero outside it.
__device__ float4 load_quad(const float* m, int rows, int cols, int row, int col, bool vector_ok) {
  if (row >= rows || col >= cols) return make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  const float* src = m + std::size_t(row) * cols + col;
  if (vector_ok && col + 3 < cols) return *reinterpret_cast<const float4*>(src);
  float v[4];
  for (int j = 0; j < 4; ++j) v[j] = col + j < cols ? src[j] : 0.0f;
  return make_float4(v[0], v[1], v[2], v[3]);
}

__global__ void __launch_bounds__(kThreads)
    gemm_tiled_kernel(const float* a, const float* b, float* c, int m, int n, int k) {
  GG_KERNEL_BOUNDS(kThreads);
  // a is stored transposed so the inner loop reads kMicro consecutive rows of one column as a float4.
  GG_SHARED(float[kTileK][kTile], a_tile);
  GG_SHARED(float[kTileK][kTile], b_tile);

  const int t = threadIdx.x;
  const int ty = t / kThreadsPerRow, tx = t % kThreadsPerRow;
  const int row0 = blockIdx.y * kTile, col0 = blockIdx.x * kTile;
  const int a_row = t / (kTileK / 4), a_col = (t % (kTileK / 4)) * 4;
  const int b_row = t / (kTile / 4), b_col = (t % (kTile / 4)) * 4;
  // A row starts 16-byte aligned only if the base is and the row length is a multiple of 4.
  const bool a_vector = k % 4 == 0 && is_aligned16(a);
  const bool b_vector = n % 4 == 0 && is_aligned16(b);

  float acc[kMicro][kMicro] = {};
  for (int k0 = 0; k0 < k; k0 += kTileK) {
    const float4 aq = load_quad(a, m, k, row0 + a_row, k0 + a_col, a_vector);
    a_tile[a_col + 0][a_row] = aq.x;
    a_tile[a_col + 1][a_row] = aq.y;
    a_tile[a_col + 2][a_row] = aq.z;
    a_tile[a_col + 3][a_row] = aq.w;
    *reinterpret_cast<float4*>(&b_tile[b_row][b_col]) = load_quad(b, k, n, k0 + b_row, col0 + b_col, b_vector);
    __syncthreads();
    for (int kk = 0; kk < kTileK; ++kk) {
      const float4 aq4 = *reinterpret_cast<const float4*>(&a_tile[kk][ty * kMicro]);
      const float4 bq4 = *reinterpret_cast<const float4*>(&b_tile[kk][tx * kMicro]);
      const float av[kMicro] = {aq4.x, aq4.y, aq4.z, aq4.w};
      const float bv[kMicro] = {bq4.x, bq4.y, bq4.z, bq4.w};
      for (int i = 0; i < kMicro; ++i)
        for (int j = 0; j < kMicro; ++j) acc[i][j] += av[i] * bv[j];
    }
    // The next stage overwrites the tiles other threads may still be reading.
    __syncthreads();
  }

  const int col = col0 + tx * kMicro;
  if (col >= n) return;
  const bool c_vector = n % 4 == 0 && is_aligned16(c) && col + 3 < n;
  for (int i = 0; i < kMicro; ++i) {
    const int row = row0 + ty * kMicro + i;
    if (row >= m) break;
    float* dst = c + std::size_t(row) * n + col;
    if (c_vector) {
      *reinterpret_cast<float4*>(dst) = make_float4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
    } else {
      for (int j = 0; j < kMicro && col + j < n; ++j) dst[j] = acc[i][j];
    }
  }
}

}  // namespace

void gemm_forward(const float* a, const float* b, float* c, int m, int n, int k, StreamHandle stream) {
  if (m < 0 || n < 0 || k < 0) throw std::invalid_argument("gemm_forward: negative size");
  if (m == 0 || n == 0) return;
  const dim3 grid((n + kTile - 1) / kTile, (m + kTile - 1) / kTile);
  launch<gemm_tiled_kernel>(grid, dim3(kThreads), 0, stream, a, b, c, m, n, k);
}

}  // namespace gramgan::GG_BACKEND::samples
