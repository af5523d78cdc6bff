// Total variation of images, value and gradient in one launch sequence.
//
// x, dx: (N, C, H, W). Terms at i < H-1, j < W-1 of every (n, c), with dh = u[i,j] - u[i+1,j] and
// dw = u[i,j] - u[i,j+1]:
//   sqrt:    f = sqrt(dh^2 + dw^2 + eps)      df/du[i,j] = (dh + dw)/f, df/du[i+1,j] = -dh/f, df/du[i,j+1] = -dw/f
//   squared: f = dh^2 + dw^2                 df/du[i,j] = 2 (dh + dw), df/du[i+1,j] = -2 dh, df/du[i,j+1] = -2 dw
//   value = sum f / (N C (H-1)(W-1))   (DESIGN.md section 3)
// One thread per pixel (grid-stride) gathers the up to three terms that touch it: its own (i, j), the one above
// (i-1, j) and the one to its left (i, j-1), recomputing their differences rather than scattering with atomics.
// The value's sum is a fixed-order tree (kernels/reduce_tree.cuh); workspace: tv_workspace elements.
#include <stdexcept>
#include <string>

#include "kernels/launch.h"
#include "kernels/launchers.h"
#include "kernels/reduce_tree.cuh"

namespace gramgan::GG_BACKEND {
namespace {

using detail::kReduceThreads;

// Term (i, j) of the plane u: its value f, and `inv` so that df/du = (dh + dw, -dh, -dw) * inv.
template <class T>
struct TvTerm {
  T dh, dw, f, inv;
};

template <class T>
__device__ __forceinline__ TvTerm<T> tv_term(bool sqrt_mode, T eps, const T* u, int width, int i, int j) {
  const T center = u[std::size_t(i) * width + j];
  TvTerm<T> term;
  term.dh = center - u[std::size_t(i + 1) * width + j];
  term.dw = center - u[std::size_t(i) * width + j + 1];
  const T squares = term.dh * term.dh + term.dw * term.dw;
  if (sqrt_mode) {
    term.f = sqrt(squares + eps);
    term.inv = T(1) / term.f;
  } else {
    term.f = squares;
    term.inv = T(2);
  }
  return term;
}

template <class T>
__global__ void __launch_bounds__(kReduceThreads) tv_kernel(bool sqrt_mode, T eps, std::size_t pixels, int height,
                                                            int width, T inv_terms, const T* x, T* dx, T* partials) {
  GG_KERNEL_BOUNDS(kReduceThreads);
  const std::size_t plane = std::size_t(height) * width;
  T acc = T(0);
  for (std::size_t p = detail::reduce_first_item(); p < pixels; p += detail::reduce_item_stride()) {
    const T* u = x + p / plane * plane;
    const int i = int(p % plane / width), j = int(p % plane % width);
    T grad = T(0);
    if (i < height - 1 && j < width - 1) {
      const TvTerm<T> own = tv_term(sqrt_mode, eps, u, width, i, j);
      acc += own.f;
      grad += (own.dh + own.dw) * own.inv;
    }
    if (i > 0 && j < width - 1) {
      const TvTerm<T> above = tv_term(sqrt_mode, eps, u, width, i - 1, j);
      grad -= above.dh * above.inv;
    }
    if (j > 0 && i < height - 1) {
      const TvTerm<T> left = tv_term(sqrt_mode, eps, u, width, i, j - 1);
      grad -= left.dw * left.inv;
    }
    dx[p] = grad * inv_terms;
  }
  acc = block_sum<kReduceThreads>(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

std::size_t tv_pixels(const char* launcher, int batch, int channels, int height, int width) {
  const std::string name(launcher);
  if (batch < 1 || channels < 1)
    throw std::invalid_argument(name + ": need batch >= 1 and channels >= 1; got batch " + std::to_string(batch) +
                                ", channels " + std::to_string(channels));
  if (height < 2 || width < 2)
    throw std::invalid_argument(name + ": total variation needs height >= 2 and width >= 2; got " +
                                std::to_string(height) + " x " + std::to_string(width));
  return std::size_t(batch) * channels * height * width;
}

}  // namespace

std::size_t tv_workspace(int batch, int channels, int height, int width, StreamHandle) {
  return detail::reduce_blocks(tv_pixels("tv_workspace", batch, channels, height, width));
}

template <class T>
void tv_forward_backward(TvMode mode, T eps, int batch, int channels, int height, int width, const T* x, T* value,
                         T* dx, T* workspace, StreamHandle stream) {
  const std::size_t pixels = tv_pixels("tv_forward_backward", batch, channels, height, width);
  if (x == nullptr || value == nullptr || dx == nullptr || workspace == nullptr)
    throw std::invalid_argument("tv_forward_backward: null device pointer");
  if (mode == TvMode::sqrt && !(eps >= T(0)))
    throw std::invalid_argument("tv_forward_backward: eps must be >= 0 (use e.g. 1e-8 to keep flat regions finite)");
  const double terms = double(batch) * channels * (height - 1) * (width - 1);
  const std::size_t blocks = detail::reduce_blocks(pixels);
  launch<tv_kernel<T>>(dim3(unsigned(blocks)), dim3(kReduceThreads), 0, stream, mode == TvMode::sqrt, eps, pixels,
                       height, width, T(1.0 / terms), x, dx, workspace);
  launch<detail::reduce_finalize_kernel<T, SumOp>>(dim3(1), dim3(kReduceThreads), 0, stream,
                                                   static_cast<const T*>(workspace), blocks, T(1.0 / terms),
                                                   std::size_t(0), T(0), SumOp{}, T(0), value);
}

template void tv_forward_backward<float>(TvMode, float, int, int, int, int, const float*, float*, float*, float*,
                                         StreamHandle);
template void tv_forward_backward<double>(TvMode, double, int, int, int, int, const double*, double*, double*, double*,
                                          StreamHandle);

}  // namespace gramgan::GG_BACKEND
