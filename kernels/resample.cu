// Nearest-neighbour upsampling x2 (the generator's up64 / up32 before a 3x3 conv).
//
// x, dx: (planes, H, W); y, dy: (planes, 2H, 2W).
//   forward:  y[p, i, j] = x[p, i / 2, j / 2]
//   backward: dx[p, i, j] = dy[p, 2i, 2j] + dy[p, 2i, 2j+1] + dy[p, 2i+1, 2j] + dy[p, 2i+1, 2j+1], summed in this
//             order (a gather: every dx element is written once, no atomics).
//
// One thread per written element (grid-stride), so the stores are coalesced. Indices are 32-bit when the tensor
// allows, because 64-bit division is several times dearer on a GPU.
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

template <class T, class Index>
__global__ void __launch_bounds__(kThreads)
    upsample2x_forward_kernel(Index total, int height, int width, const T* x, T* y) {
  GG_KERNEL_BOUNDS(kThreads);
  const int out_h = 2 * height, out_w = 2 * width;
  const Index stride = Index(gridDim.x) * kThreads;
  for (Index i = Index(blockIdx.x) * kThreads + threadIdx.x; i < total; i += stride) {
    const Index row = i / Index(out_w);
    const int ox = int(i - row * Index(out_w));
    const Index plane = row / Index(out_h);
    const int oy = int(row - plane * Index(out_h));
    y[i] = x[(std::size_t(plane) * height + oy / 2) * width + ox / 2];
  }
}

template <class T, class Index>
__global__ void __launch_bounds__(kThreads) upsample2x_backward_kernel(Index total, int width, const T* dy, T* dx) {
  GG_KERNEL_BOUNDS(kThreads);
  const int out_w = 2 * width;
  const Index stride = Index(gridDim.x) * kThreads;
  for (Index i = Index(blockIdx.x) * kThreads + threadIdx.x; i < total; i += stride) {
    const Index row = i / Index(width);  // plane * height + r
    const int col = int(i - row * Index(width));
    const std::size_t top_left = std::size_t(row) * 2 * out_w + 2 * col;
    dx[i] = ((dy[top_left] + dy[top_left + 1]) + dy[top_left + out_w]) + dy[top_left + out_w + 1];
  }
}

dim3 grid_for(std::size_t total) {
  return dim3(unsigned(std::clamp<std::size_t>((total + kThreads - 1) / kThreads, 1, kMaxBlocks)));
}

bool fits_32(std::size_t total) { return total < (std::size_t(1) << 31); }

void check_args(const char* launcher, int planes, int height, int width, const void* in, const char* in_name,
                const void* out, const char* out_name) {
  if (planes <= 0 || height <= 0 || width <= 0)
    throw std::invalid_argument(std::string(launcher) +
                                ": planes, height and width must be positive, got planes=" + std::to_string(planes) +
                                " height=" + std::to_string(height) + " width=" + std::to_string(width));
  if (height > (1 << 29) || width > (1 << 29))
    throw std::invalid_argument(std::string(launcher) + ": height and width must be below 2^29");
  if (in == nullptr) throw std::invalid_argument(std::string(launcher) + ": " + in_name + " is null");
  if (out == nullptr) throw std::invalid_argument(std::string(launcher) + ": " + out_name + " is null");
}

}  // namespace

template <class T>
void upsample2x_forward(int planes, int height, int width, const T* x, T* y, StreamHandle stream) {
  check_args("upsample2x_forward", planes, height, width, x, "x", y, "y");
  const std::size_t total = std::size_t(planes) * (2 * std::size_t(height)) * (2 * std::size_t(width));
  if (fits_32(total))
    launch<upsample2x_forward_kernel<T, std::uint32_t>>(grid_for(total), dim3(kThreads), 0, stream,
                                                        std::uint32_t(total), height, width, x, y);
  else
    launch<upsample2x_forward_kernel<T, std::size_t>>(grid_for(total), dim3(kThreads), 0, stream, total, height, width,
                                                      x, y);
}

template <class T>
void upsample2x_backward(int planes, int height, int width, const T* dy, T* dx, StreamHandle stream) {
  check_args("upsample2x_backward", planes, height, width, dy, "dy", dx, "dx");
  const std::size_t total = std::size_t(planes) * height * width;
  if (fits_32(total))
    launch<upsample2x_backward_kernel<T, std::uint32_t>>(grid_for(total), dim3(kThreads), 0, stream,
                                                         std::uint32_t(total), width, dy, dx);
  else
    launch<upsample2x_backward_kernel<T, std::size_t>>(grid_for(total), dim3(kThreads), 0, stream, total, width, dy,
                                                       dx);
}

template void upsample2x_forward<float>(int, int, int, const float*, float*, StreamHandle);
template void upsample2x_forward<double>(int, int, int, const double*, double*, StreamHandle);
template void upsample2x_backward<float>(int, int, int, const float*, float*, StreamHandle);
template void upsample2x_backward<double>(int, int, int, const double*, double*, StreamHandle);

}  // namespace gramgan::GG_BACKEND
