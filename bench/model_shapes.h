// The models' shapes and work counts that bench_ops (cpu backend) and bench_gpu (cuda backend) share, so a figure
// from one stands beside the other's: VGG-19 on a 256x256 input, the generator and the PatchGAN discriminator, at
// batch 4 (apps/gan/models.cpp, vgg.cpp; DESIGN.md section 4). Each suite keeps its own list of convolutions, since
// the simulator runs the larger ones at batch 1.
#pragma once

#include <cstddef>
#include <vector>

#include "kernels/shapes.h"

namespace gramgan::bench {

// ---- conv2d -------------------------------------------------------------------------------------------------------

struct ConvCase {
  const char* name;
  Conv2dShape shape;
};

// A square input of side `size`, a square kernel.
inline Conv2dShape conv(int batch, int cin, int size, int cout, int kernel, int stride, int pad, Padding padding) {
  Conv2dShape s;
  s.batch = batch;
  s.in_channels = cin;
  s.height = s.width = size;
  s.out_channels = cout;
  s.kernel_h = s.kernel_w = kernel;
  s.stride = stride;
  s.pad = pad;
  s.padding = padding;
  return s;
}

inline std::size_t x_count(const Conv2dShape& s) { return std::size_t(s.batch) * s.in_channels * s.height * s.width; }
inline std::size_t y_count(const Conv2dShape& s) {
  return std::size_t(s.batch) * s.out_channels * s.out_height() * s.out_width();
}
inline std::size_t w_count(const Conv2dShape& s) {
  return std::size_t(s.out_channels) * s.in_channels * s.kernel_h * s.kernel_w;
}
// Multiply-adds of one pass (all three passes do the same GEMM volume), times two.
inline double conv_flops(const Conv2dShape& s) {
  return 2.0 * double(y_count(s)) * s.in_channels * s.kernel_h * s.kernel_w;
}

// ---- Gram at the five style layers (VGG-19, 256x256, batch 4) -----------------------------------------------------

struct GramCase {
  const char* name;
  int batch, channels, plane;
};

inline const std::vector<GramCase>& gram_cases() {
  static const std::vector<GramCase> cases = {
      {"relu1_1_c64_256x256_n4", 4, 64, 256 * 256}, {"relu2_1_c128_128x128_n4", 4, 128, 128 * 128},
      {"relu3_1_c256_64x64_n4", 4, 256, 64 * 64},   {"relu4_1_c512_32x32_n4", 4, 512, 32 * 32},
      {"relu5_1_c512_16x16_n4", 4, 512, 16 * 16},
  };
  return cases;
}

// ---- memory-bound ops ---------------------------------------------------------------------------------------------

// Instance norm on the generator's residual activations, (4, 128, 64, 64).
inline constexpr int kNormBatch = 4, kNormChannels = 128, kNormPlane = 64 * 64;
// Activations, the residual add and the sum reduction on the generator's first layer output, (4, 32, 256, 256) = 8M.
inline constexpr std::size_t kActCount = std::size_t(4) * 32 * 256 * 256;
// VGG pool1: (4, 64, 256, 256) planes -> 128x128.
inline constexpr int kPoolPlanes = 4 * 64, kPoolSize = 256;
// Generator up64: (4, 128, 64, 64) -> 128x128.
inline constexpr int kUpPlanes = 4 * 128, kUpSize = 64;
// TV and the VGG input normalisation on the generator's output, (4, 3, 256, 256).
inline constexpr int kImageBatch = 4, kImageChannels = 3, kImageSize = 256;
// Content loss at relu4_2: (4, 512, 32, 32) = 2M.
inline constexpr std::size_t kContentCount = std::size_t(4) * 512 * 32 * 32;
// Adam over the generator's parameters, about 1.7M (Johnson et al.'s network with 5 residual blocks), rounded up.
inline constexpr std::size_t kAdamCount = std::size_t(1) << 21;

}  // namespace gramgan::bench
