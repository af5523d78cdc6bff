// Running a trained generator on images of any size: the generator needs sides that are multiples of its
// stride (4) and at least 8, so the image is padded by mirroring on the right and bottom, run, and the output
// cropped back to the input's size.
#pragma once

#include "apps/gan/models.h"
#include "engine/io/image.h"

namespace gramgan::gan {

// `on_layer_done` (optional) hears after each of the generator's layers how many of how many are done.
Image stylize(Generator& generator, const Image& image, DType dtype, const Device& device,
              const nn::Sequential::LayerDone& on_layer_done = {});

}  // namespace gramgan::gan
