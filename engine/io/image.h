// Image: float RGB in [0,1], planar channel-major, and the geometric ops the data pipeline needs.
//
// Layout: pixels: (C=3, H, W), pixels[c*H*W + y*W + x], the same order as one item of an (N, C, H, W) tensor,
// so a batch is filled with one copy per image.
//
// resize is separable, one 1-D pass per axis, each axis choosing its own filter:
//   shrinking axis: area averaging. Output i covers source interval [i*s, (i+1)*s), s = in/out; each source pixel
//     j weighs |[j, j+1) ∩ [i*s, (i+1)*s)| / s (exact box-filter overlap, as OpenCV INTER_AREA).
//   enlarging axis: bilinear with half-pixel centres (align_corners=false): p = (i + 0.5)*in/out - 0.5, clamped to
//     [0, in-1]; i0 = floor(p), i1 = min(i0 + 1, in - 1), out = (1 - t)*src[i0] + t*src[i1], t = p - i0
//     (as PyTorch interpolate(mode="bilinear", align_corners=False) and OpenCV INTER_LINEAR).
//   equal size: identity.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gramgan {

// Decoding and resizing refuse anything larger, so a hostile file or a typo cannot ask for gigabytes.
constexpr int kMaxImageSide = 16384;
constexpr std::int64_t kMaxImagePixels = std::int64_t{1} << 26;

struct Image {
  static constexpr int kChannels = 3;

  int width = 0, height = 0;
  std::vector<float> pixels;  // (3, height, width)
  // The file it was read from (read_png), "" for a computed image; resize and the crops keep it and their errors
  // name it, so a photo that cannot be used is named wherever the failure is found.
  std::string source = {};

  std::size_t plane_size() const { return static_cast<std::size_t>(width) * static_cast<std::size_t>(height); }
  float& at(int c, int y, int x) { return pixels[c * plane_size() + static_cast<std::size_t>(y) * width + x]; }
  float at(int c, int y, int x) const { return pixels[c * plane_size() + static_cast<std::size_t>(y) * width + x]; }
};

// A width x height image of zeros; throws gramgan::Error for a non-positive or over-limit size.
Image make_image(int width, int height);

// Throws gramgan::Error, prefixed with `context`, unless the image has a positive size and 3*W*H pixels.
void check_image(const Image& image, const std::string& context);

Image resize(const Image& image, int width, int height);

// Scales so that the shorter side becomes `short_side`; the other side keeps the aspect ratio, rounded to the
// nearest integer (at least 1).
Image resize_short_side(const Image& image, int short_side);

// The width x height window whose top-left corner is (x, y); it must lie inside the image.
Image crop(const Image& image, int x, int y, int width, int height);

// The centred window; an odd leftover puts the extra pixel on the right/bottom (offset rounded down).
Image center_crop(const Image& image, int width, int height);

// A window at an offset drawn from `seed` alone, so a data pipeline is reproducible run to run:
// r1, r2 = the first two outputs of splitmix64 started at state `seed` (Steele, Lea, Flood 2014; the seeding
// generator of xoshiro); x = r1 % (W - width + 1), y = r2 % (H - height + 1). The modulo bias is below 2^-48 for
// any image within the size limits.
Image random_crop(const Image& image, int width, int height, std::uint64_t seed);

}  // namespace gramgan
