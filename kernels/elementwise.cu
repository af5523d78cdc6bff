// Elementwise ops: activations and their gradients, residual add, accumulate, scaling, per-channel affine.
//
// x, y, dy, dx: contiguous, `count` elements (channel_affine: (N, C, plane); scale, shift: (C)).
//   relu        y = max(x, 0)                   dx = x > 0 ? dy : 0      (0 at the kink)
//   leaky_relu  y = x > 0 ? x : slope x         dx = x > 0 ? dy : slope dy
//   tanh        y = tanh(x)                     dx = dy (1 - y^2)
//   tanh_unit   y = (tanh(x) + 1) / 2           dx = dy 2 y (1 - y)
// tanh_unit is evaluated as the equal 1 / (1 + exp(-2x)): (tanh(x) + 1) / 2 cancels for x << 0 and loses all
// relative precision of small outputs.
//
// Flat ops run one functor through map_kernel: a grid-stride loop that moves 16 bytes per access (float4- or
// double2-sized packs) when every pointer is 16-byte aligned, and a scalar loop for the tail and for misaligned
// pointers. channel_affine uses a 2D grid (x: along the plane, y: instances) so no thread divides to find its
// channel.
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/launch.h"
#include "kernels/launchers.h"

namespace gramgan::GG_BACKEND {
namespace {

constexpr int kThreads = 256;
constexpr std::size_t kMaxBlocks = 2048;  // enough to fill a GPU; the grid-stride loop covers the rest

template <class T>
struct alignas(16) Pack {
  static constexpr int kWidth = int(16 / sizeof(T));
  T v[kWidth];
};

__device__ __forceinline__ float device_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double device_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float device_exp(float x) { return expf(x); }
__device__ __forceinline__ double device_exp(double x) { return exp(x); }

// y[i] = op(a[i], b[i]) for the first kInputs inputs (the others are passed as 0 and never read).
template <class T, int kInputs, bool kVector, class Op>
__global__ void __launch_bounds__(kThreads) map_kernel(std::size_t count, Op op, T* y, const T* a, const T* b) {
  GG_KERNEL_BOUNDS(kThreads);
  const std::size_t stride = std::size_t(gridDim.x) * kThreads;
  const std::size_t first = std::size_t(blockIdx.x) * kThreads + threadIdx.x;
  std::size_t done = 0;
  if constexpr (kVector) {
    using P = Pack<T>;
    const std::size_t packs = count / P::kWidth;
    for (std::size_t p = first; p < packs; p += stride) {
      const P pa = reinterpret_cast<const P*>(a)[p];
      P pb{};
      if constexpr (kInputs >= 2) pb = reinterpret_cast<const P*>(b)[p];
      P out;
      for (int j = 0; j < P::kWidth; ++j) out.v[j] = op(pa.v[j], pb.v[j]);
      reinterpret_cast<P*>(y)[p] = out;
    }
    done = packs * P::kWidth;
  }
  for (std::size_t i = done + first; i < count; i += stride) {
    T vb = T(0);
    if constexpr (kInputs >= 2) vb = b[i];
    y[i] = op(a[i], vb);
  }
}

template <class T>
struct ReluForward {
  __device__ T operator()(T x, T) const { return x > T(0) ? x : T(0); }
};
template <class T>
struct LeakyReluForward {
  T slope;
  __device__ T operator()(T x, T) const { return x > T(0) ? x : slope * x; }
};
template <class T>
struct TanhForward {
  __device__ T operator()(T x, T) const { return device_tanh(x); }
};
template <class T>
struct TanhUnitForward {
  __device__ T operator()(T x, T) const { return T(1) / (T(1) + device_exp(T(-2) * x)); }
};
// Backward functors take (x, dy) for relu / leaky_relu and (y, dy) for tanh / tanh_unit.
template <class T>
struct ReluBackward {
  __device__ T operator()(T x, T dy) const { return x > T(0) ? dy : T(0); }
};
template <class T>
struct LeakyReluBackward {
  T slope;
  __device__ T operator()(T x, T dy) const { return x > T(0) ? dy : slope * dy; }
};
template <class T>
struct TanhBackward {
  __device__ T operator()(T y, T dy) const { return dy * (T(1) - y * y); }
};
template <class T>
struct TanhUnitBackward {
  __device__ T operator()(T y, T dy) const { return dy * (T(2) * y * (T(1) - y)); }
};
template <class T>
struct AddOp {
  __device__ T operator()(T a, T b) const { return a + b; }
};
template <class T>
struct ScaleOp {
  T alpha;
  __device__ T operator()(T x, T) const { return alpha * x; }
};
template <class T>
struct ScaleByOp {
  const T* alpha;
  __device__ T operator()(T x, T) const { return alpha[0] * x; }
};

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

template <class T, int kInputs, class Op>
void map_elements(std::size_t count, Op op, T* y, const T* a, const T* b, StreamHandle stream) {
  if (count == 0) return;
  const bool vector = aligned16(y) && aligned16(a) && (kInputs < 2 || aligned16(b));
  const std::size_t items = vector ? std::max<std::size_t>(count / Pack<T>::kWidth, 1) : count;
  const dim3 grid(unsigned(std::min((items + kThreads - 1) / kThreads, kMaxBlocks)));
  if (vector)
    launch<map_kernel<T, kInputs, true, Op>>(grid, dim3(kThreads), 0, stream, count, op, y, a, b);
  else
    launch<map_kernel<T, kInputs, false, Op>>(grid, dim3(kThreads), 0, stream, count, op, y, a, b);
}

void require(bool ok, const char* launcher, const std::string& what) {
  if (!ok) throw std::invalid_argument(std::string(launcher) + ": " + what);
}
void require_pointer(const void* p, std::size_t count, const char* launcher, const char* name) {
  require(p != nullptr || count == 0, launcher, std::string(name) + " is null");
}

const char* activation_name(Activation activation) {
  switch (activation) {
    case Activation::relu: return "relu";
    case Activation::leaky_relu: return "leaky_relu";
    case Activation::tanh: return "tanh";
    case Activation::tanh_unit: return "tanh_unit";
  }
  return "unknown";
}

[[noreturn]] void bad_activation(const char* launcher, Activation activation) {
  throw std::invalid_argument(std::string(launcher) + ": unknown activation " + std::to_string(int(activation)));
}

template <class T, bool kShift>
__global__ void __launch_bounds__(kThreads)
    channel_affine_kernel(int channels, int plane, int instances, const T* x, const T* scale, const T* shift, T* y) {
  GG_KERNEL_BOUNDS(kThreads);
  for (int instance = int(blockIdx.y); instance < instances; instance += int(gridDim.y)) {
    const int c = instance % channels;
    const T s = scale[c];
    T b = T(0);
    if constexpr (kShift) b = shift[c];
    const std::size_t base = std::size_t(instance) * plane;
    for (int i = int(blockIdx.x) * kThreads + int(threadIdx.x); i < plane; i += int(gridDim.x) * kThreads) {
      if constexpr (kShift)
        y[base + i] = x[base + i] * s + b;
      else
        y[base + i] = x[base + i] * s;
    }
  }
}

void check_affine_shape(const char* launcher, int batch, int channels, int plane) {
  if (batch <= 0 || channels <= 0 || plane <= 0)
    throw std::invalid_argument(std::string(launcher) +
                                ": batch, channels and plane must be positive, got batch=" + std::to_string(batch) +
                                " channels=" + std::to_string(channels) + " plane=" + std::to_string(plane));
  require(std::size_t(batch) * std::size_t(channels) <= 0x7fffffffu, launcher, "batch * channels exceeds 2^31 - 1");
}

dim3 affine_grid(int batch, int channels, int plane) {
  const int along = std::min((plane + kThreads - 1) / kThreads, 64);
  const int instances = std::min(batch * channels, 65535);
  return dim3(unsigned(along), unsigned(instances));
}

}  // namespace

template <class T>
void activation_forward(Activation activation, T slope, std::size_t count, const T* x, T* y, StreamHandle stream) {
  constexpr const char* kName = "activation_forward";
  require_pointer(x, count, kName, "x");
  require_pointer(y, count, kName, "y");
  switch (activation) {
    case Activation::relu: return map_elements<T, 1>(count, ReluForward<T>{}, y, x, nullptr, stream);
    case Activation::leaky_relu: return map_elements<T, 1>(count, LeakyReluForward<T>{slope}, y, x, nullptr, stream);
    case Activation::tanh: return map_elements<T, 1>(count, TanhForward<T>{}, y, x, nullptr, stream);
    case Activation::tanh_unit: return map_elements<T, 1>(count, TanhUnitForward<T>{}, y, x, nullptr, stream);
  }
  bad_activation(kName, activation);
}

template <class T>
void activation_backward(Activation activation, T slope, std::size_t count, const T* x, const T* y, const T* dy, T* dx,
                         StreamHandle stream) {
  constexpr const char* kName = "activation_backward";
  require_pointer(dy, count, kName, "dy");
  require_pointer(dx, count, kName, "dx");
  const bool from_x = activation == Activation::relu || activation == Activation::leaky_relu;
  if (from_x)
    require(x != nullptr || count == 0, kName,
            std::string("x is null (") + activation_name(activation) + " differentiates from the input x)");
  else
    require(y != nullptr || count == 0, kName,
            std::string("y is null (") + activation_name(activation) + " differentiates from the output y)");
  switch (activation) {
    case Activation::relu: return map_elements<T, 2>(count, ReluBackward<T>{}, dx, x, dy, stream);
    case Activation::leaky_relu: return map_elements<T, 2>(count, LeakyReluBackward<T>{slope}, dx, x, dy, stream);
    case Activation::tanh: return map_elements<T, 2>(count, TanhBackward<T>{}, dx, y, dy, stream);
    case Activation::tanh_unit: return map_elements<T, 2>(count, TanhUnitBackward<T>{}, dx, y, dy, stream);
  }
  bad_activation(kName, activation);
}

template <class T>
void add(std::size_t count, const T* a, const T* b, T* y, StreamHandle stream) {
  require_pointer(a, count, "add", "a");
  require_pointer(b, count, "add", "b");
  require_pointer(y, count, "add", "y");
  map_elements<T, 2>(count, AddOp<T>{}, y, a, b, stream);
}

template <class T>
void accumulate(std::size_t count, const T* x, T* y, StreamHandle stream) {
  require_pointer(x, count, "accumulate", "x");
  require_pointer(y, count, "accumulate", "y");
  map_elements<T, 2>(count, AddOp<T>{}, y, static_cast<const T*>(y), x, stream);
}

template <class T>
void scale(std::size_t count, T alpha, const T* x, T* y, StreamHandle stream) {
  require_pointer(x, count, "scale", "x");
  require_pointer(y, count, "scale", "y");
  map_elements<T, 1>(count, ScaleOp<T>{alpha}, y, x, nullptr, stream);
}

template <class T>
void scale_by(std::size_t count, const T* alpha, const T* x, T* y, StreamHandle stream) {
  require(alpha != nullptr, "scale_by", "alpha is null (one element of device memory)");
  require_pointer(x, count, "scale_by", "x");
  require_pointer(y, count, "scale_by", "y");
  map_elements<T, 1>(count, ScaleByOp<T>{alpha}, y, x, nullptr, stream);
}

template <class T>
void channel_affine_forward(int batch, int channels, int plane, const T* x, const T* scale, const T* shift, T* y,
                            StreamHandle stream) {
  constexpr const char* kName = "channel_affine_forward";
  check_affine_shape(kName, batch, channels, plane);
  require_pointer(x, 1, kName, "x");
  require_pointer(scale, 1, kName, "scale");
  require_pointer(shift, 1, kName, "shift");
  require_pointer(y, 1, kName, "y");
  launch<channel_affine_kernel<T, true>>(affine_grid(batch, channels, plane), dim3(kThreads), 0, stream, channels,
                                         plane, batch * channels, x, scale, shift, y);
}

template <class T>
void channel_affine_backward(int batch, int channels, int plane, const T* dy, const T* scale, T* dx,
                             StreamHandle stream) {
  constexpr const char* kName = "channel_affine_backward";
  check_affine_shape(kName, batch, channels, plane);
  require_pointer(dy, 1, kName, "dy");
  require_pointer(scale, 1, kName, "scale");
  require_pointer(dx, 1, kName, "dx");
  launch<channel_affine_kernel<T, false>>(affine_grid(batch, channels, plane), dim3(kThreads), 0, stream, channels,
                                          plane, batch * channels, dy, scale, static_cast<const T*>(nullptr), dx);
}

#define GG_INSTANTIATE(T)                                                                                           \
  template void activation_forward<T>(Activation, T, std::size_t, const T*, T*, StreamHandle);                      \
  template void activation_backward<T>(Activation, T, std::size_t, const T*, const T*, const T*, T*, StreamHandle); \
  template void add<T>(std::size_t, const T*, const T*, T*, StreamHandle);                                          \
  template void accumulate<T>(std::size_t, const T*, T*, StreamHandle);                                             \
  template void scale<T>(std::size_t, T, const T*, T*, StreamHandle);                                               \
  template void scale_by<T>(std::size_t, const T*, const T*, T*, StreamHandle);                                     \
  template void channel_affine_forward<T>(int, int, int, const T*, const T*, const T*, T*, StreamHandle);           \
  template void channel_affine_backward<T>(int, int, int, const T*, const T*, T*, StreamHandle);
GG_INSTANTIATE(float)
GG_INSTANTIATE(double)
#undef GG_INSTANTIATE

}  // namespace gramgan::GG_BACKEND
