// Shared pieces of the tf32 kernel tests (test_conv2d, test_gram): the TF32 error bound against double, and the
// host model of a tensor-core GEMM built from the simulator's arithmetic model (cudasim/mma_model.h).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "cudasim/mma_model.h"

namespace gramgan::test {

// The TF32 error bound, relative to the magnitude (the same sum over |terms|). An operand rounded to TF32 by
// cvt.rna (11-bit significand) is within u = 2^-11 of itself, so a product of two is within 2u + u^2 of the exact
// product. Each tensor-core step (one m16n8k8 dot: 8 products and the accumulator) truncates each of its up to 9
// aligned terms to 2^-24 of the largest term (F >= 24 fractional bits) and rounds the sum toward zero to FP32
// (2^-23 of the result): at most 11 units of 2^-24 of the magnitude so far; Ampere's two k = 4 halves make it
// 2 (5 + 2) = 14 units. `fp32_units`: those units over the whole computation (14 per MMA of the chain, plus 1 per
// FP32 add or multiply: bias, split sum, a data-gradient gather of mirrored reads, a scale).
template <class T>
void expect_tf32_close(const std::vector<T>& got, const std::vector<double>& ref, const std::vector<double>& magnitude,
                       double operand_error, double fp32_units, const char* what, double* max_relative) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  const double bound = 1.01 * (operand_error + fp32_units * std::ldexp(1.0, -24));
  int failures = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double error = std::abs(double(got[i]) - ref[i]);
    if (magnitude[i] > 0) *max_relative = std::max(*max_relative, error / magnitude[i]);
    if (!(error <= bound * magnitude[i]) && ++failures <= 5)
      ADD_FAILURE() << what << "[" << i << "] = " << got[i] << ", reference " << ref[i] << ", bound "
                    << bound * magnitude[i];
  }
  EXPECT_EQ(failures, 0) << what;
}
inline const double kTf32Unit = std::ldexp(1.0, -11);
inline const double kTf32Product = 2 * kTf32Unit + kTf32Unit * kTf32Unit;

// MMAs in the chain of a K-deep GEMM run in 32-deep stages.
inline double mma_steps(double k) { return std::ceil(k / 32) * 4; }

// The host model of a tf32 GEMM: C = A B as the kernels chain it per output element (acc = 0, then one tensor-core
// dot per 8 K indices in order, cudasim::mma_tf32_dot on architecture sm), over K padded with zeros to whole
// 32-deep stages. a: (M, K) and b: (K, N) row-major, already rounded to TF32.
inline std::vector<float> model_gemm(const std::vector<float>& a, const std::vector<float>& b, int m, int n, int k,
                                     int sm) {
  const int padded = (k + 31) / 32 * 32;
  std::vector<float> c(std::size_t(m) * n);
  float row[8], column[8];
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      float acc = 0;
      for (int k0 = 0; k0 < padded; k0 += 8) {
        for (int kk = 0; kk < 8; ++kk) {
          const bool in = k0 + kk < k;
          row[kk] = in ? a[std::size_t(i) * k + k0 + kk] : 0.0f;
          column[kk] = in ? b[std::size_t(k0 + kk) * n + j] : 0.0f;
        }
        acc = cudasim::mma_tf32_dot(row, column, acc, sm);
      }
      c[std::size_t(i) * n + j] = acc;
    }
  return c;
}

inline std::vector<float> rounded(std::vector<float> v) {
  for (float& x : v) x = cudasim::tf32_round(x);
  return v;
}

}  // namespace gramgan::test
