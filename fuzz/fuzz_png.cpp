// libFuzzer target: the PNG decoder (gramgan::read_png_memory, the decoder read_png uses) on arbitrary bytes.
// Expected outcome for any input: an Image that satisfies check_image with every value in [0, 1], or a
// gramgan::Error. Anything else (another exception, a sanitizer report, a crash) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "engine/error.h"
#include "engine/io/image.h"
#include "engine/io/png.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gramgan::Image image;
  try {
    image = gramgan::read_png_memory(data, size, "fuzz.png");
  } catch (const gramgan::Error&) {
    return 0;
  }
  gramgan::check_image(image, "fuzz.png");  // throws, unhandled, if the decoder returned a malformed image
  for (const float v : image.pixels)
    if (!(v >= 0.0f && v <= 1.0f)) std::abort();
  return 0;
}
