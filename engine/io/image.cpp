// Image ops: see image.h for the filters and the layout (3, H, W).
#include "engine/io/image.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/error.h"

namespace gramgan {
namespace {

std::string size_text(int width, int height) { return std::to_string(width) + "x" + std::to_string(height); }

void check_size(int width, int height, const std::string& context) {
  if (width <= 0 || height <= 0) throw Error(context + ": size must be positive, got " + size_text(width, height));
  if (width > kMaxImageSide || height > kMaxImageSide || std::int64_t{width} * std::int64_t{height} > kMaxImagePixels)
    throw Error(context + ": size " + size_text(width, height) + " too large (limit " + std::to_string(kMaxImageSide) +
                " per side, " + std::to_string(kMaxImagePixels) + " pixels)");
}

// No limit check here: targets are checked at the entry points, and every op allocates at most the larger of its
// input and its target (resize picks the pass order whose intermediate is smaller, which bounds it by both ends).
Image blank(int width, int height) {
  Image image{.width = width, .height = height, .pixels = {}};
  image.pixels.assign(Image::kChannels * image.plane_size(), 0.0f);
  return image;
}

// One output sample of a 1-D pass: sum over taps of weight * src[index].
struct Taps {
  std::vector<int> begin;  // output i uses index[begin[i] .. begin[i+1])
  std::vector<int> index;
  std::vector<double> weight;
};

Taps make_taps(int in, int out) {
  Taps taps;
  taps.begin.reserve(out + 1);
  taps.begin.push_back(0);
  if (out < in) {
    // Work in units of 1/(in*out) of a source pixel so the overlaps are exact integers: source pixel j spans
    // [j*out, (j+1)*out) and output i spans [i*in, (i+1)*in).
    for (int i = 0; i < out; ++i) {
      const std::int64_t lo = std::int64_t{i} * in, hi = lo + in;
      for (int j = static_cast<int>(lo / out); j < in && std::int64_t{j} * out < hi; ++j) {
        const std::int64_t overlap = std::min(hi, std::int64_t{j + 1} * out) - std::max(lo, std::int64_t{j} * out);
        if (overlap <= 0) continue;
        taps.index.push_back(j);
        taps.weight.push_back(static_cast<double>(overlap) / static_cast<double>(in));
      }
      taps.begin.push_back(static_cast<int>(taps.index.size()));
    }
  } else if (out > in) {
    const double scale = static_cast<double>(in) / out;
    for (int i = 0; i < out; ++i) {
      const double p = std::clamp((i + 0.5) * scale - 0.5, 0.0, static_cast<double>(in - 1));
      const int i0 = static_cast<int>(p);
      const int i1 = std::min(i0 + 1, in - 1);
      const double t = p - i0;
      taps.index.insert(taps.index.end(), {i0, i1});
      taps.weight.insert(taps.weight.end(), {1.0 - t, t});
      taps.begin.push_back(static_cast<int>(taps.index.size()));
    }
  } else {
    for (int i = 0; i < out; ++i) {
      taps.index.push_back(i);
      taps.weight.push_back(1.0);
      taps.begin.push_back(i + 1);
    }
  }
  return taps;
}

// Resamples the rows (width changes), then the columns (height changes).
Image resize_width(const Image& src, int width) {
  const Taps taps = make_taps(src.width, width);
  Image dst = blank(width, src.height);
  for (int c = 0; c < Image::kChannels; ++c)
    for (int y = 0; y < src.height; ++y) {
      const float* row = &src.pixels[c * src.plane_size() + static_cast<std::size_t>(y) * src.width];
      for (int x = 0; x < width; ++x) {
        double sum = 0.0;
        for (int k = taps.begin[x]; k < taps.begin[x + 1]; ++k) sum += taps.weight[k] * row[taps.index[k]];
        dst.at(c, y, x) = static_cast<float>(sum);
      }
    }
  return dst;
}

Image resize_height(const Image& src, int height) {
  const Taps taps = make_taps(src.height, height);
  Image dst = blank(src.width, height);
  std::vector<double> sum(src.width);
  for (int c = 0; c < Image::kChannels; ++c)
    for (int y = 0; y < height; ++y) {
      // Row-at-a-time so the inner loop walks memory contiguously.
      std::fill(sum.begin(), sum.end(), 0.0);
      for (int k = taps.begin[y]; k < taps.begin[y + 1]; ++k) {
        const float* row = &src.pixels[c * src.plane_size() + static_cast<std::size_t>(taps.index[k]) * src.width];
        const double w = taps.weight[k];
        for (int x = 0; x < src.width; ++x) sum[x] += w * row[x];
      }
      for (int x = 0; x < src.width; ++x) dst.at(c, y, x) = static_cast<float>(sum[x]);
    }
  return dst;
}

std::uint64_t splitmix64_next(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// "photo.png: resize" for an image read from a file, else "resize".
std::string context_of(const Image& image, const std::string& op) {
  return image.source.empty() ? op : image.source + ": " + op;
}

void check_crop_size(const Image& image, int width, int height, const char* op) {
  check_image(image, context_of(image, op));
  if (width <= 0 || height <= 0 || width > image.width || height > image.height)
    throw Error(context_of(image, op) + ": crop size " + size_text(width, height) +
                " must be positive and fit in the " + size_text(image.width, image.height) + " image");
}

}  // namespace

Image make_image(int width, int height) {
  check_size(width, height, "image");
  return blank(width, height);
}

void check_image(const Image& image, const std::string& context) {
  if (image.width <= 0 || image.height <= 0)
    throw Error(context + ": invalid image: size must be positive, got " + size_text(image.width, image.height));
  const std::size_t expected = Image::kChannels * image.plane_size();
  if (image.pixels.size() != expected)
    throw Error(context + ": invalid image: " + size_text(image.width, image.height) + " needs 3*W*H = " +
                std::to_string(expected) + " values, pixels holds " + std::to_string(image.pixels.size()));
}

Image resize(const Image& image, int width, int height) {
  check_image(image, context_of(image, "resize"));
  check_size(width, height, context_of(image, "resize " + size_text(image.width, image.height) + " to"));
  if (width == image.width && height == image.height) return image;
  // The order with the smaller intermediate costs less and cannot exceed the larger of the two ends.
  const bool width_first =
      static_cast<std::int64_t>(width) * image.height <= static_cast<std::int64_t>(image.width) * height;
  Image out = width_first ? resize_height(resize_width(image, width), height)
                          : resize_width(resize_height(image, height), width);
  out.source = image.source;
  return out;
}

Image resize_short_side(const Image& image, int short_side) {
  check_image(image, context_of(image, "resize_short_side"));
  if (short_side <= 0) throw Error("resize_short_side: short side must be positive, got " + std::to_string(short_side));
  const auto scaled = [&](int side, int other) {
    return static_cast<int>(std::max(1L, std::lround(static_cast<double>(side) * short_side / other)));
  };
  const int width = image.width <= image.height ? short_side : scaled(image.width, image.height);
  const int height = image.width <= image.height ? scaled(image.height, image.width) : short_side;
  if (width > kMaxImageSide || height > kMaxImageSide || std::int64_t{width} * height > kMaxImagePixels)
    throw Error(context_of(image, "a " + size_text(image.width, image.height) + " image scaled to a short side of " +
                                      std::to_string(short_side) + " would be " + size_text(width, height) +
                                      ", over the limit (" + std::to_string(kMaxImageSide) + " per side, " +
                                      std::to_string(kMaxImagePixels) + " pixels); crop or remove it"));
  return resize(image, width, height);
}

Image crop(const Image& image, int x, int y, int width, int height) {
  check_crop_size(image, width, height, "crop");
  if (x < 0 || y < 0 || x > image.width - width || y > image.height - height)
    throw Error(context_of(image, "crop") + ": " + size_text(width, height) + " window at (" + std::to_string(x) +
                ", " + std::to_string(y) + ") does not fit in the " + size_text(image.width, image.height) + " image");
  Image out = blank(width, height);
  for (int c = 0; c < Image::kChannels; ++c)
    for (int row = 0; row < height; ++row) {
      const float* src = &image.pixels[c * image.plane_size() + static_cast<std::size_t>(y + row) * image.width + x];
      std::copy(src, src + width, &out.at(c, row, 0));
    }
  out.source = image.source;
  return out;
}

Image center_crop(const Image& image, int width, int height) {
  check_crop_size(image, width, height, "center_crop");
  return crop(image, (image.width - width) / 2, (image.height - height) / 2, width, height);
}

Image random_crop(const Image& image, int width, int height, std::uint64_t seed) {
  check_crop_size(image, width, height, "random_crop");
  std::uint64_t state = seed;
  const std::uint64_t r1 = splitmix64_next(state);
  const std::uint64_t r2 = splitmix64_next(state);
  const int x = static_cast<int>(r1 % static_cast<std::uint64_t>(image.width - width + 1));
  const int y = static_cast<int>(r2 % static_cast<std::uint64_t>(image.height - height + 1));
  return crop(image, x, y, width, height);
}

}  // namespace gramgan
