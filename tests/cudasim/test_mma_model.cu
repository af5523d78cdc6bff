// The tensor-core arithmetic model (cudasim/mma_model.h) on hand-built dot products, one architecture model at a
// time: sm_80 (F = 24 fractional bits, k = 8 as two chained k = 4 steps; sm_86 and sm_89 share it) and sm_90
// (F = 25, one step). Each case says which property of the model it pins; expected values are worked out by hand
// in the comments. Random matrices are checked against a double-precision reference within the model's bound.
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "tests/cudasim/sim_test.h"

namespace {

using Vector = std::array<float, 8>;

// cudasim.h's bit casts, under short names.
unsigned bits(float x) { return __float_as_uint(x); }
float from_bits(unsigned b) { return __uint_as_float(b); }
float p2(int e) { return std::ldexp(1.0f, e); }

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr unsigned kCanonicalNan = 0x7fffffffu;

// c + sum_k a[k] * b[k]; b defaults to ones, so `a` lists the products.
float dot(int sm, const Vector& a, float c, const Vector& b = {1, 1, 1, 1, 1, 1, 1, 1}) {
  return cudasim::mma_tf32_dot(a.data(), b.data(), c, sm);
}

#define EXPECT_BITS(expected, actual) \
  EXPECT_EQ(bits(expected), bits(actual)) << "expected " << (expected) << ", got " << (actual)

TEST(MmaModel, ArchitectureModels) {
  for (int sm : {80, 86, 89}) {
    EXPECT_EQ(cudasim::tensor_core_model(sm).fraction_bits, 24);
    EXPECT_EQ(cudasim::tensor_core_model(sm).chunk, 4);
  }
  EXPECT_EQ(cudasim::tensor_core_model(90).fraction_bits, 25);
  EXPECT_EQ(cudasim::tensor_core_model(90).chunk, 8);
  EXPECT_THROW(cudasim::tensor_core_model(75), cudasim::Error);
}

TEST(MmaModel, ExactWhenNothingIsCut) {
  for (int sm : {80, 90}) {
    EXPECT_BITS(36.5f, dot(sm, {1, 2, 3, 4, 5, 6, 7, 8}, 0.5f));
    EXPECT_BITS(-12.0f, dot(sm, {1, 2, 3, 4, 5, 6, 7, 8}, 0.0f, {-1, 1, -1, 1, -1, 1, -1, -1}));
  }
}

// The tensor core reads only the 10 high fraction bits of a raw FP32 A or B; C keeps all 23.
TEST(MmaModel, RawOperandsAreTruncatedToTf32) {
  const float just_below = 1.0f + p2(-10) - p2(-23);  // truncates to 1, rounds to 1 + 2^-10
  EXPECT_BITS(1.0f, cudasim::tf32_truncate(just_below));
  EXPECT_BITS(-1.0f, cudasim::tf32_truncate(-just_below));
  for (int sm : {80, 90}) {
    EXPECT_BITS(1.0f, dot(sm, {just_below, 0, 0, 0, 0, 0, 0, 0}, 0.0f));                            // in A
    EXPECT_BITS(1.0f, dot(sm, {1, 0, 0, 0, 0, 0, 0, 0}, 0.0f, {just_below, 0, 0, 0, 0, 0, 0, 0}));  // in B
    EXPECT_BITS(just_below, dot(sm, {0, 0, 0, 0, 0, 0, 0, 0}, just_below));  // C is not truncated
    // A subnormal whose bits all lie in the low 13 is a zero operand.
    EXPECT_BITS(0.0f, dot(sm, {from_bits(0x00000fffu), 0, 0, 0, 0, 0, 0, 0}, 0.0f, {p2(100), 0, 0, 0, 0, 0, 0, 0}));
  }
}

// cvt.rna.tf32.f32: to nearest, ties away from zero (ties-to-even would round 1 + 2^-11 down to 1).
TEST(MmaModel, CvtRnaRoundsTiesAwayFromZero) {
  EXPECT_BITS(1.0f + p2(-10), cudasim::tf32_round(1.0f + p2(-11)));
  EXPECT_BITS(-(1.0f + p2(-10)), cudasim::tf32_round(-(1.0f + p2(-11))));
  EXPECT_BITS(1.0f, cudasim::tf32_round(1.0f + p2(-11) - p2(-23)));            // below the tie
  EXPECT_BITS(1.0f + p2(-10), cudasim::tf32_round(1.0f + p2(-11) + p2(-23)));  // above it
  EXPECT_BITS(1.0f + p2(-9), cudasim::tf32_round(1.0f + 3 * p2(-11)));         // a tie between odd and even
  EXPECT_BITS(2.0f, cudasim::tf32_round(2.0f - p2(-22)));                      // carries into the exponent
  EXPECT_BITS(kInf, cudasim::tf32_round(std::numeric_limits<float>::max()));   // past the largest TF32: Inf
  EXPECT_BITS(-kInf, cudasim::tf32_round(-kInf));
  EXPECT_EQ(0x7fffe000u, bits(cudasim::tf32_round(from_bits(0x7fffffffu))));  // NaN keeps its high bits
  EXPECT_EQ(0x7f800000u, bits(cudasim::tf32_round(from_bits(0x7f800001u))));  // ... so a low-payload NaN is cut
  EXPECT_BITS(p2(-136), cudasim::tf32_round(p2(-137)));                       // subnormal tie: rounded, not flushed
  EXPECT_BITS(0.0f, cudasim::tf32_round(p2(-138)));
  EXPECT_BITS(-0.0f, cudasim::tf32_round(-0.0f));
}

// big + (-big) + small: the small product is aligned to big's exponent and cut before the exact cancellation.
TEST(MmaModel, CancellationLosesWhatAlignmentCut) {
  for (int sm : {80, 90}) {
    EXPECT_BITS(0.0f, dot(sm, {p2(20), -p2(20), p2(-10), 0, 0, 0, 0, 0}, 0.0f));  // exact answer 2^-10
    // 2^-4 is the last bit kept with F = 24 at exponent 20 (and F = 25 keeps it too).
    EXPECT_BITS(p2(-4), dot(sm, {p2(20), -p2(20), p2(-4), 0, 0, 0, 0, 0}, 0.0f));
  }
  // 2^-5 is kept by F = 25 only.
  EXPECT_BITS(0.0f, dot(80, {p2(20), -p2(20), p2(-5), 0, 0, 0, 0, 0}, 0.0f));
  EXPECT_BITS(p2(-5), dot(90, {p2(20), -p2(20), p2(-5), 0, 0, 0, 0, 0}, 0.0f));
}

// Terms 25 and 26 binades below the largest: 1 + 4 * 2^-25 = 1 + 2^-23 is representable, so the result shows
// whether the small terms survived alignment.
TEST(MmaModel, ExponentSpreadBeyondTheFractionBits) {
  const float tiny = p2(-25);
  EXPECT_BITS(1.0f, dot(80, {1, tiny, tiny, tiny, 0, 0, 0, 0}, tiny));
  EXPECT_BITS(1.0f + p2(-23), dot(90, {1, tiny, tiny, tiny, 0, 0, 0, 0}, tiny));
  const float tinier = p2(-26);  // below F = 25 too
  EXPECT_BITS(1.0f, dot(90, {1, tinier, tinier, tinier, tinier, tinier, tinier, tinier}, tinier));
}

// A negative term is truncated toward zero, not down: 1 - 2^-26 keeps 1 (floor would give 1 - 2^-25, which
// rounds toward zero to 1 - 2^-24).
TEST(MmaModel, TermsAreTruncatedTowardZero) {
  for (int sm : {80, 90}) EXPECT_BITS(1.0f, dot(sm, {1, -p2(-26), 0, 0, 0, 0, 0, 0}, 0.0f));
}

// The exact sum 1 + 2^-23 + 2^-24 is a tie between 1 + 2^-23 and 1 + 2^-22: round-to-nearest-even would go up,
// round toward zero goes down; the same holds for the negated sum.
TEST(MmaModel, ResultIsRoundedTowardZero) {
  for (int sm : {80, 90}) {
    EXPECT_BITS(1.0f + p2(-23), dot(sm, {1, p2(-23), p2(-24), 0, 0, 0, 0, 0}, 0.0f));
    EXPECT_BITS(-(1.0f + p2(-23)), dot(sm, {-1, -p2(-23), -p2(-24), 0, 0, 0, 0, 0}, 0.0f));
    // Just below 2: 1.5 + 0.25 + 0.125 + ... + 2^-24, whose 25 significant bits do not fit.
    EXPECT_BITS(2.0f - p2(-23), dot(sm, {1, 0.5f, 0.25f, 0.125f, 0, 0, 0, 0}, 0.125f - p2(-24)));
  }
}

// The accumulator takes part in the alignment: with C = 2^25 the four unit products are cut to nothing on sm_80
// (resolution 2^(25-24) = 2) and kept on sm_90 (resolution 1): 2^25 + 4 is representable.
TEST(MmaModel, AccumulatorIsAlignedWithTheProducts) {
  EXPECT_BITS(p2(25), dot(80, {1, 1, 1, 1, 0, 0, 0, 0}, p2(25)));
  EXPECT_BITS(p2(25) + 4.0f, dot(90, {1, 1, 1, 1, 0, 0, 0, 0}, p2(25)));
}

// sm_80 sums k = 0..3 first and feeds the rounded result to k = 4..7 as the accumulator; sm_90 sums all eight.
// 2^20 - 2^20 cancels exactly in the first half, so sm_80 keeps the 2^-10 of the second; sm_90 aligns 2^-10 to
// 2^20 and cuts it.
TEST(MmaModel, AmpereSplitsKIntoTwoChainedHalves) {
  const Vector products = {p2(20), -p2(20), 0, 0, p2(-10), 0, 0, 0};
  for (int sm : {80, 86, 89}) EXPECT_BITS(p2(-10), dot(sm, products, 0.0f)) << "sm_" << sm;
  EXPECT_BITS(0.0f, dot(90, products, 0.0f));
  // The halves in the other order: nothing to separate them, both cut 2^-10.
  const Vector swapped = {p2(-10), 0, 0, 0, p2(20), -p2(20), 0, 0};
  for (int sm : {80, 90}) EXPECT_BITS(0.0f, dot(sm, swapped, 0.0f));
}

TEST(MmaModel, NanResultsAreCanonical) {
  const float nan = from_bits(0x7fc00000u), negative_nan = from_bits(0xffc00001u);
  for (int sm : {80, 90}) {
    EXPECT_EQ(kCanonicalNan, bits(dot(sm, {nan, 1, 0, 0, 0, 0, 0, 0}, 1.0f)));
    EXPECT_EQ(kCanonicalNan, bits(dot(sm, {1, 0, 0, 0, 0, 0, 0, 0}, negative_nan)));
    EXPECT_EQ(kCanonicalNan, bits(dot(sm, {0, 0, 0, 0, 0, 0, 0, 1}, 0.0f, {0, 0, 0, 0, 0, 0, 0, nan})));
    EXPECT_EQ(kCanonicalNan, bits(dot(sm, {kInf, 0, 0, 0, 0, 0, 0, 0}, 0.0f, {0, 0, 0, 0, 0, 0, 0, 0})));  // 0*Inf
    // A NaN whose payload is only in the low 13 bits is an Inf once A is truncated.
    EXPECT_BITS(kInf, dot(sm, {from_bits(0x7f800001u), 0, 0, 0, 0, 0, 0, 0}, 0.0f));
  }
}

TEST(MmaModel, InfinitiesPropagate) {
  for (int sm : {80, 90}) {
    EXPECT_BITS(kInf, dot(sm, {kInf, 1, 0, 0, 0, 0, 0, 0}, 1.0f, {2, 1, 0, 0, 0, 0, 0, 0}));
    EXPECT_BITS(-kInf, dot(sm, {kInf, 1, 0, 0, 0, 0, 0, 0}, 1.0f, {-2, 1, 0, 0, 0, 0, 0, 0}));
    EXPECT_BITS(-kInf, dot(sm, {1, 2, 3, 0, 0, 0, 0, 0}, -kInf));
    EXPECT_EQ(kCanonicalNan, bits(dot(sm, {kInf, -kInf, 0, 0, 0, 0, 0, 0}, 0.0f)));  // Inf - Inf
    EXPECT_EQ(kCanonicalNan, bits(dot(sm, {0, 0, 0, 0, 0, -kInf, 0, 0}, kInf)));     // across halves on sm_80
  }
}

// A finite sum of 2^128 or more: truncation toward zero, then conversion to FP32 overflows to Inf (the model's
// reading of [MMA-Sim]; the GPU test checks it on hardware).
TEST(MmaModel, OverflowGivesInf) {
  const float big = p2(127);
  for (int sm : {80, 90}) {
    EXPECT_BITS(kInf, dot(sm, {big, big, 0, 0, 0, 0, 0, 0}, 0.0f));
    EXPECT_BITS(-kInf, dot(sm, {-big, 0, 0, 0, 0, 0, 0, 0}, -std::numeric_limits<float>::max()));
    EXPECT_BITS(big, dot(sm, {big, big, -big, 0, 0, 0, 0, 0}, 0.0f));  // no overflow of the exact sum
  }
}

TEST(MmaModel, SubnormalsAreKept) {
  for (int sm : {80, 90}) {
    // 2^-130 is a TF32 subnormal; times 2^4 it is the smallest normal, times 2^-10 an FP32 subnormal.
    EXPECT_BITS(p2(-126), dot(sm, {p2(-130), 0, 0, 0, 0, 0, 0, 0}, 0.0f, {p2(4), 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_BITS(p2(-140), dot(sm, {p2(-130), 0, 0, 0, 0, 0, 0, 0}, 0.0f, {p2(-10), 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_BITS(p2(-149), dot(sm, {0, 0, 0, 0, 0, 0, 0, 0}, p2(-149)));  // subnormal C
    // A subnormal result is truncated toward zero at 2^-149: 2^-149 + 2^-150 -> 2^-149.
    EXPECT_BITS(p2(-149), dot(sm, {p2(-130), p2(-130), 0, 0, 0, 0, 0, 0}, 0.0f, {p2(-19), p2(-20), 0, 0, 0, 0, 0, 0}));
  }
}

// Every zero result is +0, whatever the signs: the truncated sum carries no sign.
TEST(MmaModel, ZeroResultsArePositive) {
  for (int sm : {80, 90}) {
    EXPECT_BITS(0.0f, dot(sm, {-0.0f, 0, 0, 0, 0, 0, 0, 0}, -0.0f));
    EXPECT_BITS(0.0f, dot(sm, {-1, 0, 0, 0, 0, 0, 0, 0}, 1.0f));
    EXPECT_BITS(0.0f, dot(sm, {-p2(-130), 0, 0, 0, 0, 0, 0, 0}, 0.0f, {p2(-20), 0, 0, 0, 0, 0, 0, 0}));  // < 2^-149
  }
}

// A zero operand is read with exponent -126, so 0 * 2^100 is a zero product with exponent -26 that still sets
// the alignment: the 2^-60 product beside it is cut ([MMA-Sim]'s reading of zeros; the GPU test checks it).
TEST(MmaModel, ZeroProductsTakePartInTheAlignment) {
  for (int sm : {80, 90}) {
    EXPECT_BITS(0.0f, dot(sm, {0, p2(-60), 0, 0, 0, 0, 0, 0}, 0.0f, {p2(100), 1, 0, 0, 0, 0, 0, 0}));
    EXPECT_BITS(p2(-60), dot(sm, {0, p2(-60), 0, 0, 0, 0, 0, 0}, 0.0f, {p2(10), 1, 0, 0, 0, 0, 0, 0}));
  }
}

// Random TF32 matrices against double: per step each of at most 9 terms loses less than 2^-F of the largest term
// and the FP32 rounding less than 2^-23 of the result, so |D - exact| <= 2^-18 (|c| + sum_k |a_k b_k|) holds
// with room for sm_80's two steps.
TEST(MmaModel, RandomMatricesAgreeWithDoubleWithinTheBound) {
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-8, 8);
  for (int sm : {80, 86, 89, 90}) {
    for (int trial = 0; trial < 200; ++trial) {
      float a[16 * 8], b[8 * 8], c[16 * 8], d[16 * 8];
      for (float& x : a) x = cudasim::tf32_round(std::ldexp(uniform(rng), exponent(rng)));
      for (float& x : b) x = cudasim::tf32_round(std::ldexp(uniform(rng), exponent(rng)));
      for (float& x : c) x = std::ldexp(uniform(rng), exponent(rng));
      cudasim::mma_tf32_m16n8k8(a, b, c, d, sm);
      for (int i = 0; i < 16; ++i) {
        for (int j = 0; j < 8; ++j) {
          double exact = c[i * 8 + j], magnitude = std::fabs(c[i * 8 + j]);
          for (int k = 0; k < 8; ++k) {
            exact += double(a[i * 8 + k]) * b[k * 8 + j];
            magnitude += std::fabs(double(a[i * 8 + k]) * b[k * 8 + j]);
          }
          ASSERT_LE(std::fabs(d[i * 8 + j] - exact), std::ldexp(magnitude, -18))
              << "sm_" << sm << " trial " << trial << " element (" << i << ", " << j << ")";
        }
      }
    }
  }
}

// The matrix form is the dot product per element, with B read by column, and d may alias c.
TEST(MmaModel, MatrixFormIsTheDotProductPerElement) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-4.0f, 4.0f);
  float a[16 * 8], b[8 * 8], c[16 * 8], d[16 * 8];
  for (float& x : a) x = uniform(rng);
  for (float& x : b) x = uniform(rng);
  for (float& x : c) x = uniform(rng);
  for (int sm : {80, 90}) {
    float in_place[16 * 8];
    std::memcpy(in_place, c, sizeof c);
    cudasim::mma_tf32_m16n8k8(a, b, c, d, sm);
    cudasim::mma_tf32_m16n8k8(a, b, in_place, in_place, sm);
    for (int i = 0; i < 16; ++i) {
      for (int j = 0; j < 8; ++j) {
        Vector row, column;
        for (int k = 0; k < 8; ++k) {
          row[k] = a[i * 8 + k];
          column[k] = b[k * 8 + j];
        }
        EXPECT_BITS(dot(sm, row, c[i * 8 + j], column), d[i * 8 + j]);
        EXPECT_BITS(d[i * 8 + j], in_place[i * 8 + j]);
      }
    }
  }
}

}  // namespace
