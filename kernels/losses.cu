// Fused losses: each launcher writes the scalar value and the gradient of that value in one launch sequence.
//
// Content (MSE):  value = mean((p - t)^2) over `count` elements;  dp = 2 (p - t) / count.
// Style (Gram MSE), features F: (N, C, plane), target T: (C, C) shared by the batch or (N, C, C) one per image
// (T_n below is then the n-th), G_n = F_n F_n^T / (C plane):
//   value = (1/N) sum_n (1/C^2) sum_ij (G_n - T)_ij^2
//   dvalue/dG_n = 2 (G_n - T) / (N C^2), and through G_n = F_n F_n^T / (C plane) (gram.cu's backward):
//   dF_n = (E_n F_n) 2 / (N C^3 plane),  E_n = (G_n - T) + (G_n - T)^T = 2 (G_n - T) for a symmetric target.
//   Using E keeps the gradient exact when a caller's target is not quite symmetric.
// LSGAN (Mao et al. 2017): D: value = mean((score_real - 1)^2) + mean(score_fake^2); G: value = mean((score_fake -
// 1)^2);
//   the gradient of mean((x - a)^2) is 2 (x - a) / count.
// Reductions are fixed-order trees (kernels/reduce_tree.cuh): no floating-point atomics, same bits every run.
//
// gram_mse workspace, in elements of T: [S N C C split-K partial Grams][N C C E][first-pass partials].
#include <stdexcept>
#include <string>

#include "kernels/gram.cuh"
#include "kernels/launch.h"
#include "kernels/launchers.h"
#include "kernels/reduce_tree.cuh"

