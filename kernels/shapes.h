// Plain descriptions of op configurations shared by launchers, engine and tests (host and device code alike).
#pragma once

namespace gramgan {

enum class Padding { zeros, reflect };

// The arithmetic of a float convolution or Gram matrix: fp32 (FMA units, the reference), or tf32 (tensor cores:
// operands rounded to TF32, products summed in FP32 accumulators; kernels/conv2d_mma.cuh). Double is always
// computed in double.
enum class Precision { fp32, tf32 };

// conv2d, NCHW, groups = 1. Padding is folded into the index math (no padded copy); reflection padding mirrors
// about the edge pixel without repeating it (PyTorch's ReflectionPad2d), so it needs pad < height and pad < width.
struct Conv2dShape {
  int batch = 1, in_channels = 1, height = 1, width = 1;  // x: (batch, in_channels, height, width)
  int out_channels = 1, kernel_h = 1, kernel_w = 1;       // weight: (out_channels, in_channels, kernel_h, kernel_w)
  int stride = 1, pad = 0;
  Padding padding = Padding::zeros;
  Precision precision = Precision::fp32;
  // The forward reads x as its nearest 2x upsampling, (2 height, 2 width), without storing it: the convolution
  // (padding included) is that of the upsampled image. Saves the 4x tensor an upsample before a conv would write
  // (the generator's decoder; 3 GB at 4000x3000). conv2d_forward only: the backward passes take the stored image.
  bool upsample = false;

  constexpr int in_height() const { return upsample ? 2 * height : height; }  // the image the convolution sees
  constexpr int in_width() const { return upsample ? 2 * width : width; }
  constexpr int out_height() const { return (in_height() + 2 * pad - kernel_h) / stride + 1; }
  constexpr int out_width() const { return (in_width() + 2 * pad - kernel_w) / stride + 1; }
};

// Gram matrices of feature maps, features: (batch, channels, plane); gram[n] = F_n F_n^T / (channels plane).
// precision: tf32 runs the float forward on tensor cores (kernels/gram.cuh), fp32 on FMA units.
struct GramShape {
  int batch = 1, channels = 1, plane = 1;
  Precision precision = Precision::fp32;
};

enum class Activation {
  relu,
  leaky_relu,  // x > 0 ? x : slope x
  tanh,
  tanh_unit,  // (tanh(x) + 1) / 2: the generator's output map to [0, 1]
};

enum class Pool { max, average };

enum class TvMode {
  sqrt,     // sqrt((u[i,j]-u[i+1,j])^2 + (u[i,j]-u[i,j+1])^2 + eps)
  squared,  // (u[i,j]-u[i+1,j])^2 + (u[i,j]-u[i,j+1])^2
};

enum class Reduction { sum, mean, sum_squares, min, max, count_nonfinite };

struct AdamConfig {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0;  // decoupled (AdamW): param -= lr * weight_decay * param
  long long step = 1;       // 1-based step count, for bias correction
};

}  // namespace gramgan
