// Internal to engine/ops.cpp and engine/ops_cuda.cpp: the launch half of every op, written once for both backends.
//
// A launch is a struct of already-checked tensors and sizes with `run<L, T>(stream)`: L is a backend's launcher
// table (SimLaunchers here, CudaLaunchers in ops_cuda.cpp, both generated from GG_OPS_LAUNCHERS) and T the element
// type. ops.cpp runs the sim instantiation itself and hands cuda ones to detail::cuda_launch, which is defined (and
// instantiated for every launch of GG_OPS_LAUNCHES) only in the CUDA build, so no gramgan::cuda symbol is named
// outside *_cuda.cpp.
#pragma once

#include <cstddef>
#include <utility>

#include "engine/tensor.h"
#include "kernels/launchers.h"

namespace gramgan::detail {

// Every launcher of kernels/ops.inc.
// clang-format off
#define GG_OPS_LAUNCHERS(X) \
  X(conv2d_forward) X(conv2d_backward_data) X(conv2d_backward_weight_workspace) X(conv2d_backward_weight) \
  X(instance_norm_forward) X(instance_norm_backward_workspace) X(instance_norm_backward) \
  X(activation_forward) X(activation_backward) X(add) X(accumulate) X(scale) X(scale_by) \
  X(channel_affine_forward) X(channel_affine_backward) X(pool2x2_forward) X(pool2x2_backward) \
  X(upsample2x_forward) X(upsample2x_backward) X(gram_forward_workspace) X(gram_forward) X(gram_backward) X(tv_workspace) \
  X(tv_forward_backward) X(mse_workspace) X(mse_forward_backward) X(gram_mse_workspace) \
  X(gram_mse_forward_backward) X(lsgan_workspace) X(lsgan_d_forward_backward) X(lsgan_g_forward_backward) \
  X(reduce_workspace) X(reduce) X(adam_step)
// clang-format on

#define GG_OPS_FORWARD_LAUNCHER(name)                           \
  template <class... Args>                                      \
  static decltype(auto) name(Args&&... args) {                  \
    return GG_OPS_NAMESPACE::name(std::forward<Args>(args)...); \
  }

#define GG_OPS_NAMESPACE ::gramgan::sim
struct SimLaunchers {
  GG_OPS_LAUNCHERS(GG_OPS_FORWARD_LAUNCHER)
};
#undef GG_OPS_NAMESPACE

// Under a MemoryPlan (engine/memory.h): each kernel is a no-op, each workspace size is the simulator's, so a
// launch allocates exactly what it would and runs nothing.
#define GG_OPS_NOOP_LAUNCHER(name) \
  template <class... Args>         \
  static void name(Args&&...) {}
struct NoopKernels {
  GG_OPS_LAUNCHERS(GG_OPS_NOOP_LAUNCHER)
};
#undef GG_OPS_NOOP_LAUNCHER
// clang-format off
#define GG_OPS_WORKSPACE_LAUNCHERS(X) \
  X(conv2d_backward_weight_workspace) X(instance_norm_backward_workspace) X(gram_forward_workspace) \
  X(tv_workspace) X(mse_workspace) X(gram_mse_workspace) X(lsgan_workspace) X(reduce_workspace)
// clang-format on
#define GG_OPS_NAMESPACE ::gramgan::sim
struct PlanLaunchers : NoopKernels {
  GG_OPS_WORKSPACE_LAUNCHERS(GG_OPS_FORWARD_LAUNCHER)
};
#undef GG_OPS_NAMESPACE

template <class T>
T* ptr(Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

template <class T>
Tensor workspace(std::size_t elements, const Device& device) {
  return Tensor::empty(Shape{std::int64_t(elements)}, dtype_of<T>(), device);
}

struct Conv2dForwardLaunch {
  Conv2dShape shape;
  Tensor x, weight, bias, y;
  template <class L, class T>
  void run(StreamHandle s) {
    L::conv2d_forward(shape, ptr<T>(x), ptr<T>(weight), ptr<T>(bias), ptr<T>(y), s);
  }
};

struct Conv2dBackwardDataLaunch {
  Conv2dShape shape;
  Tensor dy, weight, dx;
  template <class L, class T>
  void run(StreamHandle s) {
    L::conv2d_backward_data(shape, ptr<T>(dy), ptr<T>(weight), ptr<T>(dx), s);
  }
};

struct Conv2dBackwardWeightLaunch {
  Conv2dShape shape;
  Tensor x, dy, dweight, dbias;
  template <class L, class T>
  void run(StreamHandle s) {
    Tensor ws = workspace<T>(L::conv2d_backward_weight_workspace(shape), x.device());
    L::conv2d_backward_weight(shape, ptr<T>(x), ptr<T>(dy), ptr<T>(dweight), ptr<T>(dbias), ptr<T>(ws), s);
  }
};

struct InstanceNormForwardLaunch {
  int batch, channels, plane;
  double eps;
  Tensor x, gamma, beta, y, mean, inv_std;
  template <class L, class T>
  void run(StreamHandle s) {
    L::instance_norm_forward(batch, channels, plane, T(eps), ptr<T>(x), ptr<T>(gamma), ptr<T>(beta), ptr<T>(y),
                             ptr<T>(mean), ptr<T>(inv_std), s);
  }
};

struct InstanceNormBackwardLaunch {
  int batch, channels, plane;
  Tensor x, dy, gamma, mean, inv_std, dx, dgamma, dbeta;
  template <class L, class T>
  void run(StreamHandle s) {
    Tensor ws = workspace<T>(L::instance_norm_backward_workspace(batch, channels), x.device());
    L::instance_norm_backward(batch, channels, plane, ptr<T>(x), ptr<T>(dy), ptr<T>(gamma), ptr<T>(mean),
                              ptr<T>(inv_std), ptr<T>(dx), ptr<T>(dgamma), ptr<T>(dbeta), ptr<T>(ws), s);
  }
};

struct ActivationForwardLaunch {
  Activation activation;
  double slope;
  Tensor x, y;
  template <class L, class T>
  void run(StreamHandle s) {
    L::activation_forward(activation, T(slope), std::size_t(x.numel()), ptr<T>(x), ptr<T>(y), s);
  }
};

struct ActivationBackwardLaunch {
  Activation activation;
  double slope;
  Tensor x, y, dy, dx;
  template <class L, class T>
  void run(StreamHandle s) {
    L::activation_backward(activation, T(slope), std::size_t(x.numel()), ptr<T>(x), ptr<T>(y), ptr<T>(dy), ptr<T>(dx),
                           s);
  }
};

struct AddLaunch {
  Tensor a, b, y;
  template <class L, class T>
  void run(StreamHandle s) {
    L::add(std::size_t(y.numel()), ptr<T>(a), ptr<T>(b), ptr<T>(y), s);
  }
};

struct AccumulateLaunch {
  Tensor x, y;
  template <class L, class T>
  void run(StreamHandle s) {
    L::accumulate(std::size_t(y.numel()), ptr<T>(x), ptr<T>(y), s);
  }
};

struct ScaleLaunch {
  double alpha;
  Tensor x, y;
  template <class L, class T>
  void run(StreamHandle s) {
    L::scale(std::size_t(y.numel()), T(alpha), ptr<T>(x), ptr<T>(y), s);
  }
};

struct ScaleByLaunch {
  Tensor alpha, x, y;
  template <class L, class T>
  void run(StreamHandle s) {
    L::scale_by(std::size_t(y.numel()), ptr<T>(alpha), ptr<T>(x), ptr<T>(y), s);
  }
};

struct ChannelAffineForwardLaunch {
  int batch, channels, plane;
  Tensor x, scale, shift, y;
  template <class L, class T>
  void run(StreamHandle s) {
    L::channel_affine_forward(batch, channels, plane, ptr<T>(x), ptr<T>(scale), ptr<T>(shift), ptr<T>(y), s);
  }
};

struct ChannelAffineBackwardLaunch {
  int batch, channels, plane;
  Tensor dy, scale, dx;
  template <class L, class T>
  void run(StreamHandle s) {
    L::channel_affine_backward(batch, channels, plane, ptr<T>(dy), ptr<T>(scale), ptr<T>(dx), s);
  }
};

struct Pool2x2ForwardLaunch {
  Pool pool;
  int planes, height, width;
  Tensor x, y;
  template <class L, class T>
  void run(StreamHandle s) {
    L::pool2x2_forward(pool, planes, height, width, ptr<T>(x), ptr<T>(y), s);
  }
};

struct Pool2x2BackwardLaunch {
  Pool pool;
  int planes, height, width;
  Tensor x, dy, dx;
  template <class L, class T>
  void run(StreamHandle s) {
    L::pool2x2_backward(pool, planes, height, width, ptr<T>(x), ptr<T>(dy), ptr<T>(dx), s);
  }
};

struct Upsample2xForwardLaunch {
  int planes, height, width;
  Tensor x, y;
  template <class L, class T>
  void run(StreamHandle s) {
    L::upsample2x_forward(planes, height, width, ptr<T>(x), ptr<T>(y), s);
  }
};

struct Upsample2xBackwardLaunch {
  int planes, height, width;  // of x
  Tensor dy, dx;
  template <class L, class T>
  void run(StreamHandle s) {
    L::upsample2x_backward(planes, height, width, ptr<T>(dy), ptr<T>(dx), s);
  }
};

struct GramForwardLaunch {
  int batch, channels, plane;
  Tensor features, gram;
  template <class L, class T>
  void run(StreamHandle s) {
    Tensor ws = workspace<T>(L::gram_forward_workspace(batch, channels, plane), features.device());
    L::gram_forward(batch, channels, plane, ptr<T>(features), ptr<T>(gram), ptr<T>(ws), s);
  }
};

struct GramBackwardLaunch {
  int batch, channels, plane;
  Tensor features, dgram, dfeatures;
  template <class L, class T>
  void run(StreamHandle s) {
    L::gram_backward(batch, channels, plane, ptr<T>(features), ptr<T>(dgram), ptr<T>(dfeatures), s);
  }
};

struct TvLaunch {
  TvMode mode;
  double eps;
  int batch, channels, height, width;
  Tensor x, value, dx;
  template <class L, class T>
  void run(StreamHandle s) {
    Tensor ws = workspace<T>(L::tv_workspace(batch, channels, height, width), x.device());
    L::tv_forward_backward(mode, T(eps), batch, channels, height, width, ptr<T>(x), ptr<T>(value), ptr<T>(dx),
                           ptr<T>(ws), s);
  }
};

struct MseLaunch {
  Tensor prediction, target, value, dprediction;
  template <class L, class T>
  void run(StreamHandle s) {
    const auto count = std::size_t(prediction.numel());
    Tensor ws = workspace<T>(L::mse_workspace(count), prediction.device());
    L::mse_forward_backward(count, ptr<T>(prediction), ptr<T>(target), ptr<T>(value), ptr<T>(dprediction), ptr<T>(ws),
                            s);
  }
};

struct GramMseLaunch {
  int batch, channels, plane;
  Tensor features, target_gram, value, dfeatures;
  template <class L, class T>
  void run(StreamHandle s) {
    Tensor ws = workspace<T>(L::gram_mse_workspace(batch, channels, plane), features.device());
    L::gram_mse_forward_backward(batch, channels, plane, ptr<T>(features), ptr<T>(target_gram), ptr<T>(value),
                                 ptr<T>(dfeatures), ptr<T>(ws), s);
  }
};

struct LsganDLaunch {
  Tensor d_real, d_fake, value, dreal, dfake;
  template <class L, class T>
  void run(StreamHandle s) {
    const auto real = std::size_t(d_real.numel()), fake = std::size_t(d_fake.numel());
    Tensor ws = workspace<T>(L::lsgan_workspace(real, fake), d_real.device());
    L::lsgan_d_forward_backward(real, ptr<T>(d_real), fake, ptr<T>(d_fake), ptr<T>(value), ptr<T>(dreal), ptr<T>(dfake),
                                ptr<T>(ws), s);
  }
};

struct LsganGLaunch {
  Tensor d_fake, value, dfake;
  template <class L, class T>
  void run(StreamHandle s) {
    const auto count = std::size_t(d_fake.numel());
    Tensor ws = workspace<T>(L::lsgan_workspace(0, count), d_fake.device());
    L::lsgan_g_forward_backward(count, ptr<T>(d_fake), ptr<T>(value), ptr<T>(dfake), ptr<T>(ws), s);
  }
};

struct ReduceLaunch {
  Reduction reduction;
  Tensor x, out;
  template <class L, class T>
  void run(StreamHandle s) {
    const auto count = std::size_t(x.numel());
    Tensor ws = workspace<T>(L::reduce_workspace(count), x.device());
    L::reduce(reduction, count, ptr<T>(x), ptr<T>(out), ptr<T>(ws), s);
  }
};

struct AdamLaunch {
  AdamConfig config;
  Tensor param, grad, m, v;
  template <class L, class T>
  void run(StreamHandle s) {
    L::adam_step(config, std::size_t(param.numel()), ptr<T>(param), ptr<T>(grad), ptr<T>(m), ptr<T>(v), s);
  }
};

// Every launch struct above; ops_cuda.cpp instantiates cuda_launch for each.
// clang-format off
#define GG_OPS_LAUNCHES(X) \
  X(Conv2dForwardLaunch) X(Conv2dBackwardDataLaunch) X(Conv2dBackwardWeightLaunch) \
  X(InstanceNormForwardLaunch) X(InstanceNormBackwardLaunch) X(ActivationForwardLaunch) \
  X(ActivationBackwardLaunch) X(AddLaunch) X(AccumulateLaunch) X(ScaleLaunch) X(ScaleByLaunch) \
  X(ChannelAffineForwardLaunch) X(ChannelAffineBackwardLaunch) X(Pool2x2ForwardLaunch) \
  X(Pool2x2BackwardLaunch) X(Upsample2xForwardLaunch) X(Upsample2xBackwardLaunch) X(GramForwardLaunch) \
  X(GramBackwardLaunch) X(TvLaunch) X(MseLaunch) X(GramMseLaunch) X(LsganDLaunch) X(LsganGLaunch) \
  X(ReduceLaunch) X(AdamLaunch)
// clang-format on

// Runs `launch` with the cuda launchers on GPU `device` (made current) and its stream. Defined in ops_cuda.cpp;
// without the CUDA backend ops.cpp supplies a stand-in that throws.
template <class Launch>
void cuda_launch(int device, DType dtype, Launch& launch);

}  // namespace gramgan::detail
