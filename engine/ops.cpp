#include "engine/ops.h"

#include <climits>
#include <stdexcept>
#include <string>
#include <utility>

#include "engine/dispatch.h"
#include "engine/error.h"

namespace gramgan::ops {
namespace {

using detail::ptr;
using detail::workspace;

// Runs body<T>(stream) on the backend of `t`'s device for its dtype (engine/dispatch.h).
template <class Body>
void dispatch(const Tensor& t, Body&& body) {
  detail::dispatch(t.device(), t.dtype(), std::forward<Body>(body));
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
int planes(const Tensor& t) { return dim(t, 0) * dim(t, 1); }  // of an (N, C, H, W) tensor
std::size_t count(const Tensor& t) { return std::size_t(t.numel()); }

Tensor like_empty(const Tensor& t, const Shape& shape) { return Tensor::empty(shape, t.dtype(), t.device()); }
Tensor scalar_empty(const Tensor& t) { return like_empty(t, Shape{1}); }

Conv2dShape conv_shape(const Checks& check, const Shape& x, const Shape& weight, const Conv2dGeometry& geometry) {
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
  s.stride = geometry.stride;
  s.pad = geometry.pad;
  s.padding = geometry.padding;
  s.precision = geometry.precision;
  s.upsample = geometry.upsample;
  if (s.stride < 1 || s.pad < 0) check.fail("needs stride >= 1 and pad >= 0");
  if (s.out_height() < 1 || s.out_width() < 1)
    check.fail("kernel " + weight.to_string() + " with pad " + std::to_string(s.pad) + " does not fit x " +
               x.to_string());
  return s;
}

Shape conv_out_shape(const Conv2dShape& s) { return Shape{s.batch, s.out_channels, s.out_height(), s.out_width()}; }

}  // namespace

// ---- convolution -------------------------------------------------------------------------------------------------

Tensor conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor* bias, const Conv2dGeometry& geometry) {
  const Checks check("conv2d_forward");
  check.dims(x, "x", 4, kNCHW);
  check.dims(weight, "weight", 4, "(Cout, Cin, KH, KW)");
  check.like(weight, "weight", x, "x");
  const Conv2dShape s = conv_shape(check, x.shape(), weight.shape(), geometry);
  if (bias != nullptr) {
    check.like(*bias, "bias", x, "x");
    check.shape(*bias, "bias", Shape{s.out_channels});
  }
  const Tensor b = bias ? *bias : Tensor();
  Tensor y = like_empty(x, conv_out_shape(s));
  dispatch(x,
           [&]<class T>(auto stream) { conv2d_forward(s, ptr<T>(x), ptr<T>(weight), ptr<T>(b), ptr<T>(y), stream); });
  return y;
}

Tensor conv2d_backward_data(const Tensor& dy, const Tensor& weight, const Shape& x_shape,
                            const Conv2dGeometry& geometry) {
  const Checks check("conv2d_backward_data");
  check.dims(dy, "dy", 4, kNCHW);
  check.dims(weight, "weight", 4, "(Cout, Cin, KH, KW)");
  check.like(weight, "weight", dy, "dy");
  const Conv2dShape s = conv_shape(check, x_shape, weight.shape(), geometry);
  check.shape(dy, "dy", conv_out_shape(s));
  if (geometry.upsample) {  // the adjoint of the upsampling: the gradient of the upsampled x, summed per 2x2 block
    Conv2dGeometry plain = geometry;
    plain.upsample = false;
    const Shape upsampled{x_shape[0], x_shape[1], 2 * x_shape[2], 2 * x_shape[3]};
    return upsample2x_backward(conv2d_backward_data(dy, weight, upsampled, plain));
  }
  Tensor dx = like_empty(dy, x_shape);
  dispatch(dy, [&]<class T>(auto stream) { conv2d_backward_data(s, ptr<T>(dy), ptr<T>(weight), ptr<T>(dx), stream); });
  return dx;
}

Conv2dWeightGrads conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Shape& weight_shape, bool with_bias,
                                         const Conv2dGeometry& geometry) {
  const Checks check("conv2d_backward_weight");
  check.dims(x, "x", 4, kNCHW);
  check.dims(dy, "dy", 4, kNCHW);
  check.like(dy, "dy", x, "x");
  const Conv2dShape s = conv_shape(check, x.shape(), weight_shape, geometry);
  check.shape(dy, "dy", conv_out_shape(s));
  if (geometry.upsample) {
    Conv2dGeometry plain = geometry;
    plain.upsample = false;
    return conv2d_backward_weight(upsample2x_forward(x), dy, weight_shape, with_bias, plain);
  }
  Conv2dWeightGrads grads{like_empty(x, weight_shape), with_bias ? like_empty(x, Shape{s.out_channels}) : Tensor()};
  dispatch(x, [&]<class T>(auto stream) {
    const Tensor ws = workspace<T>(conv2d_backward_weight_workspace(s, stream), x.device());
    conv2d_backward_weight(s, ptr<T>(x), ptr<T>(dy), ptr<T>(grads.dweight), ptr<T>(grads.dbias), ptr<T>(ws), stream);
  });
  return grads;
}

