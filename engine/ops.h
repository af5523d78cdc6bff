// Tensor-level ops: one function per launcher of kernels/ops.inc. Each checks shapes, dtypes and devices (throwing
// gramgan::Error naming the op and the shapes), allocates its outputs and workspaces, and runs the launcher of the
// tensor's device (gramgan::sim on cpu, gramgan::cuda on cuda) for its dtype (float32 or float64).
//
// Layouts are NCHW: ops on images take 4-d tensors (N, C, H, W). Backward ops return fresh gradient tensors; only
// accumulate() adds into an existing one. Loss values are 1-element tensors of shape (1,).
#pragma once

#include "engine/tensor.h"
#include "kernels/shapes.h"

namespace gramgan::ops {

// ---- convolution: x (N, Cin, H, W), weight (Cout, Cin, KH, KW), bias (Cout) or null -> y (N, Cout, OH, OW) ----
// How the kernel window moves over x (the part of a convolution the tensors' shapes do not say); with those
// shapes it makes the launcher's Conv2dShape.
struct Conv2dGeometry {
  int stride = 1, pad = 0;
  Padding padding = Padding::zeros;
  Precision precision = Precision::fp32;  // tf32: float convolutions on tensor cores (kernels/shapes.h)
  // x is read as upsample2x_forward(x) without storing it (kernels/shapes.h): y is the conv of the upsampled x.
  // The backward ops take the stored x (or its shape) and upsample for their kernels: the saving is the forward's.
  bool upsample = false;
};
Tensor conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor* bias, const Conv2dGeometry& geometry);
// dx of shape x_shape from dy.
Tensor conv2d_backward_data(const Tensor& dy, const Tensor& weight, const Shape& x_shape,
                            const Conv2dGeometry& geometry);
struct Conv2dWeightGrads {
  Tensor dweight, dbias;  // dbias undefined unless asked for
};
Conv2dWeightGrads conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Shape& weight_shape, bool with_bias,
                                         const Conv2dGeometry& geometry);

// ---- instance norm: gamma, beta (C); mean, inv_std (N, C) saved for backward ----
struct InstanceNormOutputs {
  Tensor y, mean, inv_std;
};
InstanceNormOutputs instance_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps);
// Inference: normalises x in place and keeps no statistics. The kernel reads a plane's statistics before it writes
// any of it, and each element is read and written by one thread, so the output may be the input.
void instance_norm_forward_in_place(Tensor& x, const Tensor& gamma, const Tensor& beta, double eps);
struct InstanceNormGrads {
  Tensor dx, dgamma, dbeta;
};
InstanceNormGrads instance_norm_backward(const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& mean,
                                         const Tensor& inv_std);

// ---- adaptive instance norm: content (N, C, H, W), style (N, C, Hs, Ws) -> y of content's shape ----
// Each (n, c) plane of the content takes the mean and sigma = sqrt(unbiased var + eps) of the style's plane
// (Huang & Belongie 2017); the statistics (N, C) are saved for backward.
struct AdainOutputs {
  Tensor y, content_mean, content_inv_std, style_mean, style_std;
};
AdainOutputs adain_forward(const Tensor& content, const Tensor& style, double eps = 1e-5);
struct AdainGrads {
  Tensor dcontent, dstyle;
};
AdainGrads adain_backward(const Tensor& content, const Tensor& style, const Tensor& dy, const AdainOutputs& saved);

// ---- elementwise (any shape) ----
Tensor activation_forward(Activation activation, const Tensor& x, double slope = 0.2);
void activation_forward_in_place(Activation activation, Tensor& x, double slope = 0.2);  // x = f(x)
Tensor activation_backward(Activation activation, const Tensor& x, const Tensor& y, const Tensor& dy,
                           double slope = 0.2);
Tensor add(const Tensor& a, const Tensor& b);
void accumulate(Tensor& y, const Tensor& x);  // y += x
Tensor scale(const Tensor& x, double alpha);
Tensor scale_by(const Tensor& x, const Tensor& alpha);  // alpha: 1 element, on x's device
// x (N, C, H, W); scale, shift (C).
Tensor channel_affine_forward(const Tensor& x, const Tensor& scale, const Tensor& shift);
Tensor channel_affine_backward(const Tensor& dy, const Tensor& scale);

// ---- resampling: x (N, C, H, W) ----
Tensor pool2x2_forward(Pool pool, const Tensor& x);  // (N, C, H/2, W/2)
Tensor pool2x2_backward(Pool pool, const Tensor& x, const Tensor& dy);
Tensor upsample2x_forward(const Tensor& x);  // (N, C, 2H, 2W)
Tensor upsample2x_backward(const Tensor& dy);

// ---- Gram matrices: features (N, C, H, W) -> gram (N, C, C) ----
Tensor gram_forward(const Tensor& features);
Tensor gram_backward(const Tensor& features, const Tensor& dgram);

// ---- losses: value and gradient in one pass ----
struct LossOutputs {
  Tensor value, grad;  // value: (1,); grad: the input's shape
};
LossOutputs tv(TvMode mode, const Tensor& x, double eps = 1e-8);
LossOutputs mse(const Tensor& prediction, const Tensor& target);
// target_gram (C, C) shared by the batch, or (N, C, C): one target per image.
LossOutputs gram_mse(const Tensor& features, const Tensor& target_gram);
struct LsganDOutputs {
  Tensor value, dscore_real, dscore_fake;  // the gradients of value with respect to the scores
};
LsganDOutputs lsgan_d(const Tensor& score_real, const Tensor& score_fake);
LossOutputs lsgan_g(const Tensor& score_fake);

// ---- telemetry and optimisation ----
Tensor reduce(Reduction reduction, const Tensor& x);  // (1,)
// In place: param, m and v updated from grad; all four of one shape, dtype and device.
void adam_step(const AdamConfig& config, Tensor& param, const Tensor& grad, Tensor& m, Tensor& v);

}  // namespace gramgan::ops
