// Running a trained generator on images of any size: the generator needs sides that are multiples of its
// stride (4; the AdaIN decoder's 8) and at least 8 (16), so the image is padded by mirroring on the right and
// bottom, run, and the output cropped back to the input's size.
#pragma once

#include "apps/gan/adain_model.h"
#include "apps/gan/models.h"
#include "engine/io/image.h"

namespace gramgan::gan {

// `on_layer_done` (optional) hears after each of the generator's layers how many of how many are done.
Image stylize(Generator& generator, const Image& image, DType dtype, const Device& device,
              const nn::Sequential::LayerDone& on_layer_done = {});

// G(x, y) of an AdaIN model (adain_model.h) on an image of any size: padded like stylize() to a multiple of the
// decoder's stride (8), the style image taken whole (at least VGG's 16 pixels a side); alpha in [0, 1] blends the
// AdaIN target with the content features (0: the decoder's reconstruction of the content).
// With `losses`, also the output's raw loss terms as training measures them: content = MSE of its relu4_1 against
// the decoder's input (the AdaIN target blended by alpha), style = the Gram loss against the whole style image,
// summed over the default style layers (relu1_1 ... relu5_1); both on the padded image.
struct AdainLosses {
  double content = 0, style = 0;
};
Image stylize_adain(AdainDecoder& decoder, const Vgg19Features& vgg, const Image& image, const Image& style,
                    double alpha, DType dtype, const Device& device,
                    const nn::Sequential::LayerDone& on_layer_done = {}, AdainLosses* losses = nullptr);

}  // namespace gramgan::gan
