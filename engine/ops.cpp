#include "engine/ops.h"

#include <climits>
#include <stdexcept>
#include <string>

#include "engine/error.h"
#include "engine/memory.h"
#include "engine/ops_launch.h"

namespace gramgan::ops {
namespace {

using namespace gramgan::detail;

// Runs a checked launch on its device's backend for `dtype`; the launchers' own argument errors
// (std::invalid_argument) become gramgan::Error.
template <class Launch>
void dispatch(const Device& device, DType dtype, Launch launch) {
  const AllocationScope workspaces("workspaces");  // outputs are allocated before, workspaces inside run()
  try {
    if (memory_planning()) {
      if (dtype == DType::float32)
        launch.template run<PlanLaunchers, float>(nullptr);
      else
        launch.template run<PlanLaunchers, double>(nullptr);
    } else if (device.is_cpu()) {
      if (dtype == DType::float32)
        launch.template run<SimLaunchers, float>(nullptr);
      else
        launch.template run<SimLaunchers, double>(nullptr);
    } else {
      check_device(device);
      cuda_launch(device.index(), dtype, launch);
    }
  } catch (const std::invalid_argument& e) {
    throw Error(e.what());
  }
}

// Precondition checks for one op; every message starts with the op's name.
class Checks {
 public:
  explicit Checks(const char* op) : op_(op) {}

  [[noreturn]] void fail(const std::string& what) const { throw Error(std::string(op_) + ": " + what); }

  void defined(const Tensor& t, const char* name) const {
    if (!t.defined()) fail(std::string(name) + " is an undefined tensor");
  }
  // t must be defined and have `dims` dimensions; `layout` names them for the message.
  void dims(const Tensor& t, const char* name, int dims, const char* layout) const {
    defined(t, name);
    if (t.dims() != dims)
      fail("expects " + std::string(name) + " of " + std::to_string(dims) + " dimensions " + layout + "; got " +
           t.to_string());
    for (const std::int64_t size : t.shape())
      if (size > INT_MAX) fail(std::string(name) + " of shape " + t.shape().to_string() + " is too large");
  }
  // t must be defined and share ref's dtype and device.
  void like(const Tensor& t, const char* name, const Tensor& ref, const char* ref_name) const {
    defined(t, name);
    if (t.dtype() != ref.dtype())
      fail(std::string(name) + " is " + dtype_name(t.dtype()) + " but " + ref_name + " is " + dtype_name(ref.dtype()) +
           "; convert one of them");
    if (t.device() != ref.device())
      fail(std::string(name) + " is on " + t.device().to_string() + " but " + ref_name + " is on " +
           ref.device().to_string() + "; move one with .to(device)");
  }
  void shape(const Tensor& t, const char* name, const Shape& expected) const {
    if (!(t.shape() == expected))
      fail("expects " + std::string(name) + " of shape " + expected.to_string() + "; got " + t.shape().to_string());
  }
  void same_shape(const Tensor& t, const char* name, const Tensor& ref, const char* ref_name) const {
    like(t, name, ref, ref_name);
    if (!(t.shape() == ref.shape()))
      fail(std::string(name) + " has shape " + t.shape().to_string() + " but " + ref_name + " has shape " +
           ref.shape().to_string() + "; they must match");
  }
  void nonempty(const Tensor& t, const char* name) const {
    if (t.numel() == 0) fail(std::string(name) + " is empty (shape " + t.shape().to_string() + ")");
  }

