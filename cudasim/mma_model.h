// The arithmetic of NVIDIA tensor cores for mma.sync m16n8k8 .tf32 with FP32 accumulate, per architecture: what
// the simulator's warp-level MMA computes (block_scheduler.cpp) and what tests use as a host reference. Plain C++,
// no kernel language: engine code and tests may include it.
//
// Sources (the model was written from their descriptions, not from their code):
//   [MMA-Sim] P. Xie, Y. Wang, F. Yang, M. Yang, "MMA-Sim: Bit-Accurate Reference Model of Tensor Cores and Matrix
//       Cores", arXiv:2511.10909 (2025), and its simulator (github microsoft/MMA-Sim, 2026-01 snapshot:
//       mmasim/simulator/arithmetic.py nv_fused_dot_add, mmasim/simulator/nv_ptx.py class mma), reported
//       bit-identical to Volta..Blackwell hardware on randomised tests.
//   [KM25] F. A. Khattak, M. Mikaitis, "Accurate Models of NVIDIA Tensor Cores", arXiv:2512.07004 (2025): models of
//       V100/A100/H100/B200 refined until bit-accurate on 10^5 random vectors.
//   [FHMP21] M. Fasi, N. J. Higham, M. Mikaitis, S. Pranesh, "Numerical behavior of NVIDIA tensor cores", PeerJ
//       Comput. Sci. 7:e330 (2021): the first characterisation (V100, T4, A100) of intermediate precision,
//       subnormals, rounding mode, order and normalisation; the two above refine it to bit accuracy, and where they
//       are concrete the model follows [MMA-Sim]'s source.
//   [SASS] cvt.rna.tf32.f32 as compiled for sm_86: "add 0x1000 unless |x| >= Inf (or NaN), then clear the low 13
//       bits" (enp1s0.github.io/blog/cuda/2023/01/08/tf32-rna.html, a cuobjdump listing).
//
// One dot product d = c + sum_k a_k b_k of the MMA, as modelled ([MMA-Sim] nv_fused_dot_add; [KM25]):
//   1. A and B arrive as FP32 bit patterns; the low 13 bits are ignored (tf32_truncate). C is full FP32.
//   2. Each operand is read as significand * 2^exponent with the exponent of a zero or subnormal taken as -126
//      (no hidden bit). A product keeps its exact 22-bit significand product (in [0, 4): not renormalised) and the
//      exponent sum e_a + e_b, even when it is zero: a zero operand contributes the exponent -126 + e_other.
//   3. E = the largest exponent among the products AND the accumulator C. Every term (products and C) is scaled
//      to 2^E and truncated toward zero to F fractional bits: F = 24 on Ampere and Ada (sm_80/86/89), 25 on
//      Hopper (sm_90). The truncated terms are summed exactly.
//   4. The sum is normalised and rounded toward zero to FP32 (subnormal results truncated at 2^-149). A zero sum
//      is +0 whatever the signs of the inputs; a sum of 2^128 or more becomes +-Inf ([MMA-Sim] converts to FP32
//      after truncation, which overflows to Inf; no hardware result seen for it here: the GPU test checks it).
//   5. Inf and NaN: if any input is Inf or NaN, the result is what double arithmetic gives for c + sum a_k b_k
//      (Inf - Inf and 0 * Inf give NaN), and every NaN result is the canonical 0x7fffffff. A NaN whose payload
//      lies only in the low 13 bits of an A or B operand is an Inf after step 1.
// Ampere and Ada run the k = 8 operation as two k = 4 dot products chained through the accumulator: the first
// half's FP32 result (steps 1-5) is the C of the second half. Hopper computes all 8 products at once
// ([MMA-Sim] nv_ptx.py: is_split_k for tf32 k = 8 on Ampere and Ada Lovelace only).
//
// Fragment layouts are not modelled here: they belong to the warp operation (block_scheduler.cpp).
#pragma once

#include <cstdint>

namespace cudasim {

inline constexpr int kMmaM = 16, kMmaN = 8, kMmaK = 8;  // the m16n8k8 shape

// What one architecture's tensor cores do with a tf32 m16n8k8 dot product.
struct TensorCoreModel {
  int fraction_bits;  // F: fractional bits each aligned term keeps
  int chunk;          // products summed at once; k = 8 is run in 8 / chunk chained steps
};
// The model of architecture sm (80, 86, 89 or 90). Throws cudasim::Error for any other value.
TensorCoreModel tensor_core_model(int sm);

// x with its low 13 significand bits cleared: how mma reads an FP32 register given as a tf32 operand.
float tf32_truncate(float x);
// cvt.rna.tf32.f32: x rounded to TF32, to nearest with ties away from zero; Inf and NaN keep their high bits.
float tf32_round(float x);

// c + sum_{k<8} a[k] * b[k] as one row-times-column of mma.m16n8k8.f32.tf32.tf32.f32 on architecture sm.
float mma_tf32_dot(const float* a, const float* b, float c, int sm);
// D = A * B + C on architecture sm, row-major: a (16, 8), b (8, 8), c and d (16, 8). d may alias c.
void mma_tf32_m16n8k8(const float* a, const float* b, const float* c, float* d, int sm);

}  // namespace cudasim