// ---- instance norm -----------------------------------------------------------------------------------------------

namespace {

void check_instance_norm_forward(const Checks& check, const Tensor& x, const Tensor& gamma, const Tensor& beta) {
  check.dims(x, "x", 4, kNCHW);
  check.like(gamma, "gamma", x, "x");
  check.like(beta, "beta", x, "x");
  check.shape(gamma, "gamma", Shape{x.size(1)});
  check.shape(beta, "beta", Shape{x.size(1)});
}

// The launch behind both forms: y is a new tensor, or x itself.
InstanceNormOutputs launch_instance_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                                                 Tensor y) {
  const Shape stats{x.size(0), x.size(1)};
  InstanceNormOutputs out{std::move(y), like_empty(x, stats), like_empty(x, stats)};
  dispatch(x, [&]<class T>(auto stream) {
    instance_norm_forward(dim(x, 0), dim(x, 1), plane(x), T(eps), ptr<T>(x), ptr<T>(gamma), ptr<T>(beta), ptr<T>(out.y),
                          ptr<T>(out.mean), ptr<T>(out.inv_std), stream);
  });
  return out;
}

}  // namespace

InstanceNormOutputs instance_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  check_instance_norm_forward(Checks("instance_norm_forward"), x, gamma, beta);
  return launch_instance_norm_forward(x, gamma, beta, eps, like_empty(x, x.shape()));
}

void instance_norm_forward_in_place(Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  check_instance_norm_forward(Checks("instance_norm_forward_in_place"), x, gamma, beta);
  launch_instance_norm_forward(x, gamma, beta, eps, x);
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
  InstanceNormGrads grads{like_empty(x, x.shape()), like_empty(x, gamma.shape()), like_empty(x, gamma.shape())};
  dispatch(x, [&]<class T>(auto stream) {
    const Tensor ws = workspace<T>(instance_norm_backward_workspace(dim(x, 0), dim(x, 1), stream), x.device());
    instance_norm_backward(dim(x, 0), dim(x, 1), plane(x), ptr<T>(x), ptr<T>(dy), ptr<T>(gamma), ptr<T>(mean),
                           ptr<T>(inv_std), ptr<T>(grads.dx), ptr<T>(grads.dgamma), ptr<T>(grads.dbeta), ptr<T>(ws),
                           stream);
  });
  return grads;
}

// ---- adaptive instance norm -------------------------------------------------------------------------------------

namespace {
// content and style: (N, C, *) alike but for their planes, each of at least 2 elements.
void check_adain_inputs(const Checks& check, const Tensor& content, const Tensor& style) {
  check.dims(content, "content", 4, kNCHW);
  check.dims(style, "style", 4, kNCHW);
  check.like(style, "style", content, "content");
  if (style.size(0) != content.size(0) || style.size(1) != content.size(1))
    check.fail("style " + style.shape().to_string() + " must have the batch and channels of content " +
               content.shape().to_string());
  if (plane(content) < 2 || plane(style) < 2)
    check.fail("needs planes of at least 2 elements (the unbiased variance); got content " +
               content.shape().to_string() + " and style " + style.shape().to_string());
}
}  // namespace

