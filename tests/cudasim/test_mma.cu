// The warp-level tf32 MMA (kernels/mma.cuh) in the simulator: fragment layouts, the architecture's arithmetic,
// and the usual diagnostics when a warp misuses it. The kernel loads each lane's fragments with the PTX ISA's
// formulas ("Matrix Fragments for mma.m16n8k8", .tf32), written out here independently of the simulator's.
#include <cstring>
#include <random>

#include "kernels/mma.cuh"
#include "tests/cudasim/sim_test.h"

namespace {

using namespace gramgan_simtest;

constexpr int kTileA = 16 * 8, kTileB = 8 * 8, kTileC = 16 * 8;

// Warp w multiplies tile w: a (16, 8) and c, d (16, 8) row-major, b (8, 8) row-major as (k, n). The accumulator is
// updated in place (d aliases c), as main loops do.
__global__ void mma_tiles_kernel(const float* a, const float* b, const float* c, float* d) {
  const int warp = int(blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int g = lane / 4, t = lane % 4;
  a += warp * kTileA;
  b += warp * kTileB;
  c += warp * kTileC;
  d += warp * kTileC;
  const float fa[4] = {a[g * 8 + t], a[(g + 8) * 8 + t], a[g * 8 + t + 4], a[(g + 8) * 8 + t + 4]};
  const float fb[2] = {b[t * 8 + g], b[(t + 4) * 8 + g]};
  float acc[4] = {c[g * 8 + 2 * t], c[g * 8 + 2 * t + 1], c[(g + 8) * 8 + 2 * t], c[(g + 8) * 8 + 2 * t + 1]};
  gramgan::sim::mma_m16n8k8_tf32(acc, fa, fb, acc);
  d[g * 8 + 2 * t] = acc[0];
  d[g * 8 + 2 * t + 1] = acc[1];
  d[(g + 8) * 8 + 2 * t] = acc[2];
  d[(g + 8) * 8 + 2 * t + 1] = acc[3];
}

struct Tiles {
  std::vector<float> a, b, c;
  explicit Tiles(int tiles) : a(tiles * kTileA), b(tiles * kTileB), c(tiles * kTileC) {}
};

std::vector<float> run_tiles(const Tiles& host, int blocks, int threads) {
  DeviceArray<float> a(host.a), b(host.b), c(host.c), d(host.c.size(), 0.0f);
  cudasim::launch<mma_tiles_kernel>(dim3(blocks), dim3(threads), 0, nullptr, a.get(), b.get(), c.get(), d.get());
  return d.download();
}

// Distinct small integers everywhere: every product and sum is exact, so D is the plain matrix product whatever
// the architecture, and an element read from the wrong place changes the result.
TEST(Mma, FragmentLayoutsMatchThePtxIsa) {
  constexpr int kBlocks = 2, kThreads = 64, kTiles = kBlocks * kThreads / 32;
  Tiles host(kTiles);
  for (int i = 0; i < kTiles * kTileA; ++i) host.a[i] = float(i % 251 + 1);
  for (int i = 0; i < kTiles * kTileB; ++i) host.b[i] = -float(i % 241 + 3);
  for (int i = 0; i < kTiles * kTileC; ++i) host.c[i] = float(1000 * i);
  for (int sm : {80, 90}) {
    ScopedArchitecture arch(sm);
    const std::vector<float> d = run_tiles(host, kBlocks, kThreads);
    for (int tile = 0; tile < kTiles; ++tile) {
      for (int i = 0; i < 16; ++i) {
        for (int j = 0; j < 8; ++j) {
          double expected = host.c[tile * kTileC + i * 8 + j];
          for (int k = 0; k < 8; ++k)
            expected += double(host.a[tile * kTileA + i * 8 + k]) * host.b[tile * kTileB + k * 8 + j];
          ASSERT_EQ(d[tile * kTileC + i * 8 + j], expected)
              << "sm_" << sm << " tile " << tile << " element (" << i << ", " << j << ")";
        }
      }
    }
  }
}

// Random raw FP32 operands over a wide exponent range: the warp op is the selected architecture's model, bit for
// bit (truncation of A and B included).
TEST(Mma, ResultsAreTheArchitecturesModelBitForBit) {
  constexpr int kBlocks = 3, kThreads = 96, kTiles = kBlocks * kThreads / 32;
  std::mt19937 rng(2026);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-30, 30);
  Tiles host(kTiles);
  for (auto* v : {&host.a, &host.b, &host.c})
    for (float& x : *v) x = std::ldexp(uniform(rng), exponent(rng));
  for (int sm : {80, 86, 89, 90}) {
    ScopedArchitecture arch(sm);
    const std::vector<float> d = run_tiles(host, kBlocks, kThreads);
    for (int tile = 0; tile < kTiles; ++tile) {
      float expected[kTileC];
      cudasim::mma_tf32_m16n8k8(&host.a[tile * kTileA], &host.b[tile * kTileB], &host.c[tile * kTileC], expected, sm);
      ASSERT_EQ(0, std::memcmp(expected, &d[tile * kTileC], sizeof expected)) << "sm_" << sm << " tile " << tile;
    }
  }
}

__global__ void tf32_round_kernel(const float* x, float* y) {
  const int i = int(threadIdx.x);
  y[i] = gramgan::sim::to_tf32(x[i]);
}

TEST(Mma, ToTf32IsCvtRna) {
  std::vector<float> x = {1.0f + std::ldexp(1.0f, -11), -(1.0f + std::ldexp(1.0f, -11)), 3.14159265f, -0.0f};
  DeviceArray<float> in(x), out(x.size(), 0.0f);
  cudasim::launch<tf32_round_kernel>(dim3(1), dim3(unsigned(x.size())), 0, nullptr, in.get(), out.get());
  const std::vector<float> y = out.download();
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], cudasim::tf32_round(x[i])) << x[i];
  EXPECT_EQ(y[0], 1.0f + std::ldexp(1.0f, -10));
}

