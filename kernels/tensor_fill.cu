// Tensor fills: a constant, and the counter-based random fills uniform and normal.
//
// out: contiguous, `count` elements of float or double.
//   fill:    out[i] = value
//   uniform: out[i] = low + (high - low) u_i, u_i in [0, 1)      (one explicit fma)
//   normal:  out[i] = mean + stddev z_i, z_i ~ N(0, 1) by Box-Muller
// u_i and z_i come from Philox4x32-10 with (seed, offset); kernels/philox.h fixes which counter and which word
// feed element i, so the numbers do not depend on the launch shape and are bit-identical on every backend.
// One thread per element for fill, one thread per Philox block (4 floats or 2 doubles) for the random fills;
// 256 threads per block.
#include <stdexcept>
#include <string>

#include "kernels/launch.h"
#include "kernels/launchers.h"
#include "kernels/philox.h"

namespace gramgan::GG_BACKEND {
namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void __launch_bounds__(kThreads) fill_kernel(T* out, std::size_t count, T value) {
  GG_KERNEL_BOUNDS(kThreads);
  const std::size_t i = std::size_t(blockIdx.x) * kThreads + threadIdx.x;
  if (i < count) out[i] = value;
}

// Thread g writes the elements of group g; the last group may be partial.
template <class T>
__device__ void store_group(T* out, std::size_t count, std::size_t group, const T* values) {
  constexpr std::size_t kPerGroup = 16 / sizeof(T);
  const std::size_t first = group * kPerGroup;
  for (std::size_t j = 0; j < kPerGroup && first + j < count; ++j) out[first + j] = values[j];
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    uniform_kernel(T* out, std::size_t count, std::uint64_t seed, std::uint64_t offset, T low, T high) {
  GG_KERNEL_BOUNDS(kThreads);
  const std::size_t group = std::size_t(blockIdx.x) * kThreads + threadIdx.x;
  if (group * (16 / sizeof(T)) >= count) return;
  T values[16 / sizeof(T)];
  philox::uniform_group(philox::block(seed, offset, group), low, high, values);
  store_group(out, count, group, values);
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    normal_kernel(T* out, std::size_t count, std::uint64_t seed, std::uint64_t offset, T mean, T stddev) {
  GG_KERNEL_BOUNDS(kThreads);
  const std::size_t group = std::size_t(blockIdx.x) * kThreads + threadIdx.x;
  if (group * (16 / sizeof(T)) >= count) return;
  T values[16 / sizeof(T)];
  philox::normal_group(philox::block(seed, offset, group), mean, stddev, values);
  store_group(out, count, group, values);
}

dim3 grid_for(std::size_t threads, const char* launcher) {
  const std::size_t blocks = (threads + kThreads - 1) / kThreads;
  if (blocks > 0x7fffffffu) throw std::invalid_argument(std::string(launcher) + ": count exceeds one grid");
  return dim3(unsigned(blocks));
}

template <class T>
void fill_any(T* out, std::size_t count, T value, StreamHandle stream) {
  if (count == 0) return;
  launch<fill_kernel<T>>(grid_for(count, "fill"), dim3(kThreads), 0, stream, out, count, value);
}

template <class T>
void uniform_any(T* out, std::size_t count, std::uint64_t seed, std::uint64_t offset, T low, T high,
                 StreamHandle stream) {
  if (count == 0) return;
  const dim3 grid = grid_for(philox::groups(count, 16 / sizeof(T)), "fill_uniform");
  launch<uniform_kernel<T>>(grid, dim3(kThreads), 0, stream, out, count, seed, offset, low, high);
}

template <class T>
void normal_any(T* out, std::size_t count, std::uint64_t seed, std::uint64_t offset, T mean, T stddev,
                StreamHandle stream) {
  if (count == 0) return;
  const dim3 grid = grid_for(philox::groups(count, 16 / sizeof(T)), "fill_normal");
  launch<normal_kernel<T>>(grid, dim3(kThreads), 0, stream, out, count, seed, offset, mean, stddev);
}

}  // namespace

void fill(float* out, std::size_t count, float value, StreamHandle stream) { fill_any(out, count, value, stream); }
void fill(double* out, std::size_t count, double value, StreamHandle stream) { fill_any(out, count, value, stream); }

void fill_uniform(float* out, std::size_t count, std::uint64_t seed, std::uint64_t offset, float low, float high,
                  StreamHandle stream) {
  uniform_any(out, count, seed, offset, low, high, stream);
}
void fill_uniform(double* out, std::size_t count, std::uint64_t seed, std::uint64_t offset, double low, double high,
                  StreamHandle stream) {
  uniform_any(out, count, seed, offset, low, high, stream);
}

void fill_normal(float* out, std::size_t count, std::uint64_t seed, std::uint64_t offset, float mean, float stddev,
                 StreamHandle stream) {
  normal_any(out, count, seed, offset, mean, stddev, stream);
}
void fill_normal(double* out, std::size_t count, std::uint64_t seed, std::uint64_t offset, double mean, double stddev,
                 StreamHandle stream) {
  normal_any(out, count, seed, offset, mean, stddev, stream);
}

}  // namespace gramgan::GG_BACKEND
