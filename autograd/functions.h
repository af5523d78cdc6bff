// Differentiable ops over Variables. Each is a Node struct in functions.cpp with its forward and backward side by
// side; backward launches only the kernels whose gradients an input needs (a frozen weight costs no weight-gradient
// kernel). Losses are fused kernels: the forward computes value and gradient together and backward scales the saved
// gradient by the incoming one.
#pragma once

#include <cstdint>

#include "autograd/variable.h"
#include "engine/ops.h"

namespace gramgan::autograd {

// x (N, Cin, H, W), weight (Cout, Cin, KH, KW), bias (Cout) or undefined.
Variable conv2d(const Variable& x, const Variable& weight, const Variable& bias, const ops::Conv2dGeometry& geometry);
// Affine instance norm; gamma, beta (C).
Variable instance_norm(const Variable& x, const Variable& gamma, const Variable& beta, double eps = 1e-5);
// Adaptive instance norm (Huang & Belongie 2017): content (N, C, H, W) with the per-plane mean and sigma of
// style (N, C, Hs, Ws); gradients flow to both.
Variable adain(const Variable& content, const Variable& style, double eps = 1e-5);
Variable activation(Activation activation, const Variable& x, double slope = 0.2);
Variable add(const Variable& a, const Variable& b);
Variable scale(const Variable& x, double alpha);
// Constant per-channel scale and shift (ImageNet normalisation): only x gets a gradient.
Variable channel_affine(const Variable& x, const Tensor& scale, const Tensor& shift);
Variable pool2x2(Pool pool, const Variable& x);
Variable upsample2x(const Variable& x);
Variable gram(const Variable& features);

// Losses: 1-element variables.
// eps keeps the sqrt form's gradient finite where the image is flat (DESIGN.md section 3).
inline constexpr double kTvEps = 1e-8;
Variable tv_loss(TvMode mode, const Variable& x, double eps = kTvEps);
Variable mse_loss(const Variable& prediction, const Tensor& target);
// target_gram (C, C) for the whole batch, or (N, C, C): each image against its own style's Gram.
Variable gram_mse_loss(const Variable& features, const Tensor& target_gram);
Variable lsgan_d_loss(const Variable& score_real, const Variable& score_fake);
Variable lsgan_g_loss(const Variable& score_fake);

// Weight-gradient kernels (conv2d_backward_weight) launched by conv2d's backward in this process: telemetry, and
// how tests see that frozen weights cost none.
std::uint64_t conv2d_weight_gradient_launches();

}  // namespace gramgan::autograd