 private:
  const char* op_;
};

constexpr const char* kNCHW = "(N, C, H, W)";

int dim(const Tensor& t, int i) { return int(t.size(i)); }
int plane(const Tensor& t) { return dim(t, 2) * dim(t, 3); }

Tensor like_empty(const Tensor& t, const Shape& shape) { return Tensor::empty(shape, t.dtype(), t.device()); }
Tensor scalar_empty(const Tensor& t) { return like_empty(t, Shape{1}); }

Conv2dShape conv_shape(const Checks& check, const Shape& x, const Shape& weight, const Conv2dParams& params) {
  if (x.ndim() != 4 || weight.ndim() != 4)
    check.fail("expects x " + std::string(kNCHW) + " and weight (Cout, Cin, KH, KW); got x " + x.to_string() +
               ", weight " + weight.to_string());
  if (weight[1] != x[1])
    check.fail("weight " + weight.to_string() + " takes " + std::to_string(weight[1]) + " input channels but x " +
               x.to_string() + " has " + std::to_string(x[1]));
  Conv2dShape s;
  s.batch = int(x[0]);
  s.in_channels = int(x[1]);
  s.height = int(x[2]);
  s.width = int(x[3]);
  s.out_channels = int(weight[0]);
  s.kernel_h = int(weight[2]);
  s.kernel_w = int(weight[3]);
  s.stride = params.stride;
  s.pad = params.pad;
  s.padding = params.padding;
  if (s.stride < 1 || s.pad < 0) check.fail("needs stride >= 1 and pad >= 0");
  if (s.out_height() < 1 || s.out_width() < 1)
    check.fail("kernel " + weight.to_string() + " with pad " + std::to_string(s.pad) + " does not fit x " +
               x.to_string());
  return s;
}

Shape conv_out_shape(const Conv2dShape& s) { return Shape{s.batch, s.out_channels, s.out_height(), s.out_width()}; }

}  // namespace

// ---- convolution -------------------------------------------------------------------------------------------------

Tensor conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor* bias, const Conv2dParams& params) {
  const Checks check("conv2d_forward");
  check.dims(x, "x", 4, kNCHW);
  check.dims(weight, "weight", 4, "(Cout, Cin, KH, KW)");
  check.like(weight, "weight", x, "x");
  const Conv2dShape s = conv_shape(check, x.shape(), weight.shape(), params);
  if (bias != nullptr) {
    check.like(*bias, "bias", x, "x");
    check.shape(*bias, "bias", Shape{s.out_channels});
  }
  Conv2dForwardLaunch launch{s, x, weight, bias ? *bias : Tensor(), like_empty(x, conv_out_shape(s))};
  dispatch(x.device(), x.dtype(), launch);
  return launch.y;
}

Tensor conv2d_backward_data(const Tensor& dy, const Tensor& weight, const Shape& x_shape, const Conv2dParams& params) {
  const Checks check("conv2d_backward_data");
  check.dims(dy, "dy", 4, kNCHW);
  check.dims(weight, "weight", 4, "(Cout, Cin, KH, KW)");
  check.like(weight, "weight", dy, "dy");
  const Conv2dShape s = conv_shape(check, x_shape, weight.shape(), params);
  check.shape(dy, "dy", conv_out_shape(s));
  Conv2dBackwardDataLaunch launch{s, dy, weight, like_empty(dy, x_shape)};
  dispatch(dy.device(), dy.dtype(), launch);
  return launch.dx;
}

Conv2dWeightGrads conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Shape& weight_shape, bool with_bias,
                                         const Conv2dParams& params) {
  const Checks check("conv2d_backward_weight");
  check.dims(x, "x", 4, kNCHW);
  check.dims(dy, "dy", 4, kNCHW);
  check.like(dy, "dy", x, "x");
  const Conv2dShape s = conv_shape(check, x.shape(), weight_shape, params);
  check.shape(dy, "dy", conv_out_shape(s));
  Conv2dBackwardWeightLaunch launch{s, x, dy, like_empty(x, weight_shape),
                                    with_bias ? like_empty(x, Shape{s.out_channels}) : Tensor()};
  dispatch(x.device(), x.dtype(), launch);
  return {launch.dweight, launch.dbias};
}

// ---- instance norm -----------------------------------------------------------------------------------------------

InstanceNormOutputs instance_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  const Checks check("instance_norm_forward");
  check.dims(x, "x", 4, kNCHW);
  check.like(gamma, "gamma", x, "x");
  check.like(beta, "beta", x, "x");
  check.shape(gamma, "gamma", Shape{x.size(1)});
  check.shape(beta, "beta", Shape{x.size(1)});
  const Shape stats{x.size(0), x.size(1)};
  InstanceNormForwardLaunch launch{
      dim(x, 0),           dim(x, 1), plane(x), eps, x, gamma, beta, like_empty(x, x.shape()), like_empty(x, stats),
      like_empty(x, stats)};
  dispatch(x.device(), x.dtype(), launch);
  return {launch.y, launch.mean, launch.inv_std};
}

