// Philox4x32-10 counter-based RNG (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011) and the transforms that turn its words into uniform and normal numbers, bit-identical on the GPU
// (nvcc), in the simulator and in plain host code.
//
// Stream layout. A tensor of `count` elements filled with (seed, offset) is cut into groups; group g draws one
// Philox block: counter = (lo32(offset + g), hi32(offset + g), 0, 0), key = (lo32(seed), hi32(seed)), where
// offset + g wraps modulo 2^64. The block's words w0..w3 give
//   float32: 4 elements per group, element 4g + j from word wj:
//     uniform: u = (wj >> 8) * 2^-24 in [0, 1), value = fmaf(high - low, u, low);
//     normal:  Box-Muller on the word pair (w0, w1) for j = 0, 1 and (w2, w3) for j = 2, 3, in double:
//              u1 = (w_even + 1) * 2^-32 in (0, 1], u2 = w_odd * 2^-32 in [0, 1),
//              r = sqrt(-2 log u1); j even: r cos(2 pi u2), j odd: r sin(2 pi u2);
//              value = float(fma(stddev, z, mean)).
//   float64: 2 elements per group, element 2g + j:
//     uniform: 53 bits from the 64-bit word (w(2j+1) << 32 | w(2j)) >> 11, u = bits * 2^-53 in [0, 1),
//              value = fma(high - low, u, low);
//     normal:  u1 = (bits(w1:w0) + 1) * 2^-53 in (0, 1], u2 = bits(w3:w2) * 2^-53 in [0, 1);
//              element 2g gets r cos(2 pi u2), element 2g + 1 gets r sin(2 pi u2); value = fma(stddev, z, mean).
// A fill thus consumes philox_groups(count, per_group) counters: the next disjoint stream starts at
// offset + that. (uniform may round up to `high` itself when high - low is not exact.)
//
// Bit-identical results: nvcc contracts a * b + c into an FMA and g++ may as well (-ffp-contract=fast with
// -mfma), so every multiply-add below is an explicit fma() and no bare product feeds an addition. libm and the
// CUDA math library differ in their last bits, so log and sin/cos(2 pi u) are our own polynomials in double
// (about 1 ulp); sqrt and division are correctly rounded on both.
#pragma once

#include <math.h>

#include <cstddef>
#include <cstdint>

// Kernel sources see CUDA's qualifiers (nvcc, or the simulator shim); plain host code does not.
#if defined(__CUDACC__) || defined(GG_SIMULATOR)
#define GG_HOST_DEVICE __host__ __device__
#else
#define GG_HOST_DEVICE
#endif