AdainOutputs adain_forward(const Tensor& content, const Tensor& style, double eps) {
  const Checks check("adain_forward");
  check_adain_inputs(check, content, style);
  if (!(eps >= 0)) check.fail("eps must be >= 0; got " + std::to_string(eps));
  const Shape stats{content.size(0), content.size(1)};
  AdainOutputs out{like_empty(content, content.shape()), like_empty(content, stats), like_empty(content, stats),
                   like_empty(content, stats), like_empty(content, stats)};
  dispatch(content, [&]<class T>(auto stream) {
    adain_forward(dim(content, 0), dim(content, 1), plane(content), plane(style), T(eps), ptr<T>(content),
                  ptr<T>(style), ptr<T>(out.y), ptr<T>(out.content_mean), ptr<T>(out.content_inv_std),
                  ptr<T>(out.style_mean), ptr<T>(out.style_std), stream);
  });
  return out;
}

AdainGrads adain_backward(const Tensor& content, const Tensor& style, const Tensor& dy, const AdainOutputs& saved) {
  const Checks check("adain_backward");
  check_adain_inputs(check, content, style);
  check.same_shape(dy, "dy", content, "content");
  const Shape stats{content.size(0), content.size(1)};
  const std::pair<const Tensor*, const char*> statistics[] = {{&saved.content_mean, "content_mean"},
                                                              {&saved.content_inv_std, "content_inv_std"},
                                                              {&saved.style_mean, "style_mean"},
                                                              {&saved.style_std, "style_std"}};
  for (const auto& [t, name] : statistics) {
    check.like(*t, name, content, "content");
    check.shape(*t, name, stats);
  }
  AdainGrads grads{like_empty(content, content.shape()), like_empty(style, style.shape())};
  dispatch(content, [&]<class T>(auto stream) {
    const int batch = dim(content, 0), channels = dim(content, 1);
    const Tensor ws = workspace<T>(adain_backward_workspace(batch, channels, stream), content.device());
    adain_backward(batch, channels, plane(content), plane(style), ptr<T>(content), ptr<T>(style), ptr<T>(dy),
                   ptr<T>(saved.content_mean), ptr<T>(saved.content_inv_std), ptr<T>(saved.style_mean),
                   ptr<T>(saved.style_std), ptr<T>(grads.dcontent), ptr<T>(grads.dstyle), ptr<T>(ws), stream);
  });
  return grads;
}

// ---- elementwise -------------------------------------------------------------------------------------------------

Tensor activation_forward(Activation activation, const Tensor& x, double slope) {
  const Checks check("activation_forward");
  check.defined(x, "x");
  Tensor y = like_empty(x, x.shape());
  dispatch(x, [&]<class T>(auto stream) {
    activation_forward(activation, T(slope), count(x), ptr<T>(x), ptr<T>(y), stream);
  });
  return y;
}

void activation_forward_in_place(Activation activation, Tensor& x, double slope) {
  const Checks check("activation_forward_in_place");
  check.defined(x, "x");
  // map_kernel reads and writes each element (or 16-byte pack) in one thread.
  dispatch(x, [&]<class T>(auto stream) {
    activation_forward(activation, T(slope), count(x), ptr<T>(x), ptr<T>(x), stream);
  });
}

Tensor activation_backward(Activation activation, const Tensor& x, const Tensor& y, const Tensor& dy, double slope) {
  const Checks check("activation_backward");
  check.defined(x, "x");
  check.same_shape(y, "y", x, "x");
  check.same_shape(dy, "dy", x, "x");
  Tensor dx = like_empty(x, x.shape());
  dispatch(x, [&]<class T>(auto stream) {
    activation_backward(activation, T(slope), count(x), ptr<T>(x), ptr<T>(y), ptr<T>(dy), ptr<T>(dx), stream);
  });
  return dx;
}