InstanceNormGrads instance_norm_backward(const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& mean,
                                         const Tensor& inv_std) {
  const Checks check("instance_norm_backward");
  check.dims(x, "x", 4, kNCHW);
  check.same_shape(dy, "dy", x, "x");
  check.like(gamma, "gamma", x, "x");
  check.shape(gamma, "gamma", Shape{x.size(1)});
  const Shape stats{x.size(0), x.size(1)};
  check.like(mean, "mean", x, "x");
  check.shape(mean, "mean", stats);
  check.like(inv_std, "inv_std", x, "x");
  check.shape(inv_std, "inv_std", stats);
  InstanceNormBackwardLaunch launch{dim(x, 0),
                                    dim(x, 1),
                                    plane(x),
                                    x,
                                    dy,
                                    gamma,
                                    mean,
                                    inv_std,
                                    like_empty(x, x.shape()),
                                    like_empty(x, gamma.shape()),
                                    like_empty(x, gamma.shape())};
  dispatch(x.device(), x.dtype(), launch);
  return {launch.dx, launch.dgamma, launch.dbeta};
}

// ---- elementwise -------------------------------------------------------------------------------------------------

Tensor activation_forward(Activation activation, const Tensor& x, double slope) {
  const Checks check("activation_forward");
  check.defined(x, "x");
  ActivationForwardLaunch launch{activation, slope, x, like_empty(x, x.shape())};
  dispatch(x.device(), x.dtype(), launch);
  return launch.y;
}

Tensor activation_backward(Activation activation, const Tensor& x, const Tensor& y, const Tensor& dy, double slope) {
  const Checks check("activation_backward");
  check.defined(x, "x");
  check.same_shape(y, "y", x, "x");
  check.same_shape(dy, "dy", x, "x");
  ActivationBackwardLaunch launch{activation, slope, x, y, dy, like_empty(x, x.shape())};
  dispatch(x.device(), x.dtype(), launch);
  return launch.dx;
}

Tensor add(const Tensor& a, const Tensor& b) {
  const Checks check("add");
  check.defined(a, "a");
  check.same_shape(b, "b", a, "a");
  AddLaunch launch{a, b, like_empty(a, a.shape())};
  dispatch(a.device(), a.dtype(), launch);
  return launch.y;
}

void accumulate(Tensor& y, const Tensor& x) {
  const Checks check("accumulate");
  check.defined(y, "y");
  check.same_shape(x, "x", y, "y");
  dispatch(y.device(), y.dtype(), AccumulateLaunch{x, y});
}

Tensor scale(const Tensor& x, double alpha) {
  const Checks check("scale");
  check.defined(x, "x");
  ScaleLaunch launch{alpha, x, like_empty(x, x.shape())};
  dispatch(x.device(), x.dtype(), launch);
  return launch.y;
}

Tensor scale_by(const Tensor& x, const Tensor& alpha) {
  const Checks check("scale_by");
  check.defined(x, "x");
  check.like(alpha, "alpha", x, "x");
  if (alpha.numel() != 1) check.fail("alpha must hold one element; got shape " + alpha.shape().to_string());
  ScaleByLaunch launch{alpha, x, like_empty(x, x.shape())};
  dispatch(x.device(), x.dtype(), launch);
  return launch.y;
}

Tensor channel_affine_forward(const Tensor& x, const Tensor& scale, const Tensor& shift) {
  const Checks check("channel_affine_forward");
  check.dims(x, "x", 4, kNCHW);
  check.like(scale, "scale", x, "x");
  check.like(shift, "shift", x, "x");
  check.shape(scale, "scale", Shape{x.size(1)});
  check.shape(shift, "shift", Shape{x.size(1)});
  ChannelAffineForwardLaunch launch{dim(x, 0), dim(x, 1), plane(x), x, scale, shift, like_empty(x, x.shape())};
  dispatch(x.device(), x.dtype(), launch);
  return launch.y;
}