namespace gramgan::philox {

struct Block {
  std::uint32_t w[4];
};

GG_HOST_DEVICE inline Block philox4x32_10(Block counter, std::uint32_t key0, std::uint32_t key1) {
  constexpr std::uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  std::uint32_t* c = counter.w;
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = std::uint64_t(kMul0) * c[0];
    const std::uint64_t p1 = std::uint64_t(kMul1) * c[2];
    const std::uint32_t next[4] = {std::uint32_t(p1 >> 32) ^ c[1] ^ key0, std::uint32_t(p1),
                                   std::uint32_t(p0 >> 32) ^ c[3] ^ key1, std::uint32_t(p0)};
    c[0] = next[0];
    c[1] = next[1];
    c[2] = next[2];
    c[3] = next[3];
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
  return counter;
}

// The block of group `group` of the stream (seed, offset); see the layout above.
GG_HOST_DEVICE inline Block block(std::uint64_t seed, std::uint64_t offset, std::uint64_t group) {
  const std::uint64_t c = offset + group;
  return philox4x32_10(Block{{std::uint32_t(c), std::uint32_t(c >> 32), 0u, 0u}}, std::uint32_t(seed),
                       std::uint32_t(seed >> 32));
}

// Counters a fill of `count` elements uses, `per_group` elements per Philox block (4 for float, 2 for double).
GG_HOST_DEVICE constexpr std::uint64_t groups(std::uint64_t count, std::uint64_t per_group) {
  return (count + per_group - 1) / per_group;
}

// Natural log of a positive normal double, to about 1 ulp. x = m * 2^e with m in [sqrt(1/2), sqrt(2)), and
// log m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = (m - 1) / (m + 1), |s| <= 0.1716: eleven odd terms
// leave a truncation error near 2e-17 relative.
GG_HOST_DEVICE inline double ln(double x) {
  int e = 0;
  double m = ::frexp(x, &e);  // m in [0.5, 1), exact
  if (m < 0.70710678118654752440) {
    m *= 2.0;  // exact, so a contraction into the subtraction below changes nothing
    --e;
  }
  const double f = m - 1.0;  // exact (Sterbenz)
  const double s = f / (2.0 + f);
  const double z = s * s;
  double p = 1.0 / 21.0;
  p = ::fma(p, z, 1.0 / 19.0);
  p = ::fma(p, z, 1.0 / 17.0);
  p = ::fma(p, z, 1.0 / 15.0);
  p = ::fma(p, z, 1.0 / 13.0);
  p = ::fma(p, z, 1.0 / 11.0);
  p = ::fma(p, z, 1.0 / 9.0);
  p = ::fma(p, z, 1.0 / 7.0);
  p = ::fma(p, z, 1.0 / 5.0);
  p = ::fma(p, z, 1.0 / 3.0);
  const double two_s = 2.0 * s;
  const double log_m = ::fma(two_s * z, p, two_s);
  // ln 2 = kLn2Hi + kLn2Lo; kLn2Hi has 32 significant bits, so e * kLn2Hi is exact for any exponent.
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  const double de = double(e);
  return ::fma(de, kLn2Hi, ::fma(de, kLn2Lo, log_m));
}

struct SinCos {
  double sin, cos;
};

// sin and cos of 2 pi u for u in [0, 1], to about 1 ulp (plus absolute ~1e-17 near their zeros). The quadrant
// comes off exactly in u: u = q/4 + v with |v| <= 1/8 (exact: u is a multiple of a power of two), then
// x = 2 pi v in [-pi/4, pi/4] goes through Taylor series whose first omitted terms are below 2e-18.
GG_HOST_DEVICE inline SinCos sincos_2pi(double u) {
  const double q = ::nearbyint(4.0 * u);
  const double v = ::fma(-0.25, q, u);
  // 2 pi = kTwoPiHi + kTwoPiLo, so x carries 2 pi v to well below an ulp.
  constexpr double kTwoPiHi = 6.28318530717958623200e+00;
  constexpr double kTwoPiLo = 2.44929359829470635445e-16;
  const double x = ::fma(v, kTwoPiHi, v * kTwoPiLo);
  const double z = x * x;
  double ps = -1.0 / 121645100408832000.0;  // -1/19!
  ps = ::fma(ps, z, 1.0 / 355687428096000.0);
  ps = ::fma(ps, z, -1.0 / 1307674368000.0);
  ps = ::fma(ps, z, 1.0 / 6227020800.0);
  ps = ::fma(ps, z, -1.0 / 39916800.0);
  ps = ::fma(ps, z, 1.0 / 362880.0);
  ps = ::fma(ps, z, -1.0 / 5040.0);
  ps = ::fma(ps, z, 1.0 / 120.0);
  ps = ::fma(ps, z, -1.0 / 6.0);
  const double s = ::fma(x * z, ps, x);
  double pc = -1.0 / 6402373705728000.0;  // -1/18!
  pc = ::fma(pc, z, 1.0 / 20922789888000.0);
  pc = ::fma(pc, z, -1.0 / 87178291200.0);
  pc = ::fma(pc, z, 1.0 / 479001600.0);
  pc = ::fma(pc, z, -1.0 / 3628800.0);
  pc = ::fma(pc, z, 1.0 / 40320.0);
  pc = ::fma(pc, z, -1.0 / 720.0);
  pc = ::fma(pc, z, 1.0 / 24.0);
  pc = ::fma(pc, z, -0.5);
  const double c = ::fma(z, pc, 1.0);
  // 2 pi u = q pi/2 + x.
  switch (int(q) & 3) {
    case 0: return {s, c};
    case 1: return {c, -s};
    case 2: return {-s, -c};
    default: return {-c, s};
  }
}

// Box-Muller radius sqrt(-2 log u1) for u1 in (0, 1].
GG_HOST_DEVICE inline double box_muller_radius(double u1) { return ::sqrt(-2.0 * philox::ln(u1)); }

// ---- one group of a fill: `out` receives `per_group` values (see the layout at the top) --------------------------

GG_HOST_DEVICE inline void uniform_group(const Block& b, float low, float high, float out[4]) {
  const float range = high - low;
  for (int j = 0; j < 4; ++j) out[j] = ::fmaf(range, float(b.w[j] >> 8) * 0x1p-24f, low);
}

GG_HOST_DEVICE inline std::uint64_t bits53(std::uint32_t lo, std::uint32_t hi) {
  return ((std::uint64_t(hi) << 32) | lo) >> 11;
}

GG_HOST_DEVICE inline void uniform_group(const Block& b, double low, double high, double out[2]) {
  const double range = high - low;
  out[0] = ::fma(range, double(bits53(b.w[0], b.w[1])) * 0x1p-53, low);
  out[1] = ::fma(range, double(bits53(b.w[2], b.w[3])) * 0x1p-53, low);
}

GG_HOST_DEVICE inline void normal_group(const Block& b, float mean, float stddev, float out[4]) {
  for (int pair = 0; pair < 2; ++pair) {
    const double u1 = (double(b.w[2 * pair]) + 1.0) * 0x1p-32;
    const double u2 = double(b.w[2 * pair + 1]) * 0x1p-32;
    const double r = box_muller_radius(u1);
    const SinCos t = sincos_2pi(u2);
    out[2 * pair] = float(::fma(double(stddev), r * t.cos, double(mean)));
    out[2 * pair + 1] = float(::fma(double(stddev), r * t.sin, double(mean)));
  }
}

GG_HOST_DEVICE inline void normal_group(const Block& b, double mean, double stddev, double out[2]) {
  const double u1 = double(bits53(b.w[0], b.w[1]) + 1) * 0x1p-53;
  const double u2 = double(bits53(b.w[2], b.w[3])) * 0x1p-53;
  const double r = box_muller_radius(u1);
  const SinCos t = sincos_2pi(u2);
  out[0] = ::fma(stddev, r * t.cos, mean);
  out[1] = ::fma(stddev, r * t.sin, mean);
}

}  // namespace gramgan::philox
