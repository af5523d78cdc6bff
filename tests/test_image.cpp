// resize against a naive double-precision reference that evaluates the 2-D sum directly (no separable passes, no
// integer overlap tricks), crops against direct indexing. Resize tolerance: |got - ref| <= 1e-6 + 1e-6 * |ref|
// (float intermediate between the two passes); crops are exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/io/image.h"

namespace gramgan {
namespace {

// Smooth-ish but irregular values in [0,1].
Image make_test_image(int width, int height, int salt = 0) {
  Image image = make_image(width, height);
  for (std::size_t i = 0; i < image.pixels.size(); ++i)
    image.pixels[i] = static_cast<float>(0.5 + 0.5 * std::sin(0.7 * static_cast<double>(i) + salt));
  return image;
}

// Pixel values that name their position: c*10000 + y*100 + x, exact in float.
Image make_coordinate_image(int width, int height) {
  Image image = make_image(width, height);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) image.at(c, y, x) = static_cast<float>(c * 10000 + y * 100 + x);
  return image;
}

// Weight of source index j in output index i along one axis of length in -> out.
double reference_weight(int in, int out, int i, int j) {
  if (out == in) return i == j ? 1.0 : 0.0;
  if (out < in) {
    // Area: the part of source pixel [j, j+1) inside output i's footprint [i*s, (i+1)*s), divided by s.
    const double s = static_cast<double>(in) / out;
    const double overlap = std::min((i + 1) * s, j + 1.0) - std::max(i * s, static_cast<double>(j));
    return std::max(overlap, 0.0) / s;
  }
  // Bilinear, half-pixel centres, edges clamped.
  const double p = std::clamp((i + 0.5) * in / out - 0.5, 0.0, in - 1.0);
  const int i0 = static_cast<int>(std::floor(p));
  const int i1 = std::min(i0 + 1, in - 1);
  const double t = p - i0;
  return (j == i0 ? 1.0 - t : 0.0) + (j == i1 ? t : 0.0);
}

double reference_value(const Image& src, int width, int height, int c, int y, int x) {
  double sum = 0.0;
  for (int sy = 0; sy < src.height; ++sy)
    for (int sx = 0; sx < src.width; ++sx)
      sum +=
          reference_weight(src.height, height, y, sy) * reference_weight(src.width, width, x, sx) * src.at(c, sy, sx);
  return sum;
}

void expect_matches_reference(int src_width, int src_height, int width, int height) {
  SCOPED_TRACE(std::to_string(src_width) + "x" + std::to_string(src_height) + " -> " + std::to_string(width) + "x" +
               std::to_string(height));
  const Image src = make_test_image(src_width, src_height);
  const Image out = resize(src, width, height);
  ASSERT_EQ(out.width, width);
  ASSERT_EQ(out.height, height);
  ASSERT_EQ(out.pixels.size(), 3u * width * height);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        const double ref = reference_value(src, width, height, c, y, x);
        ASSERT_NEAR(out.at(c, y, x), ref, 1e-6 + 1e-6 * std::abs(ref)) << "at c=" << c << " y=" << y << " x=" << x;
      }
}

template <typename F>
void expect_error(F&& f, const std::vector<std::string>& phrases) {
  try {
    f();
    ADD_FAILURE() << "no gramgan::Error thrown";
  } catch (const Error& e) {
    for (const std::string& phrase : phrases)
      EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos)
          << "expected \"" << phrase << "\" in: " << e.what();
  }
}

TEST(ImageResize, ShrinkMatchesAreaReference) {
  expect_matches_reference(8, 6, 4, 3);    // integer ratio
  expect_matches_reference(13, 11, 5, 4);  // non-integer ratios
  expect_matches_reference(10, 10, 7, 3);
  expect_matches_reference(97, 31, 8, 5);
  expect_matches_reference(9, 5, 1, 1);  // everything into one pixel
}

TEST(ImageResize, EnlargeMatchesBilinearReference) {
  expect_matches_reference(2, 2, 4, 4);
  expect_matches_reference(5, 4, 13, 9);
  expect_matches_reference(3, 2, 8, 8);
  expect_matches_reference(1, 3, 4, 7);  // one source column: clamped on both sides
}

TEST(ImageResize, MixedAxesMatchReference) {
  expect_matches_reference(12, 5, 5, 11);
  expect_matches_reference(5, 12, 11, 5);
  expect_matches_reference(7, 9, 7, 4);   // width unchanged
  expect_matches_reference(7, 9, 10, 9);  // height unchanged
}