Tensor add(const Tensor& a, const Tensor& b) {
  const Checks check("add");
  check.defined(a, "a");
  check.same_shape(b, "b", a, "a");
  Tensor y = like_empty(a, a.shape());
  dispatch(a, [&]<class T>(auto stream) { add(count(y), ptr<T>(a), ptr<T>(b), ptr<T>(y), stream); });
  return y;
}

void accumulate(Tensor& y, const Tensor& x) {
  const Checks check("accumulate");
  check.defined(y, "y");
  check.same_shape(x, "x", y, "y");
  dispatch(y, [&]<class T>(auto stream) { accumulate(count(y), ptr<T>(x), ptr<T>(y), stream); });
}

Tensor scale(const Tensor& x, double alpha) {
  const Checks check("scale");
  check.defined(x, "x");
  Tensor y = like_empty(x, x.shape());
  dispatch(x, [&]<class T>(auto stream) { scale(count(y), T(alpha), ptr<T>(x), ptr<T>(y), stream); });
  return y;
}

Tensor scale_by(const Tensor& x, const Tensor& alpha) {
  const Checks check("scale_by");
  check.defined(x, "x");
  check.like(alpha, "alpha", x, "x");
  if (alpha.numel() != 1) check.fail("alpha must hold one element; got shape " + alpha.shape().to_string());
  Tensor y = like_empty(x, x.shape());
  dispatch(x, [&]<class T>(auto stream) { scale_by(count(y), ptr<T>(alpha), ptr<T>(x), ptr<T>(y), stream); });
  return y;
}

Tensor channel_affine_forward(const Tensor& x, const Tensor& scale, const Tensor& shift) {
  const Checks check("channel_affine_forward");
  check.dims(x, "x", 4, kNCHW);
  check.like(scale, "scale", x, "x");
  check.like(shift, "shift", x, "x");
  check.shape(scale, "scale", Shape{x.size(1)});
  check.shape(shift, "shift", Shape{x.size(1)});
  Tensor y = like_empty(x, x.shape());
  dispatch(x, [&]<class T>(auto stream) {
    channel_affine_forward(dim(x, 0), dim(x, 1), plane(x), ptr<T>(x), ptr<T>(scale), ptr<T>(shift), ptr<T>(y), stream);
  });
  return y;
}

Tensor channel_affine_backward(const Tensor& dy, const Tensor& scale) {
  const Checks check("channel_affine_backward");
  check.dims(dy, "dy", 4, kNCHW);
  check.like(scale, "scale", dy, "dy");
  check.shape(scale, "scale", Shape{dy.size(1)});
  Tensor dx = like_empty(dy, dy.shape());
  dispatch(dy, [&]<class T>(auto stream) {
    channel_affine_backward(dim(dy, 0), dim(dy, 1), plane(dy), ptr<T>(dy), ptr<T>(scale), ptr<T>(dx), stream);
  });
  return dx;
}

// ---- resampling --------------------------------------------------------------------------------------------------

Tensor pool2x2_forward(Pool pool, const Tensor& x) {
  const Checks check("pool2x2_forward");
  check.dims(x, "x", 4, kNCHW);
  if (x.size(2) < 2 || x.size(3) < 2) check.fail("x " + x.shape().to_string() + " is smaller than the 2x2 window");
  Tensor y = like_empty(x, Shape{x.size(0), x.size(1), x.size(2) / 2, x.size(3) / 2});
  dispatch(x, [&]<class T>(auto stream) {
    pool2x2_forward(pool, planes(x), dim(x, 2), dim(x, 3), ptr<T>(x), ptr<T>(y), stream);
  });
  return y;
}

Tensor pool2x2_backward(Pool pool, const Tensor& x, const Tensor& dy) {
  const Checks check("pool2x2_backward");
  check.dims(x, "x", 4, kNCHW);
  check.like(dy, "dy", x, "x");
  check.shape(dy, "dy", Shape{x.size(0), x.size(1), x.size(2) / 2, x.size(3) / 2});
  Tensor dx = like_empty(x, x.shape());
  dispatch(x, [&]<class T>(auto stream) {
    pool2x2_backward(pool, planes(x), dim(x, 2), dim(x, 3), ptr<T>(x), ptr<T>(dy), ptr<T>(dx), stream);
  });
  return dx;
}

