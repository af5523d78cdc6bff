// Math and bit intrinsics and the vector types, evaluated inside a kernel and compared with references written
// independently here (bit loops, 64-bit arithmetic, memcpy), over edge values and a pseudo-random sweep.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "tests/cudasim/sim_test.h"

namespace {

using namespace gramgan_simtest;

int ref_popc(std::uint64_t x) {
  int n = 0;
  for (; x != 0; x >>= 1) n += int(x & 1);
  return n;
}
int ref_clz(std::uint64_t x, int bits) {
  int n = 0;
  for (int b = bits - 1; b >= 0 && !(x >> b & 1); --b) ++n;
  return n;
}
int ref_ffs(std::uint64_t x, int bits) {
  for (int b = 0; b < bits; ++b)
    if (x >> b & 1) return b + 1;
  return 0;
}
unsigned ref_brev(unsigned x) {
  unsigned r = 0;
  for (int b = 0; b < 32; ++b) r |= ((x >> b) & 1u) << (31 - b);
  return r;
}
// High 64 bits of a 64x64 product from 32-bit halves (independent of __int128).
unsigned long long ref_umul64hi(unsigned long long a, unsigned long long b) {
  const unsigned long long a_lo = a & 0xffffffffu, a_hi = a >> 32, b_lo = b & 0xffffffffu, b_hi = b >> 32;
  const unsigned long long lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo, lo_hi = a_lo * b_hi, hi_hi = a_hi * b_hi;
  const unsigned long long cross = (lo_lo >> 32) + (hi_lo & 0xffffffffu) + lo_hi;
  return hi_hi + (hi_lo >> 32) + (cross >> 32);
}

constexpr int kBitFields = 10;

__global__ void bit_intrinsics_kernel(const unsigned* x, const unsigned long long* y, long long* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const unsigned a = x[i], b = x[(i + 1) % n];
  const unsigned long long c = y[i], d = y[(i + 1) % n];
  long long* o = out + std::size_t(i) * kBitFields;
  o[0] = __popc(a);
  o[1] = __popcll(c);
  o[2] = __clz(int(a));
  o[3] = __clzll((long long)c);
  o[4] = __ffs(int(a));
  o[5] = __ffsll((long long)c);
  o[6] = __brev(a);
  o[7] = __umulhi(a, b);
  o[8] = __mulhi(int(a), int(b));
  o[9] = (long long)__umul64hi(c, d);
}

TEST(CudasimIntrinsics, BitOperations) {
  std::vector<unsigned> x = {0u, 1u, 2u, 3u, 0x80000000u, 0xffffffffu, 0x7fffffffu, 0x00010000u, 0xdeadbeefu};
  std::vector<unsigned long long> y = {0ULL, 1ULL, 1ULL << 63, ~0ULL, 0x00000001'00000000ULL, 0x8000000000000001ULL};
  unsigned long long state = 0x9e3779b97f4a7c15ULL;
  while (x.size() < 300) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    x.push_back(unsigned(state >> 32) >> (state % 29));  // varied leading-zero counts
    y.push_back(state >> (state % 61));
  }
  y.resize(x.size(), 12345);
  const int n = int(x.size());
  DeviceArray<unsigned> d_x(x);
  DeviceArray<unsigned long long> d_y(y);
  DeviceArray<long long> out(std::size_t(n) * kBitFields, 0);
  cudasim::launch<bit_intrinsics_kernel>(dim3((n + 63) / 64), dim3(64), 0, nullptr, d_x.get(), d_y.get(), out.get(), n);
  const auto o = out.download();
  for (int i = 0; i < n; ++i) {
    const unsigned a = x[i], b = x[(i + 1) % n];
    const unsigned long long c = y[i], d = y[(i + 1) % n];
    const long long* r = &o[std::size_t(i) * kBitFields];
    ASSERT_EQ(r[0], ref_popc(a)) << "__popc " << a;
    ASSERT_EQ(r[1], ref_popc(c)) << "__popcll " << c;
    ASSERT_EQ(r[2], ref_clz(a, 32)) << "__clz " << a;
    ASSERT_EQ(r[3], ref_clz(c, 64)) << "__clzll " << c;
    ASSERT_EQ(r[4], ref_ffs(a, 32)) << "__ffs " << a;
    ASSERT_EQ(r[5], ref_ffs(c, 64)) << "__ffsll " << c;
    ASSERT_EQ(r[6], (long long)ref_brev(a)) << "__brev " << a;
    ASSERT_EQ(r[7], (long long)((std::uint64_t(a) * b) >> 32)) << "__umulhi " << a << " " << b;
    const long long signed_product = (long long)int(a) * int(b);
    ASSERT_EQ(r[8], signed_product < 0 ? -((-signed_product - 1) / (1LL << 32)) - 1 : signed_product / (1LL << 32))
        << "__mulhi " << int(a) << " " << int(b);
    ASSERT_EQ((unsigned long long)r[9], ref_umul64hi(c, d)) << "__umul64hi " << c << " " << d;
  }
}

__global__ void float_intrinsics_kernel(const float* x, float* out, int n) {
  const int i = threadIdx.x;
  if (i >= n) return;
  float* o = out + i * 8;
  o[0] = __int_as_float(__float_as_int(x[i]));
  o[1] = __uint_as_float(__float_as_uint(x[i]));
  o[2] = __saturatef(x[i]);
  o[3] = float(__float2int_rn(x[i]));
  o[4] = float(__float2int_rz(x[i]));
  o[5] = __fmaf_rn(x[i], 3.0f, 1.0f);
  o[6] = float(__longlong_as_double(__double_as_longlong(double(x[i]) * 3.0)));
  o[7] = __fdividef(x[i], 4.0f);
}

TEST(CudasimIntrinsics, FloatConversionsAndSaturate) {
  // Finite values within int range: __float2int_* of NaN/inf is not defined behaviour on the host.
  const std::vector<float> x = {0.0f, -0.0f,      0.5f,    1.5f,   2.5f,    -2.5f,    -2.7f, 3.5f,
                                1.0f, 1.0000001f, -1e-30f, 0.999f, 7.25e6f, -123.75f, 1e-38f};
  const int n = int(x.size());
  DeviceArray<float> d_x(x), out(n * 8, 0.0f);
  cudasim::launch<float_intrinsics_kernel>(dim3(1), dim3(32), 0, nullptr, d_x.get(), out.get(), n);
  const auto o = out.download();
  for (int i = 0; i < n; ++i) {
    const float v = x[i];
    std::uint32_t v_bits, r_bits;
    std::memcpy(&v_bits, &v, 4);
    std::memcpy(&r_bits, &o[i * 8], 4);
    EXPECT_EQ(r_bits, v_bits) << "__float_as_int round trip of " << v;
    std::memcpy(&r_bits, &o[i * 8 + 1], 4);
    EXPECT_EQ(r_bits, v_bits) << "__float_as_uint round trip of " << v;
    EXPECT_EQ(o[i * 8 + 2], v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v) << "__saturatef " << v;
    // Round half to even, independently of the FPU rounding mode.
    const double fl = std::floor(double(v)), frac = double(v) - fl;
    const double rn = frac > 0.5 ? fl + 1 : frac < 0.5 ? fl : (std::fmod(fl, 2.0) == 0 ? fl : fl + 1);
    EXPECT_EQ(o[i * 8 + 3], float(rn)) << "__float2int_rn " << v;
    EXPECT_EQ(o[i * 8 + 4], float(v < 0 ? std::ceil(double(v)) : std::floor(double(v)))) << "__float2int_rz " << v;
    EXPECT_EQ(o[i * 8 + 5], float(double(v) * 3.0 + 1.0)) << "__fmaf_rn " << v;  // single rounding
    EXPECT_EQ(o[i * 8 + 6], float(double(v) * 3.0)) << "__double_as_longlong round trip";
    EXPECT_EQ(o[i * 8 + 7], v / 4.0f) << "__fdividef " << v;
  }
  // __saturatef maps NaN to 0, as the hardware does.
  EXPECT_EQ(__saturatef(std::numeric_limits<float>::quiet_NaN()), 0.0f);
  EXPECT_EQ(__saturatef(std::numeric_limits<float>::infinity()), 1.0f);
  EXPECT_EQ(__saturatef(-std::numeric_limits<float>::infinity()), 0.0f);
}

TEST(CudasimIntrinsics, TranscendentalsAndMinMax) {
  // Unqualified, as kernel sources write them (cudasim.h maps these names past glibc's own __expf & co).
  for (float v : {0.25f, 1.0f, 2.0f, 4.0f, 1e-6f, 1e6f, 3.0f}) {
    EXPECT_NEAR(rsqrtf(v), 1.0 / std::sqrt(double(v)), 2e-7 / std::sqrt(double(v))) << v;
    EXPECT_NEAR(__frsqrt_rn(v), 1.0 / std::sqrt(double(v)), 2e-7 / std::sqrt(double(v))) << v;
    EXPECT_NEAR(__expf(std::log(v)), v, 1e-6 * v) << v;
    EXPECT_NEAR(__logf(v), std::log(double(v)), 1e-6) << v;
    EXPECT_NEAR(__powf(v, 0.5f), std::sqrt(double(v)), 1e-6 * std::sqrt(double(v))) << v;
  }
  EXPECT_EQ(rsqrtf(4.0f), 0.5f);
  EXPECT_EQ(rsqrt(0.25), 2.0);
  EXPECT_NEAR(__sinf(0.5f), std::sin(0.5), 1e-6);
  EXPECT_NEAR(__cosf(0.5f), std::cos(0.5), 1e-6);
  EXPECT_EQ(__fadd_rn(0.1f, 0.2f), 0.1f + 0.2f);
  EXPECT_EQ(__fmul_rn(0.1f, 3.0f), 0.1f * 3.0f);
  EXPECT_EQ(__dadd_rn(0.1, 0.2), 0.1 + 0.2);
  EXPECT_EQ(__dmul_rn(0.1, 3.0), 0.1 * 3.0);
  EXPECT_EQ(__fma_rn(0.1, 10.0, -1.0), std::fma(0.1, 10.0, -1.0));
  const int three = 3;
  EXPECT_EQ(__ldg(&three), 3);
  // Device min/max: integer forms compare in their own type; float forms ignore a NaN operand (fminf/fmaxf).
  EXPECT_EQ(min(-3, 2), -3);
  EXPECT_EQ(max(0x80000000u, 1u), 0x80000000u);
  EXPECT_EQ(min(1LL << 40, 5LL), 5LL);
  EXPECT_EQ(max(std::numeric_limits<float>::quiet_NaN(), 1.0f), 1.0f);
  EXPECT_EQ(min(2.0, std::numeric_limits<double>::quiet_NaN()), 2.0);
}

struct PackedAfterChar {
  char c;
  float4 v;
};

__global__ void vector_types_kernel(const float4* in, float4* out, double2* d, int4* i4) {
  const int t = threadIdx.x;
  const float4 v = in[t];
  out[t] = make_float4(v.w, v.z, v.y, v.x);
  d[t] = make_double2(double(v.x) * 2.0, double(v.y) * 2.0);
  i4[t] = make_int4(t, -t, 2 * t, int(v.x));
}

TEST(CudasimIntrinsics, VectorTypes) {
  // The alignments the GPU requires for vectorised loads (ld.global.v4 needs 16 bytes).
  static_assert(alignof(float4) == 16 && sizeof(float4) == 16);
  static_assert(alignof(float2) == 8 && sizeof(float2) == 8);
  static_assert(alignof(double2) == 16 && sizeof(double2) == 16);
  static_assert(alignof(int4) == 16 && alignof(uint4) == 16 && alignof(int2) == 8 && alignof(uint2) == 8);
  static_assert(sizeof(float3) == 12 && alignof(float3) == 4);
  static_assert(offsetof(PackedAfterChar, v) == 16);
  constexpr float4 c = make_float4(1, 2, 3, 4);
  static_assert(c.x == 1 && c.y == 2 && c.z == 3 && c.w == 4);
  constexpr uint3 u3 = make_uint3(7, 8, 9);
  static_assert(u3.x == 7 && u3.z == 9);

  constexpr int kN = 48;
  std::vector<float4> in(kN);
  for (int t = 0; t < kN; ++t) in[t] = make_float4(float(t), t + 0.5f, t + 0.25f, -float(t));
  DeviceArray<float4> d_in(in), out(kN);
  DeviceArray<double2> d(kN);
  DeviceArray<int4> i4(kN);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(d_in.get()) % 16, 0u);
  cudasim::launch<vector_types_kernel>(dim3(1), dim3(kN), 0, nullptr, d_in.get(), out.get(), d.get(), i4.get());
  const auto o = out.download();
  const auto dd = d.download();
  const auto ii = i4.download();
  for (int t = 0; t < kN; ++t) {
    EXPECT_EQ(o[t].x, -float(t));
    EXPECT_EQ(o[t].y, t + 0.25f);
    EXPECT_EQ(o[t].z, t + 0.5f);
    EXPECT_EQ(o[t].w, float(t));
    EXPECT_EQ(dd[t].x, 2.0 * t);
    EXPECT_EQ(dd[t].y, 2.0 * (t + 0.5));
    EXPECT_EQ(ii[t].x, t);
    EXPECT_EQ(ii[t].y, -t);
    EXPECT_EQ(ii[t].z, 2 * t);
    EXPECT_EQ(ii[t].w, t);
  }
}

}  // namespace