// ---- misuse -------------------------------------------------------------------------------------------------

// The source lines of the two call sites below, for the expected diagnostics.
int g_site = 0, g_other_site = 0;

__global__ void mma_once_kernel(float* out, int variant) {
  const int lane = int(threadIdx.x) % 32;
  const float a[4] = {1, 1, 1, 1}, b[2] = {1, 1};
  float acc[4] = {0, 0, 0, 0};
  if (variant == 1 && lane == 5) return;  // one lane leaves the warp
  if (variant == 2 && lane >= 16) {
    g_other_site = __LINE__ + 1;  // the line of the call below
    gramgan::sim::mma_m16n8k8_tf32(acc, a, b, acc);
  } else {
    g_site = __LINE__ + 1;  // the line of the call below
    gramgan::sim::mma_m16n8k8_tf32(acc, a, b, acc);
  }
  out[threadIdx.x] = acc[0];
}

std::string at_line(int line) { return "test_mma.cu:" + std::to_string(line); }

TEST(Mma, AWholeWarpComputesEightOnes) {
  DeviceArray<float> out(64, 0.0f);
  cudasim::launch<mma_once_kernel>(dim3(1), dim3(64), 0, nullptr, out.get(), 0);
  for (float v : out.download()) EXPECT_EQ(v, 8.0f);
}

TEST(Mma, APartialWarpIsDiagnosed) {
  DeviceArray<float> out(16, 0.0f);
  const std::string message =
      launch_failure([&] { cudasim::launch<mma_once_kernel>(dim3(1), dim3(16), 0, nullptr, out.get(), 0); });
  GG_EXPECT_CONTAINS(message, "mma_sync_m16n8k8_tf32 at ");
  GG_EXPECT_CONTAINS(message, at_line(g_site));
  GG_EXPECT_CONTAINS(message, "names lane 16 in mask 0xffffffff, which does not exist");
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
}

TEST(Mma, ALaneThatExitsIsDiagnosed) {
  DeviceArray<float> out(32, 0.0f);
  const std::string message =
      launch_failure([&] { cudasim::launch<mma_once_kernel>(dim3(1), dim3(32), 0, nullptr, out.get(), 1); });
  GG_EXPECT_CONTAINS(message, "lane 5 exited while lanes wait at mma_sync_m16n8k8_tf32 (mask 0xffffffff) at ");
  GG_EXPECT_CONTAINS(message, at_line(g_site));
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
}

TEST(Mma, DivergentSitesAreDiagnosed) {
  DeviceArray<float> out(32, 0.0f);
  const std::string message =
      launch_failure([&] { cudasim::launch<mma_once_kernel>(dim3(1), dim3(32), 0, nullptr, out.get(), 2); });
  GG_EXPECT_CONTAINS(message, "lanes of one warp wait at different warp operations");
  GG_EXPECT_CONTAINS(message, at_line(g_site));
  GG_EXPECT_CONTAINS(message, at_line(g_other_site));
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  // The simulator is usable afterwards.
  cudasim::launch<mma_once_kernel>(dim3(1), dim3(32), 0, nullptr, out.get(), 0);
  for (float v : out.download()) EXPECT_EQ(v, 8.0f);
}

}  // namespace