TEST(ImageResize, ShrinkByTwoIsBlockMean) {
  // One plane shown; all three hold it. Tolerance 1e-7 (exact up to float rounding).
  Image src = make_image(4, 2);
  const float plane[] = {0.0f, 0.2f, 0.4f, 1.0f, 0.6f, 0.2f, 0.8f, 0.0f};
  for (int c = 0; c < 3; ++c) std::copy(std::begin(plane), std::end(plane), &src.at(c, 0, 0));
  const Image out = resize(src, 2, 1);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(out.at(c, 0, 0), (0.0 + 0.2 + 0.6 + 0.2) / 4, 1e-7);
    EXPECT_NEAR(out.at(c, 0, 1), (0.4 + 1.0 + 0.8 + 0.0) / 4, 1e-7);
  }
}

TEST(ImageResize, ThreeToTwoUsesFractionalWeights) {
  // Output 0 covers source [0, 1.5): (a + b/2) / 1.5; output 1 covers [1.5, 3): (b/2 + c) / 1.5. Tolerance 1e-7.
  Image src = make_image(3, 1);
  for (int c = 0; c < 3; ++c) {
    src.at(c, 0, 0) = 0.3f;
    src.at(c, 0, 1) = 0.9f;
    src.at(c, 0, 2) = 0.0f;
  }
  const Image out = resize(src, 2, 1);
  EXPECT_NEAR(out.at(0, 0, 0), (0.3 + 0.45) / 1.5, 1e-7);
  EXPECT_NEAR(out.at(0, 0, 1), (0.45 + 0.0) / 1.5, 1e-7);
}

TEST(ImageResize, BilinearHandValues) {
  // [0, 1] -> 4 samples at source positions -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1). Tolerance 1e-7.
  Image src = make_image(2, 1);
  for (int c = 0; c < 3; ++c) src.at(c, 0, 1) = 1.0f;
  const Image out = resize(src, 4, 1);
  const float expected[] = {0.0f, 0.25f, 0.75f, 1.0f};
  for (int x = 0; x < 4; ++x) EXPECT_NEAR(out.at(2, 0, x), expected[x], 1e-7) << "x=" << x;
}

TEST(ImageResize, IdentityIsExactCopy) {
  const Image src = make_test_image(7, 5);
  const Image out = resize(src, 7, 5);
  EXPECT_EQ(out.width, 7);
  EXPECT_EQ(out.height, 5);
  EXPECT_EQ(out.pixels, src.pixels);
}

TEST(ImageResize, ConstantStaysConstant) {
  // Weights sum to 1 on every axis; tolerance 1e-6.
  const std::pair<int, int> sizes[] = {{1, 1}, {3, 7}, {16, 16}, {31, 9}, {100, 3}};
  for (const auto& [w, h] : sizes) {
    Image src = make_image(17, 12);
    std::fill(src.pixels.begin(), src.pixels.end(), 0.37f);
    const Image out = resize(src, w, h);
    for (float v : out.pixels) ASSERT_NEAR(v, 0.37f, 1e-6) << "target " << w << "x" << h;
  }
}

TEST(ImageResize, ShortSideKeepsAspectRatio) {
  const Image landscape = make_test_image(384, 256);
  const Image small = resize_short_side(landscape, 128);
  EXPECT_EQ(small.width, 192);
  EXPECT_EQ(small.height, 128);
  EXPECT_EQ(small.pixels, resize(landscape, 192, 128).pixels);

  const Image portrait = make_test_image(100, 255);
  const Image p = resize_short_side(portrait, 64);  // 255 * 0.64 = 163.2
  EXPECT_EQ(p.width, 64);
  EXPECT_EQ(p.height, 163);
  const Image l = resize_short_side(make_test_image(255, 100), 64);
  EXPECT_EQ(l.width, 163);
  EXPECT_EQ(l.height, 64);
  const Image rounded_up = resize_short_side(make_test_image(10, 13), 5);  // 6.5 rounds to 7
  EXPECT_EQ(rounded_up.width, 5);
  EXPECT_EQ(rounded_up.height, 7);
  const Image square = resize_short_side(make_test_image(9, 9), 20);
  EXPECT_EQ(square.width, 20);
  EXPECT_EQ(square.height, 20);
  const Image thin = resize_short_side(make_test_image(1000, 2), 1);  // long side 500
  EXPECT_EQ(thin.width, 500);
  EXPECT_EQ(thin.height, 1);
}

TEST(ImageResize, RejectsBadArguments) {
  const Image src = make_test_image(8, 6);
  expect_error([&] { resize(src, 0, 4); }, {"resize", "0x4"});
  expect_error([&] { resize(src, 4, -1); }, {"resize", "4x-1"});
  expect_error([&] { resize(src, 100000, 100000); }, {"too large", "100000x100000"});
  expect_error([&] { resize_short_side(src, 0); }, {"resize_short_side", "0"});
  Image broken = src;
  broken.pixels.resize(10);
  expect_error([&] { resize(broken, 4, 4); }, {"invalid image", "holds 10"});
  expect_error([&] { resize(Image{}, 4, 4); }, {"invalid image", "0x0"});
}

