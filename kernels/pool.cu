// 2x2 pooling, stride 2, over every plane; odd last rows / columns are dropped (floor), as in VGG and PyTorch.
//
// x, dx: (planes, H, W); y, dy: (planes, H/2, W/2).
//   max:     y = max of the window; backward: dy goes to the first maximum of the window in row-major order
//            (a NaN counts as the maximum, so NaNs propagate); the other three get 0.
//   average: y = (x00 + x01 + x10 + x11) / 4; backward: each of the four gets dy / 4.
// Every dx element is written, 0 in the dropped edges.
//
// One thread per output element forward and one per input element backward (grid-stride), so the stores are
// coalesced and no two threads write the same element. Backward re-reads the window's four x values to find the
// winner instead of saving indices: the window sits in one or two cache lines that neighbouring threads load too.
// Indices are 32-bit when the tensor allows, because 64-bit division is several times dearer on a GPU.
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/launch.h"
#include "kernels/launchers.h"

namespace gramgan::GG_BACKEND {
namespace {

constexpr int kThreads = 256;
constexpr std::size_t kMaxBlocks = 2048;

template <class T>
__device__ __forceinline__ bool beats(T candidate, T best) {
  return candidate > best || (candidate != candidate && best == best);
}

// The first maximum of (x00, x01, x10, x11) in row-major order and its position 0..3. The running best is kept
// as a value, not looked up by its position, so the window is never indexed at run time and stays in registers.
template <class T>
struct WindowMax {
  T value;
  int position;
};
template <class T>
__device__ __forceinline__ WindowMax<T> window_max(const T (&w)[4]) {
  WindowMax<T> best = {w[0], 0};
  for (int j = 1; j < 4; ++j)
    if (beats(w[j], best.value)) best = {w[j], j};
  return best;
}

// Flat index i of a (planes, height, width) tensor as (plane, row, column).
template <class Index>
struct PlanePosition {
  Index plane;
  int row, col;
};
template <class Index>
__device__ __forceinline__ PlanePosition<Index> plane_position(Index i, int height, int width) {
  const Index row = i / Index(width);
  const int col = int(i - row * Index(width));
  const Index plane = row / Index(height);
  return {plane, int(row - plane * Index(height)), col};
}

template <class T>
__device__ __forceinline__ void load_window(const T* x, std::size_t top_left, int width, T (&w)[4]) {
  w[0] = x[top_left];
  w[1] = x[top_left + 1];
  w[2] = x[top_left + width];
  w[3] = x[top_left + width + 1];
}

template <class T, class Index>
__global__ void __launch_bounds__(kThreads)
    pool2x2_forward_kernel(Pool pool, Index total, int height, int width, const T* x, T* y) {
  GG_KERNEL_BOUNDS(kThreads);
  const int out_h = height / 2, out_w = width / 2;
  const Index stride = Index(gridDim.x) * kThreads;
  for (Index i = Index(blockIdx.x) * kThreads + threadIdx.x; i < total; i += stride) {
    const auto [plane, oy, ox] = plane_position(i, out_h, out_w);
    T w[4];
    load_window(x, (std::size_t(plane) * height + 2 * oy) * width + 2 * ox, width, w);
    y[i] = pool == Pool::max ? window_max(w).value : ((w[0] + w[1]) + (w[2] + w[3])) * T(0.25);
  }
}

template <class T, class Index>
__global__ void __launch_bounds__(kThreads)
    pool2x2_backward_kernel(Pool pool, Index total, int height, int width, const T* x, const T* dy, T* dx) {
  GG_KERNEL_BOUNDS(kThreads);
  const int out_h = height / 2, out_w = width / 2;
  const Index stride = Index(gridDim.x) * kThreads;
  for (Index i = Index(blockIdx.x) * kThreads + threadIdx.x; i < total; i += stride) {
    const auto [plane, r, col] = plane_position(i, height, width);
    const int oy = r / 2, ox = col / 2;
    T g = T(0);
    if (oy < out_h && ox < out_w) {
      const T upstream = dy[(std::size_t(plane) * out_h + oy) * out_w + ox];
      if (pool == Pool::average) {
        g = upstream * T(0.25);
      } else {
        T w[4];
        load_window(x, (std::size_t(plane) * height + 2 * oy) * width + 2 * ox, width, w);
        if (window_max(w).position == (r % 2) * 2 + col % 2) g = upstream;
      }
    }
    dx[i] = g;
  }
}

dim3 grid_for(std::size_t total) {
  return dim3(unsigned(std::clamp<std::size_t>((total + kThreads - 1) / kThreads, 1, kMaxBlocks)));
}

// 32-bit indices while i + stride cannot wrap.
bool fits_32(std::size_t total) { return total < (std::size_t(1) << 31); }

void check_args(const char* launcher, Pool pool, int planes, int height, int width) {
  if (pool != Pool::max && pool != Pool::average)
    throw std::invalid_argument(std::string(launcher) + ": unknown pool mode " + std::to_string(int(pool)));
  if (planes <= 0 || height < 2 || width < 2)
    throw std::invalid_argument(std::string(launcher) + ": need planes > 0 and height, width >= 2 for a 2x2 window, " +
                                "got planes=" + std::to_string(planes) + " height=" + std::to_string(height) +
                                " width=" + std::to_string(width));
}

void check_pointer(const char* launcher, const void* p, const char* name) {
  if (p == nullptr) throw std::invalid_argument(std::string(launcher) + ": " + name + " is null");
}

}  // namespace

template <class T>
void pool2x2_forward(Pool pool, int planes, int height, int width, const T* x, T* y, StreamHandle stream) {
  constexpr const char* kName = "pool2x2_forward";
  check_args(kName, pool, planes, height, width);
  check_pointer(kName, x, "x");
  check_pointer(kName, y, "y");
  const std::size_t total = std::size_t(planes) * (height / 2) * (width / 2);
  if (fits_32(total))
    launch<pool2x2_forward_kernel<T, std::uint32_t>>(grid_for(total), dim3(kThreads), 0, stream, pool,
                                                     std::uint32_t(total), height, width, x, y);
  else
    launch<pool2x2_forward_kernel<T, std::size_t>>(grid_for(total), dim3(kThreads), 0, stream, pool, total, height,
                                                   width, x, y);
}

template <class T>
void pool2x2_backward(Pool pool, int planes, int height, int width, const T* x, const T* dy, T* dx,
                      StreamHandle stream) {
  constexpr const char* kName = "pool2x2_backward";
  check_args(kName, pool, planes, height, width);
  if (pool == Pool::max) check_pointer(kName, x, "x (max pooling routes the gradient by the input)");
  check_pointer(kName, dy, "dy");
  check_pointer(kName, dx, "dx");
  const std::size_t total = std::size_t(planes) * height * width;
  if (fits_32(total))
    launch<pool2x2_backward_kernel<T, std::uint32_t>>(grid_for(total), dim3(kThreads), 0, stream, pool,
                                                      std::uint32_t(total), height, width, x, dy, dx);
  else
    launch<pool2x2_backward_kernel<T, std::size_t>>(grid_for(total), dim3(kThreads), 0, stream, pool, total, height,
                                                    width, x, dy, dx);
}

template void pool2x2_forward<float>(Pool, int, int, int, const float*, float*, StreamHandle);
template void pool2x2_forward<double>(Pool, int, int, int, const double*, double*, StreamHandle);
template void pool2x2_backward<float>(Pool, int, int, int, const float*, const float*, float*, StreamHandle);
template void pool2x2_backward<double>(Pool, int, int, int, const double*, const double*, double*, StreamHandle);

}  // namespace gramgan::GG_BACKEND
