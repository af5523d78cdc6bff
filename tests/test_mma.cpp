// The tf32 MMA sample kernel (tests/sample_kernels/mma.cu, over kernels/mma.cuh) against the tensor-core model
// (cudasim/mma_model.h), bit for bit: on the cpu backend for each simulated architecture, and on a GPU for the
// model of its architecture (skipped without one). The GPU case is where the model meets hardware: besides random
// tiles it runs the hand-built cases of tests/cudasim/test_mma_model.cu whose behaviour rests on one source only
// (overflow to Inf, the sign of zero, zero products in the alignment), and reports each case that differs.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cudasim/mma_model.h"
#include "tests/op_test_support.h"
#include "tests/sample_kernels/sample_kernels.h"

namespace {

using gramgan::test::Buffer;

constexpr int kTileA = 16 * 8, kTileB = 8 * 8, kTileC = 16 * 8;

std::uint32_t bits(float x) { return std::bit_cast<std::uint32_t>(x); }
float from_bits(std::uint32_t b) { return std::bit_cast<float>(b); }
float p2(int e) { return std::ldexp(1.0f, e); }

// One dot product c + sum_k a[k] b[k], spread over a whole tile (every row of A is a, every column of B is b).
struct DotCase {
  const char* name;
  float a[8], b[8], c;
};

std::vector<DotCase> hand_built_cases() {
  const float inf = std::numeric_limits<float>::infinity(), big = p2(127);
  return {
      {"exact", {1, 2, 3, 4, 5, 6, 7, 8}, {1, 1, 1, 1, 1, 1, 1, 1}, 0.5f},
      {"raw fp32 truncated", {1.0f + p2(-10) - p2(-23), 0, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, 0},
      {"cancellation", {p2(20), -p2(20), p2(-5), 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, 0},
      {"spread", {1, p2(-25), p2(-25), p2(-25), 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, p2(-25)},
      {"toward zero", {1, -p2(-26), 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, 0},
      {"tie", {1, p2(-23), p2(-24), 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, 0},
      {"accumulator aligned", {1, 1, 1, 1, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, p2(25)},
      {"split k", {p2(20), -p2(20), 0, 0, p2(-10), 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, 0},
      {"nan", {from_bits(0x7fc00000u), 1, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, 1},
      {"nan in c", {1, 0, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, from_bits(0xffc00001u)},
      {"low-payload nan", {from_bits(0x7f800001u), 0, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, 0},
      {"0 * inf", {inf, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0}, 0},
      {"inf", {inf, 1, 0, 0, 0, 0, 0, 0}, {-2, 1, 0, 0, 0, 0, 0, 0}, 1},
      {"inf - inf", {inf, -inf, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, 0},
      {"overflow", {big, big, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, 0},
      {"negative overflow", {-big, 0, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, -std::numeric_limits<float>::max()},
      {"subnormal product", {p2(-130), 0, 0, 0, 0, 0, 0, 0}, {p2(-10), 0, 0, 0, 0, 0, 0, 0}, 0},
      {"subnormal truncated", {p2(-130), p2(-130), 0, 0, 0, 0, 0, 0}, {p2(-19), p2(-20), 0, 0, 0, 0, 0, 0}, 0},
      {"negative zero", {-0.0f, 0, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, -0.0f},
      {"exact cancellation", {-1, 0, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, 1},
      {"zero product aligns", {0, p2(-60), 0, 0, 0, 0, 0, 0}, {p2(100), 1, 0, 0, 0, 0, 0, 0}, 0},
  };
}

struct Tiles {
  std::vector<std::string> names;
  std::vector<float> a, b, c;
};

// The hand-built cases, one tile each, then random raw FP32 tiles over a wide range of exponents.
Tiles make_tiles(int random_tiles) {
  Tiles t;
  for (const DotCase& dc : hand_built_cases()) {
    t.names.push_back(dc.name);
    for (int i = 0; i < 16; ++i)
      for (int k = 0; k < 8; ++k) t.a.push_back(dc.a[k]);
    for (int k = 0; k < 8; ++k)
      for (int j = 0; j < 8; ++j) t.b.push_back(dc.b[k]);
    t.c.insert(t.c.end(), kTileC, dc.c);
  }
  std::mt19937 rng(90);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-20, 20);
  for (int r = 0; r < random_tiles; ++r) {
    t.names.push_back("random " + std::to_string(r));
    for (int i = 0; i < kTileA; ++i) t.a.push_back(std::ldexp(uniform(rng), exponent(rng)));
    for (int i = 0; i < kTileB; ++i) t.b.push_back(std::ldexp(uniform(rng), exponent(rng)));
    for (int i = 0; i < kTileC; ++i) t.c.push_back(std::ldexp(uniform(rng), exponent(rng)));
  }
  return t;
}

// Every element of d against the model of architecture sm; one failure per differing tile.
void expect_model(const Tiles& t, const std::vector<float>& d, int sm) {
  for (std::size_t tile = 0; tile < t.names.size(); ++tile) {
    float expected[kTileC];
    cudasim::mma_tf32_m16n8k8(&t.a[tile * kTileA], &t.b[tile * kTileB], &t.c[tile * kTileC], expected, sm);
    for (int e = 0; e < kTileC; ++e) {
      if (bits(expected[e]) != bits(d[tile * kTileC + e])) {
        ADD_FAILURE() << "sm_" << sm << ", " << t.names[tile] << ": element (" << e / 8 << ", " << e % 8 << ") is 0x"
                      << std::hex << bits(d[tile * kTileC + e]) << ", the model gives 0x" << bits(expected[e]);
        break;
      }
    }
  }
}

template <class Memory, class Run>
std::vector<float> run_tiles(const Tiles& t, Run run) {
  Buffer<float, Memory> a(t.a), b(t.b), c(t.c), d(t.c.size());
  run(a.get(), b.get(), c.get(), d.get(), int(t.names.size()));
  return d.to_host();
}

TEST(MmaSampleKernel, CpuIsTheModelOfEachArchitecture) {
  const Tiles t = make_tiles(16);
  const int saved = cudasim::architecture();
  for (int sm : {80, 86, 89, 90}) {
    cudasim::set_architecture(sm);
    const std::vector<float> d = run_tiles<gramgan::test::SimMemory>(
        t, [](auto... args) { gramgan::sim::samples::mma_tf32_tiles(args..., nullptr); });
    expect_model(t, d, sm);
  }
  cudasim::set_architecture(saved);
}

std::vector<float> tf32_round_inputs() {
  std::vector<float> x = {
      1.0f + p2(-11),         -(1.0f + p2(-11)),      1.0f + 3 * p2(-11), std::numeric_limits<float>::max(),
      from_bits(0x7fffffffu), from_bits(0x7f800001u), p2(-137),           -0.0f};
  std::mt19937 rng(5);
  for (int i = 0; i < 1000; ++i) x.push_back(from_bits(std::uint32_t(rng())));
  return x;
}

void expect_tf32_round(const std::vector<float>& x, const std::vector<float>& y) {
  int failures = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (bits(y[i]) != bits(cudasim::tf32_round(x[i])) && ++failures <= 5)
      ADD_FAILURE() << "to_tf32(0x" << std::hex << bits(x[i]) << ") is 0x" << bits(y[i]) << ", the model gives 0x"
                    << bits(cudasim::tf32_round(x[i]));
}

TEST(MmaSampleKernel, CpuToTf32IsTheModel) {
  const std::vector<float> x = tf32_round_inputs();
  Buffer<float, gramgan::test::SimMemory> in(x), out(x.size());
  gramgan::sim::samples::tf32_round_forward(in.get(), out.get(), x.size(), nullptr);
  expect_tf32_round(x, out.to_host());
}

#if GRAMGAN_HAVE_CUDA
TEST(MmaSampleKernel, CudaIsTheModelOfItsArchitecture) {
  if (!gramgan::test::cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  const int sm = gramgan::test::modelled_device_architecture();
  if (sm == 0) GTEST_SKIP() << "no tensor-core model for this GPU's architecture";
  const Tiles t = make_tiles(256);
  const std::vector<float> d = run_tiles<gramgan::test::CudaMemory>(t, [](auto... args) {
    gramgan::cuda::samples::mma_tf32_tiles(args..., nullptr);
    GG_CUDA_CHECK(cudaDeviceSynchronize());
  });
  expect_model(t, d, sm);
}

TEST(MmaSampleKernel, CudaToTf32IsTheModel) {
  if (!gramgan::test::cuda_device_present()) GTEST_SKIP() << "no CUDA device";
  const std::vector<float> x = tf32_round_inputs();
  Buffer<float, gramgan::test::CudaMemory> in(x), out(x.size());
  gramgan::cuda::samples::tf32_round_forward(in.get(), out.get(), x.size(), nullptr);
  GG_CUDA_CHECK(cudaDeviceSynchronize());
  expect_tf32_round(x, out.to_host());
}
#endif

}  // namespace