Tensor upsample2x_forward(const Tensor& x) {
  const Checks check("upsample2x_forward");
  check.dims(x, "x", 4, kNCHW);
  Tensor y = like_empty(x, Shape{x.size(0), x.size(1), 2 * x.size(2), 2 * x.size(3)});
  dispatch(x, [&]<class T>(auto stream) {
    upsample2x_forward(planes(x), dim(x, 2), dim(x, 3), ptr<T>(x), ptr<T>(y), stream);
  });
  return y;
}

Tensor upsample2x_backward(const Tensor& dy) {
  const Checks check("upsample2x_backward");
  check.dims(dy, "dy", 4, kNCHW);
  if (dy.size(2) % 2 != 0 || dy.size(3) % 2 != 0)
    check.fail("dy " + dy.shape().to_string() + " must have even height and width (it is the gradient of 2x output)");
  Tensor dx = like_empty(dy, Shape{dy.size(0), dy.size(1), dy.size(2) / 2, dy.size(3) / 2});
  dispatch(dy, [&]<class T>(auto stream) {
    upsample2x_backward(planes(dx), dim(dx, 2), dim(dx, 3), ptr<T>(dy), ptr<T>(dx), stream);
  });
  return dx;
}

// ---- Gram --------------------------------------------------------------------------------------------------------

Tensor gram_forward(const Tensor& features) {
  const Checks check("gram_forward");
  check.dims(features, "features", 4, kNCHW);
  const int batch = dim(features, 0), channels = dim(features, 1);
  Tensor gram = like_empty(features, Shape{batch, channels, channels});
  dispatch(features, [&]<class T>(auto stream) {
    // FP32 whatever --precision says (kernels/gram.cu: why the Gram does not follow the convolutions into tf32).
    const GramShape shape{batch, channels, plane(features)};
    const Tensor ws = workspace<T>(gram_forward_workspace(shape, stream), features.device());
    gram_forward(shape, ptr<T>(features), ptr<T>(gram), ptr<T>(ws), stream);
  });
  return gram;
}

Tensor gram_backward(const Tensor& features, const Tensor& dgram) {
  const Checks check("gram_backward");
  check.dims(features, "features", 4, kNCHW);
  check.like(dgram, "dgram", features, "features");
  check.shape(dgram, "dgram", Shape{features.size(0), features.size(1), features.size(1)});
  Tensor dfeatures = like_empty(features, features.shape());
  dispatch(features, [&]<class T>(auto stream) {
    gram_backward(dim(features, 0), dim(features, 1), plane(features), ptr<T>(features), ptr<T>(dgram),
                  ptr<T>(dfeatures), stream);
  });
  return dfeatures;
}

// ---- losses ------------------------------------------------------------------------------------------------------

LossOutputs tv(TvMode mode, const Tensor& x, double eps) {
  const Checks check("tv");
  check.dims(x, "x", 4, kNCHW);
  LossOutputs out{scalar_empty(x), like_empty(x, x.shape())};
  dispatch(x, [&]<class T>(auto stream) {
    const int n = dim(x, 0), c = dim(x, 1), h = dim(x, 2), w = dim(x, 3);
    const Tensor ws = workspace<T>(tv_workspace(n, c, h, w, stream), x.device());
    tv_forward_backward(mode, T(eps), n, c, h, w, ptr<T>(x), ptr<T>(out.value), ptr<T>(out.grad), ptr<T>(ws), stream);
  });
  return out;
}

LossOutputs mse(const Tensor& prediction, const Tensor& target) {
  const Checks check("mse");
  check.defined(prediction, "prediction");
  check.same_shape(target, "target", prediction, "prediction");
  check.nonempty(prediction, "prediction");
  LossOutputs out{scalar_empty(prediction), like_empty(prediction, prediction.shape())};
  dispatch(prediction, [&]<class T>(auto stream) {
    const Tensor ws = workspace<T>(mse_workspace(count(prediction), stream), prediction.device());
    mse_forward_backward(count(prediction), ptr<T>(prediction), ptr<T>(target), ptr<T>(out.value), ptr<T>(out.grad),
                         ptr<T>(ws), stream);
  });
  return out;
}