TEST(ImageCrop, CropPicksTheWindow) {
  const Image src = make_coordinate_image(10, 7);
  const Image out = crop(src, 2, 3, 4, 2);
  ASSERT_EQ(out.width, 4);
  ASSERT_EQ(out.height, 2);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 4; ++x) EXPECT_EQ(out.at(c, y, x), src.at(c, y + 3, x + 2));
  EXPECT_EQ(crop(src, 0, 0, 10, 7).pixels, src.pixels);
  EXPECT_EQ(crop(src, 9, 6, 1, 1).at(1, 0, 0), 10000.0f + 600.0f + 9.0f);  // bottom-right corner
}

TEST(ImageCrop, CenterCropRoundsOffsetDown) {
  const Image src = make_coordinate_image(10, 7);
  const Image even = center_crop(src, 4, 3);  // offsets (3, 2)
  EXPECT_EQ(even.at(0, 0, 0), 2 * 100 + 3);
  const Image odd = center_crop(src, 5, 4);  // leftovers 5 and 3: offsets (2, 1)
  EXPECT_EQ(odd.at(0, 0, 0), 1 * 100 + 2);
  EXPECT_EQ(odd.at(2, 3, 4), 20000 + 4 * 100 + 6);
  EXPECT_EQ(center_crop(src, 10, 7).pixels, src.pixels);
}

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

TEST(ImageCrop, RandomCropIsDeterministicAndInBounds) {
  const Image src = make_coordinate_image(12, 9);
  constexpr int kW = 5, kH = 4;  // offsets x in [0, 7], y in [0, 5]
  std::set<int> xs, ys;
  for (std::uint64_t seed = 0; seed < 500; ++seed) {
    const Image a = random_crop(src, kW, kH, seed);
    ASSERT_EQ(a.width, kW);
    ASSERT_EQ(a.height, kH);
    EXPECT_EQ(a.pixels, random_crop(src, kW, kH, seed).pixels) << "seed " << seed;
    const int x = static_cast<int>(a.at(0, 0, 0)) % 100, y = static_cast<int>(a.at(0, 0, 0)) / 100;
    ASSERT_GE(x, 0);
    ASSERT_LE(x, 12 - kW);
    ASSERT_GE(y, 0);
    ASSERT_LE(y, 9 - kH);
    EXPECT_EQ(a.pixels, crop(src, x, y, kW, kH).pixels);
    // The documented offset rule, so a run's crops stay reproducible across versions.
    std::uint64_t state = seed;
    const std::uint64_t r1 = splitmix64(state), r2 = splitmix64(state);
    EXPECT_EQ(x, static_cast<int>(r1 % (12 - kW + 1))) << "seed " << seed;
    EXPECT_EQ(y, static_cast<int>(r2 % (9 - kH + 1))) << "seed " << seed;
    xs.insert(x);
    ys.insert(y);
  }
  EXPECT_EQ(xs.size(), 8u) << "every x offset should occur in 500 seeds";
  EXPECT_EQ(ys.size(), 6u) << "every y offset should occur in 500 seeds";
  EXPECT_EQ(random_crop(src, 12, 9, 42).pixels, src.pixels);
  const std::uint64_t large_seed = 0xFFFFFFFFFFFFFFFFull;
  EXPECT_EQ(random_crop(src, 3, 3, large_seed).pixels, random_crop(src, 3, 3, large_seed).pixels);
}

TEST(ImageCrop, RejectsWindowsThatDoNotFit) {
  const Image src = make_coordinate_image(10, 7);
  expect_error([&] { crop(src, 0, 0, 20, 5); }, {"crop", "20x5", "10x7"});
  expect_error([&] { crop(src, 0, 0, 0, 5); }, {"crop", "0x5", "10x7"});
  expect_error([&] { crop(src, 7, 0, 4, 4); }, {"crop", "4x4", "(7, 0)", "10x7"});
  expect_error([&] { crop(src, -1, 0, 4, 4); }, {"crop", "4x4", "(-1, 0)", "10x7"});
  expect_error([&] { crop(src, 0, 5, 4, 3); }, {"crop", "4x3", "(0, 5)", "10x7"});
  expect_error([&] { center_crop(src, 11, 7); }, {"center_crop", "11x7", "10x7"});
  expect_error([&] { center_crop(src, 4, -3); }, {"center_crop", "4x-3", "10x7"});
  expect_error([&] { random_crop(src, 10, 8, 1); }, {"random_crop", "10x8", "10x7"});
  expect_error([&] { random_crop(Image{}, 1, 1, 1); }, {"random_crop", "invalid image"});
}

TEST(ImageMake, ChecksSize) {
  const Image image = make_image(3, 2);
  EXPECT_EQ(image.pixels, std::vector<float>(18, 0.0f));
  expect_error([] { make_image(0, 2); }, {"0x2"});
  expect_error([] { make_image(16385, 1); }, {"too large", "16385x1"});
}

}  // namespace
}  // namespace gramgan
