#include "apps/gan/stylize.h"

#include "apps/gan/dataset.h"

namespace gramgan::gan {
namespace {

// Mirror index (…, 2, 1, 0, 1, 2, …, n-1, n-2, …) for any i, so padding wider than the image still works.
int mirror(int i, int n) {
  if (n == 1) return 0;
  const int period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

int padded_side(int side) {
  const int s = std::max(side, Generator::kMinSide);
  return (s + Generator::kStride - 1) / Generator::kStride * Generator::kStride;
}

}  // namespace

Image stylize(Generator& generator, const Image& image, DType dtype, const Device& device,
              const nn::Sequential::LayerDone& on_layer_done) {
  check_image(image, "stylize");
  Image padded = make_image(padded_side(image.width), padded_side(image.height));
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < padded.height; ++y)
      for (int x = 0; x < padded.width; ++x)
        padded.at(c, y, x) = image.at(c, mirror(y, image.height), mirror(x, image.width));
  autograd::NoGradGuard no_grad;
  const Variable output = generator.forward(Variable(images_to_tensor({padded}, dtype, device)), on_layer_done);
  return crop(tensor_to_image(output.value(), 0), 0, 0, image.width, image.height);
}

}  // namespace gramgan::gan