LossOutputs gram_mse(const Tensor& features, const Tensor& target_gram) {
  const Checks check("gram_mse");
  check.dims(features, "features", 4, kNCHW);
  check.like(target_gram, "target_gram", features, "features");
  const bool per_image = target_gram.defined() && target_gram.dims() == 3;
  if (per_image)
    check.shape(target_gram, "target_gram", Shape{features.size(0), features.size(1), features.size(1)});
  else
    check.shape(target_gram, "target_gram", Shape{features.size(1), features.size(1)});
  LossOutputs out{scalar_empty(features), like_empty(features, features.shape())};
  dispatch(features, [&]<class T>(auto stream) {
    const int batch = dim(features, 0), channels = dim(features, 1);
    const Tensor ws = workspace<T>(gram_mse_workspace(batch, channels, plane(features), stream), features.device());
    gram_mse_forward_backward(batch, channels, plane(features), ptr<T>(features), ptr<T>(target_gram), per_image,
                              ptr<T>(out.value), ptr<T>(out.grad), ptr<T>(ws), stream);
  });
  return out;
}

LsganDOutputs lsgan_d(const Tensor& score_real, const Tensor& score_fake) {
  const Checks check("lsgan_d");
  check.defined(score_real, "score_real");
  check.like(score_fake, "score_fake", score_real, "score_real");
  check.nonempty(score_real, "score_real");
  check.nonempty(score_fake, "score_fake");
  LsganDOutputs out{scalar_empty(score_real), like_empty(score_real, score_real.shape()),
                    like_empty(score_fake, score_fake.shape())};
  dispatch(score_real, [&]<class T>(auto stream) {
    const std::size_t real = count(score_real), fake = count(score_fake);
    const Tensor ws = workspace<T>(lsgan_workspace(real, fake, stream), score_real.device());
    lsgan_d_forward_backward(real, ptr<T>(score_real), fake, ptr<T>(score_fake), ptr<T>(out.value),
                             ptr<T>(out.dscore_real), ptr<T>(out.dscore_fake), ptr<T>(ws), stream);
  });
  return out;
}

LossOutputs lsgan_g(const Tensor& score_fake) {
  const Checks check("lsgan_g");
  check.defined(score_fake, "score_fake");
  check.nonempty(score_fake, "score_fake");
  LossOutputs out{scalar_empty(score_fake), like_empty(score_fake, score_fake.shape())};
  dispatch(score_fake, [&]<class T>(auto stream) {
    const Tensor ws = workspace<T>(lsgan_workspace(0, count(score_fake), stream), score_fake.device());
    lsgan_g_forward_backward(count(score_fake), ptr<T>(score_fake), ptr<T>(out.value), ptr<T>(out.grad), ptr<T>(ws),
                             stream);
  });
  return out;
}

// ---- reduce and Adam ---------------------------------------------------------------------------------------------

Tensor reduce(Reduction reduction, const Tensor& x) {
  const Checks check("reduce");
  check.defined(x, "x");
  Tensor out = scalar_empty(x);
  dispatch(x, [&]<class T>(auto stream) {
    const Tensor ws = workspace<T>(reduce_workspace(count(x), stream), x.device());
    reduce(reduction, count(x), ptr<T>(x), ptr<T>(out), ptr<T>(ws), stream);
  });
  return out;
}

void adam_step(const AdamConfig& config, Tensor& param, const Tensor& grad, Tensor& m, Tensor& v) {
  const Checks check("adam_step");
  check.defined(param, "param");
  check.same_shape(grad, "grad", param, "param");
  check.same_shape(m, "m", param, "param");
  check.same_shape(v, "v", param, "param");
  dispatch(param, [&]<class T>(auto stream) {
    adam_step(config, count(param), ptr<T>(param), ptr<T>(grad), ptr<T>(m), ptr<T>(v), stream);
  });
}

}  // namespace gramgan::ops
