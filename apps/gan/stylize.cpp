#include "apps/gan/stylize.h"

#include "apps/gan/dataset.h"
#include "apps/gan/losses.h"
#include "engine/error.h"

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

int padded_side(int side, int stride, int min_side) {
  const int s = std::max(side, min_side);
  return (s + stride - 1) / stride * stride;
}

// `image` mirrored on the right and bottom to sides that are multiples of `stride` and at least `min_side`.
Image pad_by_mirroring(const Image& image, int stride, int min_side) {
  Image padded = make_image(padded_side(image.width, stride, min_side), padded_side(image.height, stride, min_side));
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < padded.height; ++y)
      for (int x = 0; x < padded.width; ++x)
        padded.at(c, y, x) = image.at(c, mirror(y, image.height), mirror(x, image.width));
  return padded;
}

}  // namespace

Image stylize(Generator& generator, const Image& image, DType dtype, const Device& device,
              const nn::Sequential::LayerDone& on_layer_done) {
  check_image(image, "stylize");
  const Image padded = pad_by_mirroring(image, Generator::kStride, Generator::kMinSide);
  autograd::NoGradGuard no_grad;
  const Variable output = generator.forward(Variable(images_to_tensor({padded}, dtype, device)), on_layer_done);
  return crop(tensor_to_image(output.value(), 0), 0, 0, image.width, image.height);
}

Image stylize_adain(AdainDecoder& decoder, const Vgg19Features& vgg, const Image& image, const Image& style,
                    double alpha, DType dtype, const Device& device, const nn::Sequential::LayerDone& on_layer_done,
                    AdainLosses* losses) {
  check_image(image, "stylize");
  check_image(style, "stylize: the style image");
  if (style.width < Vgg19Features::kMinSide || style.height < Vgg19Features::kMinSide)
    throw Error("the style image is " + std::to_string(style.width) + "x" + std::to_string(style.height) +
                ", smaller than VGG-19's " + std::to_string(Vgg19Features::kMinSide) + " pixels; use a larger one");
  const Image padded = pad_by_mirroring(image, AdainDecoder::kStride, AdainDecoder::kMinSide);
  autograd::NoGradGuard no_grad;
  const Tensor target = adain_target(encode(vgg, images_to_tensor({padded}, dtype, device)),
                                     encode(vgg, images_to_tensor({style}, dtype, device)), alpha);
  const Variable output = decoder.forward(Variable(target), on_layer_done);
  if (losses) {
    const Tensor style_tensor = images_to_tensor({style}, dtype, device);
    const PerceptualLoss loss(vgg, {kAdainLayer}, kDefaultStyleLayers, TvMode::sqrt);
    const PerceptualTerms terms = loss(output, {{kAdainLayer, target}}, loss.style_targets(style_tensor));
    losses->content = terms.content.value().item();
    losses->style = terms.style.value().item();
  }
  return crop(tensor_to_image(output.value(), 0), 0, 0, image.width, image.height);
}

}  // namespace gramgan::gan