Tensor channel_affine_backward(const Tensor& dy, const Tensor& scale) {
  const Checks check("channel_affine_backward");
  check.dims(dy, "dy", 4, kNCHW);
  check.like(scale, "scale", dy, "dy");
  check.shape(scale, "scale", Shape{dy.size(1)});
  ChannelAffineBackwardLaunch launch{dim(dy, 0), dim(dy, 1), plane(dy), dy, scale, like_empty(dy, dy.shape())};
  dispatch(dy.device(), dy.dtype(), launch);
  return launch.dx;
}

// ---- resampling --------------------------------------------------------------------------------------------------

Tensor pool2x2_forward(Pool pool, const Tensor& x) {
  const Checks check("pool2x2_forward");
  check.dims(x, "x", 4, kNCHW);
  if (x.size(2) < 2 || x.size(3) < 2) check.fail("x " + x.shape().to_string() + " is smaller than the 2x2 window");
  Pool2x2ForwardLaunch launch{pool,      dim(x, 0) * dim(x, 1),
                              dim(x, 2), dim(x, 3),
                              x,         like_empty(x, Shape{x.size(0), x.size(1), x.size(2) / 2, x.size(3) / 2})};
  dispatch(x.device(), x.dtype(), launch);
  return launch.y;
}

Tensor pool2x2_backward(Pool pool, const Tensor& x, const Tensor& dy) {
  const Checks check("pool2x2_backward");
  check.dims(x, "x", 4, kNCHW);
  check.like(dy, "dy", x, "x");
  check.shape(dy, "dy", Shape{x.size(0), x.size(1), x.size(2) / 2, x.size(3) / 2});
  Pool2x2BackwardLaunch launch{pool, dim(x, 0) * dim(x, 1), dim(x, 2), dim(x, 3), x, dy, like_empty(x, x.shape())};
  dispatch(x.device(), x.dtype(), launch);
  return launch.dx;
}

Tensor upsample2x_forward(const Tensor& x) {
  const Checks check("upsample2x_forward");
  check.dims(x, "x", 4, kNCHW);
  Upsample2xForwardLaunch launch{dim(x, 0) * dim(x, 1), dim(x, 2), dim(x, 3), x,
                                 like_empty(x, Shape{x.size(0), x.size(1), 2 * x.size(2), 2 * x.size(3)})};
  dispatch(x.device(), x.dtype(), launch);
  return launch.y;
}

Tensor upsample2x_backward(const Tensor& dy) {
  const Checks check("upsample2x_backward");
  check.dims(dy, "dy", 4, kNCHW);
  if (dy.size(2) % 2 != 0 || dy.size(3) % 2 != 0)
    check.fail("dy " + dy.shape().to_string() + " must have even height and width (it is the gradient of 2x output)");
  const Shape x_shape{dy.size(0), dy.size(1), dy.size(2) / 2, dy.size(3) / 2};
  Upsample2xBackwardLaunch launch{dim(dy, 0) * dim(dy, 1), int(x_shape[2]), int(x_shape[3]), dy,
                                  like_empty(dy, x_shape)};
  dispatch(dy.device(), dy.dtype(), launch);
  return launch.dx;
}

// ---- Gram --------------------------------------------------------------------------------------------------------

Tensor gram_forward(const Tensor& features) {
  const Checks check("gram_forward");
  check.dims(features, "features", 4, kNCHW);
  GramForwardLaunch launch{dim(features, 0), dim(features, 1), plane(features), features,
                           like_empty(features, Shape{features.size(0), features.size(1), features.size(1)})};
  dispatch(features.device(), features.dtype(), launch);
  return launch.gram;
}

Tensor gram_backward(const Tensor& features, const Tensor& dgram) {
  const Checks check("gram_backward");
  check.dims(features, "features", 4, kNCHW);
  check.like(dgram, "dgram", features, "features");
  check.shape(dgram, "dgram", Shape{features.size(0), features.size(1), features.size(1)});
  GramBackwardLaunch launch{
      dim(features, 0), dim(features, 1), plane(features), features, dgram, like_empty(features, features.shape())};
  dispatch(features.device(), features.dtype(), launch);
  return launch.dfeatures;
}

