// PNG files <-> Image (float RGB in [0,1], planar (3, H, W)), through libpng.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "engine/io/image.h"

namespace gramgan {

// Reads any PNG: gray (1/2/4/8/16-bit), gray+alpha, RGB, RGBA, palette, interlaced or not. Samples are scaled
// by their full range (8-bit / 255, 16-bit / 65535; 1/2/4-bit gray as libpng expands it to 8 bits), gray is
// replicated to RGB, and alpha (including a tRNS chunk) composites each pixel onto a white background
// (kPngBackground): colour * alpha + 1 * (1 - alpha) on the stored values, so a transparent pixel is white whatever
// RGB it holds, as a viewer shows it on white paper. No gamma or colour-profile conversion is applied. The image's
// `source` is `path`.
// Images larger than kMaxImageSide per side or kMaxImagePixels in total are refused before any pixel memory is
// allocated. Every failure throws gramgan::Error whose message starts with "<path>: ".
Image read_png(const std::string& path);

// The background transparent pixels are composited onto: white.
inline constexpr float kPngBackground = 1.0f;

// The same decoder on `size` bytes already in memory (a PNG from a network or a test); `name` stands for the path in
// messages.
Image read_png_memory(const void* data, std::size_t size, const std::string& name);

// Writes 8-bit RGB: each value clamped to [0,1] and rounded, round(v * 255); NaN is written as 0.
// The file appears atomically (written to a temporary in the same directory, then renamed over `path`), so a
// failure leaves neither a partial file nor a temporary behind. Failures throw gramgan::Error naming the path.
void write_png(const std::string& path, const Image& image);
// The same PNG bytes write_png puts in a file, in memory (an image inside a TensorBoard event).
std::vector<unsigned char> encode_png(const Image& image);

}  // namespace gramgan
