// Gram matrices of feature maps, for the style loss.
//
// features: (N, C, plane) with plane = H W; gram: (N, C, C).
//   forward:  gram[n] = F_n F_n^T / (C plane)                       (DESIGN.md section 3)
//   backward: dfeatures[n] = (dgram[n] + dgram[n]^T) F_n / (C plane)
// The kernels live in kernels/gram.cuh (losses.cu's style loss uses them too). The forward computes only the
// tiles on or above the diagonal and mirrors them, so the result is exactly symmetric. It runs the whole
// K = plane loop in one block per tile: without a workspace argument it cannot split K across blocks and still
// reduce deterministically (gram_mse_forward_backward, which has one, does split).
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

}  // namespace

template <class T>
void gram_forward(int batch, int channels, int plane, const T* features, T* gram, StreamHandle stream) {
  check_gram_args("gram_forward", batch, channels, plane, features, gram, gram);
  if (batch == 0) return;
  const T scale = T(1.0 / (double(channels) * double(plane)));
  const dim3 grid(unsigned(detail::gram_upper_tiles(channels)), 1, unsigned(batch));
  launch<detail::gram_tiles_kernel<T>>(grid, dim3(detail::kGramThreads), 0, stream, batch, channels, plane, plane,
                                       features, scale, gram);
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

template void gram_forward<float>(int, int, int, const float*, float*, StreamHandle);
template void gram_forward<double>(int, int, int, const double*, double*, StreamHandle);
template void gram_backward<float>(int, int, int, const float*, const float*, float*, StreamHandle);
template void gram_backward<double>(int, int, int, const double*, const double*, double*, StreamHandle);

}  // namespace gramgan::GG_BACKEND
