// Gram matrices of feature maps, for the style loss.
//
// features: (N, C, plane) with plane = H W; gram: (N, C, C).
//   forward:  gram[n] = F_n F_n^T / (C plane)                       (DESIGN.md section 3)
//   backward: dfeatures[n] = (dgram[n] + dgram[n]^T) F_n / (C plane)
// The kernels live in kernels/gram.cuh (losses.cu's style loss uses them too). The forward computes only the
// tiles on or above the diagonal and mirrors them, so the result is exactly symmetric. When the tiles alone give
// too few blocks (relu1_1: C = 64 is one tile per image, K = plane = 65536) it splits K: partial Grams go to the
// workspace, (S, N, C, C), and gram_split_sum_kernel adds them in a fixed order. The split depends only on the
// shape, and matches gram_mse_forward_backward's, so on one backend both compute the same bits of G.
//
// Precision. GramShape::precision == tf32 runs the float forward's tiles on tensor cores (gram_tiles_tf32_kernel,
// kernels/gram.cuh), same split plan and split sum, no atomics. The engine's Gram (ops::gram_forward) and the style
// loss (gram_mse_forward_backward) stay FP32 under --precision tf32, which applies to convolutions only, for two
// reasons: it is PyTorch's default (cudnn.allow_tf32 is True, but matmuls, hence the Gram, need
// torch.backends.cuda.matmul.allow_tf32, False by default since 1.12), so the comparison with it stays like for
// like; and the style loss is the squared difference G - target of two Grams of similar size, where TF32's operand
// rounding (about 2^-10 of each entry's magnitude, against 2^-23 in FP32) becomes a large relative error of the
// difference once training has brought G near its target. The Gram is also a small share of a step's FLOPs next
// to the VGG convolutions. The tf32 kernel is verified (tests/test_gram.cpp) and benchmarked (bench_gpu) for an
// opt-in later.
#include <stdexcept>
#include <string>

#include "kernels/gram.cuh"
#include "kernels/launch.h"
#include "kernels/launchers.h"

namespace gramgan::GG_BACKEND {
namespace {

void check_gram_args(const char* launcher, int batch, int channels, int plane, const void* a, const void* b,
                     const void* c) {
  const std::string name(launcher);
  if (batch < 0 || channels < 1 || plane < 1)
    throw std::invalid_argument(name + ": need batch >= 0, channels >= 1 and plane >= 1; got batch " +
                                std::to_string(batch) + ", channels " + std::to_string(channels) + ", plane " +
                                std::to_string(plane));
  if (batch > 65535) throw std::invalid_argument(name + ": batch " + std::to_string(batch) + " exceeds 65535");
  if (batch > 0 && (a == nullptr || b == nullptr || c == nullptr))
    throw std::invalid_argument(name + ": null device pointer");
}

constexpr int kSumThreads = 256;
constexpr std::size_t kSumMaxBlocks = 4096;

template <class T>
__global__ void __launch_bounds__(kSumThreads)
    gram_split_sum_kernel(std::size_t total, int splits, const T* split_grams, T scale, T* gram) {
  GG_KERNEL_BOUNDS(kSumThreads);
  const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
  for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride)
    gram[i] = detail::gram_split_sum(split_grams, total, splits, i) * scale;
}

}  // namespace

std::size_t gram_forward_workspace(const GramShape& shape, StreamHandle) {
  const int batch = shape.batch, channels = shape.channels, plane = shape.plane;
  check_gram_args("gram_forward_workspace", batch, channels, plane, &batch, &batch, &batch);
  const detail::GramSplit split = detail::gram_split(batch, channels, plane);
  return split.splits > 1 ? std::size_t(split.splits) * batch * channels * channels : 0;
}

template <class T>
void gram_forward(const GramShape& shape, const T* features, T* gram, T* workspace, StreamHandle stream) {
  const int batch = shape.batch, channels = shape.channels, plane = shape.plane;
  check_gram_args("gram_forward", batch, channels, plane, features, gram, gram);
  if (batch == 0) return;
  const T scale = T(1.0 / (double(channels) * double(plane)));
  const detail::GramSplit split = detail::gram_split(batch, channels, plane);
  if (split.splits == 1) {
    detail::launch_gram_tiles(shape, split, features, scale, gram, stream);
    return;
  }
  if (workspace == nullptr)
    throw std::invalid_argument("gram_forward: null workspace; this shape needs gram_forward_workspace(" +
                                std::to_string(batch) + ", " + std::to_string(channels) + ", " + std::to_string(plane) +
                                ") elements");
  detail::launch_gram_tiles(shape, split, features, T(1), workspace, stream);
  const std::size_t total = std::size_t(batch) * channels * channels;
  std::size_t blocks = (total + kSumThreads - 1) / kSumThreads;
  if (blocks > kSumMaxBlocks) blocks = kSumMaxBlocks;
  launch<gram_split_sum_kernel<T>>(dim3(unsigned(blocks)), dim3(kSumThreads), 0, stream, total, split.splits,
                                   static_cast<const T*>(workspace), scale, gram);
}

template <class T>
void gram_backward(int batch, int channels, int plane, const T* features, const T* dgram, T* dfeatures,
                   StreamHandle stream) {
  check_gram_args("gram_backward", batch, channels, plane, features, dgram, dfeatures);
  if (batch == 0) return;
  const T scale = T(1.0 / (double(channels) * double(plane)));
  const dim3 grid(unsigned((plane + detail::kGramTile - 1) / detail::kGramTile),
                  unsigned(detail::gram_row_tiles(channels)), unsigned(batch));
  launch<detail::gram_apply_kernel<T>>(grid, dim3(detail::kGramThreads), 0, stream, channels, plane, dgram, true,
                                       features, scale, dfeatures);
}

template void gram_forward<float>(const GramShape&, const float*, float*, float*, StreamHandle);
template void gram_forward<double>(const GramShape&, const double*, double*, double*, StreamHandle);
template void gram_backward<float>(int, int, int, const float*, const float*, float*, StreamHandle);
template void gram_backward<double>(int, int, int, const double*, const double*, double*, StreamHandle);

}  // namespace gramgan::GG_BACKEND