// ---- losses ------------------------------------------------------------------------------------------------------

LossOutputs tv(TvMode mode, const Tensor& x, double eps) {
  const Checks check("tv");
  check.dims(x, "x", 4, kNCHW);
  TvLaunch launch{mode, eps, dim(x, 0), dim(x, 1), dim(x, 2), dim(x, 3), x, scalar_empty(x), like_empty(x, x.shape())};
  dispatch(x.device(), x.dtype(), launch);
  return {launch.value, launch.dx};
}

LossOutputs mse(const Tensor& prediction, const Tensor& target) {
  const Checks check("mse");
  check.defined(prediction, "prediction");
  check.same_shape(target, "target", prediction, "prediction");
  check.nonempty(prediction, "prediction");
  MseLaunch launch{prediction, target, scalar_empty(prediction), like_empty(prediction, prediction.shape())};
  dispatch(prediction.device(), prediction.dtype(), launch);
  return {launch.value, launch.dprediction};
}

LossOutputs gram_mse(const Tensor& features, const Tensor& target_gram) {
  const Checks check("gram_mse");
  check.dims(features, "features", 4, kNCHW);
  check.like(target_gram, "target_gram", features, "features");
  check.shape(target_gram, "target_gram", Shape{features.size(1), features.size(1)});
  GramMseLaunch launch{dim(features, 0),
                       dim(features, 1),
                       plane(features),
                       features,
                       target_gram,
                       scalar_empty(features),
                       like_empty(features, features.shape())};
  dispatch(features.device(), features.dtype(), launch);
  return {launch.value, launch.dfeatures};
}

LsganDOutputs lsgan_d(const Tensor& d_real, const Tensor& d_fake) {
  const Checks check("lsgan_d");
  check.defined(d_real, "d_real");
  check.like(d_fake, "d_fake", d_real, "d_real");
  check.nonempty(d_real, "d_real");
  check.nonempty(d_fake, "d_fake");
  LsganDLaunch launch{d_real, d_fake, scalar_empty(d_real), like_empty(d_real, d_real.shape()),
                      like_empty(d_fake, d_fake.shape())};
  dispatch(d_real.device(), d_real.dtype(), launch);
  return {launch.value, launch.dreal, launch.dfake};
}

LossOutputs lsgan_g(const Tensor& d_fake) {
  const Checks check("lsgan_g");
  check.defined(d_fake, "d_fake");
  check.nonempty(d_fake, "d_fake");
  LsganGLaunch launch{d_fake, scalar_empty(d_fake), like_empty(d_fake, d_fake.shape())};
  dispatch(d_fake.device(), d_fake.dtype(), launch);
  return {launch.value, launch.dfake};
}

// ---- reduce and Adam ---------------------------------------------------------------------------------------------

Tensor reduce(Reduction reduction, const Tensor& x) {
  const Checks check("reduce");
  check.defined(x, "x");
  ReduceLaunch launch{reduction, x, scalar_empty(x)};
  dispatch(x.device(), x.dtype(), launch);
  return launch.out;
}

void adam_step(const AdamConfig& config, Tensor& param, const Tensor& grad, Tensor& m, Tensor& v) {
  const Checks check("adam_step");
  check.defined(param, "param");
  check.same_shape(grad, "grad", param, "param");
  check.same_shape(m, "m", param, "param");
  check.same_shape(v, "v", param, "param");
  dispatch(param.device(), param.dtype(), AdamLaunch{config, param, grad, m, v});
}

}  // namespace gramgan::ops

#if !GRAMGAN_HAVE_CUDA
// Stand-in for engine/ops_cuda.cpp: check_device() stops every cuda path first.
template <class Launch>
void gramgan::detail::cuda_launch(int, DType, Launch&) {
  throw Error("the cuda device is unavailable: gramgan was built without the CUDA backend");
}
#endif