namespace gramgan::GG_BACKEND {
namespace {

using detail::kReduceThreads;
using detail::reduce_blocks;

// Squared distance of x[i] to a target (an array, or a constant when target is null) and its gradient
// scale * (x[i] - target) written to dx[i]; `scale` is 2 / count.
template <class T>
__global__ void __launch_bounds__(kReduceThreads)
    squared_error_kernel(std::size_t count, const T* x, const T* target, T constant, T scale, T* dx, T* partials) {
  GG_KERNEL_BOUNDS(kReduceThreads);
  T acc = T(0);
  for (std::size_t i = detail::reduce_first_item(); i < count; i += detail::reduce_item_stride()) {
    const T diff = x[i] - (target != nullptr ? target[i] : constant);
    acc += diff * diff;
    dx[i] = scale * diff;
  }
  acc = block_sum<kReduceThreads>(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

// Sums the split-K partial Grams, scales them to G, and writes E = (G - T) + (G - T)^T and first-pass partials of
// sum (G - T)^2. The partials at (r, c) and (c, r) are equal (gram_tiles_kernel mirrors), so G stays symmetric.
template <class T>
__global__ void __launch_bounds__(kReduceThreads)
    gram_difference_kernel(int channels, std::size_t total, int splits, const T* split_grams, T scale, const T* target,
                           bool target_per_image, T* sym_difference, T* partials) {
  GG_KERNEL_BOUNDS(kReduceThreads);
  const std::size_t square = std::size_t(channels) * channels;
  T acc = T(0);
  for (std::size_t i = detail::reduce_first_item(); i < total; i += detail::reduce_item_stride()) {
    const T g = detail::gram_split_sum(split_grams, total, splits, i) * scale;
    const std::size_t rc = i % square, r = rc / channels, c = rc % channels;
    const T* target_n = target + (target_per_image ? i - rc : 0);
    const T diff = g - target_n[rc];
    acc += diff * diff;
    sym_difference[i] = diff + (g - target_n[c * channels + r]);
  }
  acc = block_sum<kReduceThreads>(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

dim3 reduce_grid(std::size_t count) { return dim3(unsigned(reduce_blocks(count))); }

template <class T>
void finalize_sum(const T* partials, std::size_t n1, double scale1, std::size_t n2, double scale2, T* value,
                  StreamHandle stream) {
  launch<detail::reduce_finalize_kernel<T, SumOp>>(dim3(1), dim3(kReduceThreads), 0, stream, partials, n1, T(scale1),
                                                   n2, T(scale2), SumOp{}, T(0), value);
}

void require(bool ok, const char* launcher, const std::string& what) {
  if (!ok) throw std::invalid_argument(std::string(launcher) + ": " + what);
}

void check_gram_mse_shape(int batch, int channels, int plane) {
  require(batch >= 1 && channels >= 1 && plane >= 1, "gram_mse",
          "need batch >= 1, channels >= 1 and plane >= 1; got batch " + std::to_string(batch) + ", channels " +
              std::to_string(channels) + ", plane " + std::to_string(plane));
  require(batch <= 65535, "gram_mse", "batch " + std::to_string(batch) + " exceeds 65535");
}

}  // namespace

// ---- content: MSE ----

std::size_t mse_workspace(std::size_t count, StreamHandle) { return reduce_blocks(count); }

template <class T>
void mse_forward_backward(std::size_t count, const T* prediction, const T* target, T* value, T* dprediction,
                          T* workspace, StreamHandle stream) {
  require(count > 0, "mse_forward_backward", "count must be positive (the mean of nothing is undefined)");
  require(prediction && target && value && dprediction && workspace, "mse_forward_backward", "null device pointer");
  launch<squared_error_kernel<T>>(reduce_grid(count), dim3(kReduceThreads), 0, stream, count, prediction, target, T(0),
                                  T(2.0 / double(count)), dprediction, workspace);
  finalize_sum(workspace, reduce_blocks(count), 1.0 / double(count), 0, 0.0, value, stream);
}

// ---- style: Gram MSE ----

std::size_t gram_mse_workspace(int batch, int channels, int plane, StreamHandle) {
  check_gram_mse_shape(batch, channels, plane);
  const std::size_t total = std::size_t(batch) * channels * channels;
  return std::size_t(detail::gram_split(batch, channels, plane).splits) * total + total + reduce_blocks(total);
}

template <class T>
void gram_mse_forward_backward(int batch, int channels, int plane, const T* features, const T* target_gram,
                               bool target_per_image, T* value, T* dfeatures, T* workspace, StreamHandle stream) {
  check_gram_mse_shape(batch, channels, plane);
  require(features && target_gram && value && dfeatures && workspace, "gram_mse_forward_backward",
          "null device pointer");
  const detail::GramSplit split = detail::gram_split(batch, channels, plane);
  const std::size_t total = std::size_t(batch) * channels * channels;
  T* split_grams = workspace;
  T* sym_difference = split_grams + std::size_t(split.splits) * total;
  T* partials = sym_difference + total;
  const double c = channels, p = plane;

  // FP32 whatever --precision says: the loss is the difference of two Grams (kernels/gram.cu says why).
  detail::launch_gram_tiles(GramShape{batch, channels, plane}, split, features, T(1), split_grams, stream);
  launch<gram_difference_kernel<T>>(reduce_grid(total), dim3(kReduceThreads), 0, stream, channels, total, split.splits,
                                    split_grams, T(1.0 / (c * p)), target_gram, target_per_image, sym_difference,
                                    partials);
  const dim3 apply(unsigned((plane + detail::kGramTile - 1) / detail::kGramTile),
                   unsigned(detail::gram_row_tiles(channels)), unsigned(batch));
  launch<detail::gram_apply_kernel<T>>(apply, dim3(detail::kGramThreads), 0, stream, channels, plane, sym_difference,
                                       false, features, T(2.0 / (double(batch) * c * c * c * p)), dfeatures);
  finalize_sum(partials, reduce_blocks(total), 1.0 / (double(batch) * c * c), 0, 0.0, value, stream);
}

// ---- adversarial: LSGAN ----

std::size_t lsgan_workspace(std::size_t count_real, std::size_t count_fake, StreamHandle) {
  return reduce_blocks(count_real) + reduce_blocks(count_fake);
}

template <class T>
void lsgan_d_forward_backward(std::size_t count_real, const T* score_real, std::size_t count_fake, const T* score_fake,
                              T* value, T* dscore_real, T* dscore_fake, T* workspace, StreamHandle stream) {
  require(count_real > 0 && count_fake > 0, "lsgan_d_forward_backward",
          "count_real and count_fake must be positive (the mean of nothing is undefined)");
  require(score_real && score_fake && value && dscore_real && dscore_fake && workspace, "lsgan_d_forward_backward",
          "null device pointer");
  const std::size_t real_blocks = reduce_blocks(count_real), fake_blocks = reduce_blocks(count_fake);
  launch<squared_error_kernel<T>>(reduce_grid(count_real), dim3(kReduceThreads), 0, stream, count_real, score_real,
                                  static_cast<const T*>(nullptr), T(1), T(2.0 / double(count_real)), dscore_real,
                                  workspace);
  launch<squared_error_kernel<T>>(reduce_grid(count_fake), dim3(kReduceThreads), 0, stream, count_fake, score_fake,
                                  static_cast<const T*>(nullptr), T(0), T(2.0 / double(count_fake)), dscore_fake,
                                  workspace + real_blocks);
  finalize_sum(workspace, real_blocks, 1.0 / double(count_real), fake_blocks, 1.0 / double(count_fake), value, stream);
}

template <class T>
void lsgan_g_forward_backward(std::size_t count, const T* score_fake, T* value, T* dscore_fake, T* workspace,
                              StreamHandle stream) {
  require(count > 0, "lsgan_g_forward_backward", "count must be positive (the mean of nothing is undefined)");
  require(score_fake && value && dscore_fake && workspace, "lsgan_g_forward_backward", "null device pointer");
  launch<squared_error_kernel<T>>(reduce_grid(count), dim3(kReduceThreads), 0, stream, count, score_fake,
                                  static_cast<const T*>(nullptr), T(1), T(2.0 / double(count)), dscore_fake, workspace);
  finalize_sum(workspace, reduce_blocks(count), 1.0 / double(count), 0, 0.0, value, stream);
}

#define GG_INSTANTIATE(T)                                                                                        \
  template void mse_forward_backward<T>(std::size_t, const T*, const T*, T*, T*, T*, StreamHandle);              \
  template void gram_mse_forward_backward<T>(int, int, int, const T*, const T*, bool, T*, T*, T*, StreamHandle); \
  template void lsgan_d_forward_backward<T>(std::size_t, const T*, std::size_t, const T*, T*, T*, T*, T*,        \
                                            StreamHandle);                                                       \
  template void lsgan_g_forward_backward<T>(std::size_t, const T*, T*, T*, T*, StreamHandle);
GG_INSTANTIATE(float)
GG_INSTANTIATE(double)
#undef GG_INSTANTIATE

}  // namespace gramgan::GG_BACKEND
