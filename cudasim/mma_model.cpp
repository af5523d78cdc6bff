// The tensor-core arithmetic model; mma_model.h states it and its sources. Everything finite is computed in
// integers: a term is an integer count of 2^(E - F) units, so truncation is a shift and the sum is exact.
#include "cudasim/mma_model.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <string>

#include "cudasim/runtime.h"

namespace cudasim {
namespace {

std::uint32_t bits_of(float x) { return std::bit_cast<std::uint32_t>(x); }
float float_of(std::uint32_t bits) { return std::bit_cast<float>(bits); }

constexpr int kMinExponent = -126;  // of FP32 normals; zeros and subnormals are read with it too
constexpr int kTf32FractionBits = 10;
constexpr int kFp32FractionBits = 23;

// |x| = significand * 2^(exponent - fraction_bits), the significand an integer (hidden bit included for normals).
struct Unpacked {
  bool negative;
  std::uint64_t significand;
  int exponent;
};
Unpacked unpack(std::uint32_t bits, int fraction_bits) {
  const int field = int(bits >> 23 & 0xffu);
  const std::uint64_t fraction = (bits & 0x7fffffu) >> (kFp32FractionBits - fraction_bits);
  if (field == 0) return {bool(bits >> 31), fraction, kMinExponent};
  return {bool(bits >> 31), fraction | (std::uint64_t(1) << fraction_bits), field - 127};
}

bool is_special(float x) { return (bits_of(x) & 0x7f800000u) == 0x7f800000u; }

// x * 2^shift truncated toward zero (shift may be negative).
std::uint64_t scale_truncated(std::uint64_t x, int shift) {
  if (shift >= 0) return x << shift;
  return -shift >= 64 ? 0 : x >> -shift;
}

// c + sum_{k<n} a[k] * b[k], with a and b already truncated to TF32: one fused step of the model.
float fused_dot_add(const float* a, const float* b, int n, float c, int fraction_bits) {
  bool special = is_special(c);
  for (int k = 0; k < n; ++k) special = special || is_special(a[k]) || is_special(b[k]);
  if (special) {
    // Only Inf and NaN inputs get here; finite products cannot overflow a double, so its sum is Inf or NaN as the
    // exact one would be.
    double sum = c;
    for (int k = 0; k < n; ++k) sum += double(a[k]) * double(b[k]);
    return std::isnan(sum) ? float_of(0x7fffffffu) : float(sum);
  }

  Unpacked product[kMmaK];
  int largest = 0;
  const Unpacked acc = unpack(bits_of(c), kFp32FractionBits);
  largest = acc.exponent;
  for (int k = 0; k < n; ++k) {
    const Unpacked x = unpack(bits_of(a[k]), kTf32FractionBits), y = unpack(bits_of(b[k]), kTf32FractionBits);
    // The exact product: 22 bits of significand, 2 * 10 fractional bits, exponent e_a + e_b.
    product[k] = {x.negative != y.negative, x.significand * y.significand, x.exponent + y.exponent};
    if (product[k].exponent > largest) largest = product[k].exponent;
  }

  // Each term as a count of 2^(largest - F) units, truncated toward zero; the sum is exact (at most 9 terms
  // below 2^(F + 3) units each).
  std::int64_t sum = 0;
  auto add = [&](const Unpacked& term, int term_fraction_bits) {
    const std::uint64_t units =
        scale_truncated(term.significand, fraction_bits - term_fraction_bits - (largest - term.exponent));
    sum += term.negative ? -std::int64_t(units) : std::int64_t(units);
  };
  add(acc, kFp32FractionBits);
  for (int k = 0; k < n; ++k) add(product[k], 2 * kTf32FractionBits);
  if (sum == 0) return 0.0f;

  // Normalise and round toward zero to FP32: keep 24 significant bits, or the bits down to 2^-149 for a
  // subnormal result.
  const std::uint64_t magnitude = sum < 0 ? std::uint64_t(-sum) : std::uint64_t(sum);
  const int length = 64 - __builtin_clzll(magnitude);
  const int unit_exponent = largest - fraction_bits;  // the value is magnitude * 2^unit_exponent
  const int leading = unit_exponent + length - 1;
  const int lowest_kept = leading >= kMinExponent ? leading - kFp32FractionBits : kMinExponent - kFp32FractionBits;
  const std::uint64_t kept = scale_truncated(magnitude, unit_exponent - lowest_kept);
  if (kept == 0) return 0.0f;  // below 2^-149: +0 like an exact zero
  // kept < 2^24 is exact in a float, and ldexp is exact unless the result overflows to Inf (leading > 127).
  const float result = std::ldexp(float(kept), lowest_kept);
  return sum < 0 ? -result : result;
}

}  // namespace

TensorCoreModel tensor_core_model(int sm) {
  switch (sm) {
    case 80:
    case 86:
    case 89: return {24, 4};
    case 90: return {25, 8};
  }
  throw Error("cudasim: no tensor-core model for sm_" + std::to_string(sm) + " (expected 80, 86, 89 or 90)");
}

float tf32_truncate(float x) { return float_of(bits_of(x) & 0xffffe000u); }

float tf32_round(float x) {
  std::uint32_t bits = bits_of(x);
  // Adding half a TF32 unit to the magnitude's bits rounds ties away from zero and carries into the exponent
  // (up to Inf past the largest finite value); Inf and NaN are only cut ([SASS] in mma_model.h).
  if ((bits & 0x7f800000u) != 0x7f800000u) bits += 0x1000u;
  return float_of(bits & 0xffffe000u);
}

float mma_tf32_dot(const float* a, const float* b, float c, int sm) {
  const TensorCoreModel model = tensor_core_model(sm);
  float ta[kMmaK], tb[kMmaK];
  for (int k = 0; k < kMmaK; ++k) {
    ta[k] = tf32_truncate(a[k]);
    tb[k] = tf32_truncate(b[k]);
  }
  float acc = c;
  for (int k = 0; k < kMmaK; k += model.chunk)
    acc = fused_dot_add(ta + k, tb + k, model.chunk, acc, model.fraction_bits);
  return acc;
}

void mma_tf32_m16n8k8(const float* a, const float* b, const float* c, float* d, int sm) {
  float result[kMmaM * kMmaN];
  for (int i = 0; i < kMmaM; ++i) {
    for (int j = 0; j < kMmaN; ++j) {
      float column[kMmaK];
      for (int k = 0; k < kMmaK; ++k) column[k] = b[k * kMmaN + j];
      result[i * kMmaN + j] = mma_tf32_dot(a + i * kMmaK, column, c[i * kMmaN + j], sm);
    }
  }
  std::memcpy(d, result, sizeof result);
}

}  // namespace cudasim
