// Model files in safetensors (engine/io/safetensors.h), so a PyTorch user can open them:
//  - generator.safetensors: the generator's parameters under their own names (head.conv.weight, ...) and its
//    architecture in the metadata (gramgan.generator.width, gramgan.generator.residual_blocks); what `stylize`
//    loads.
//  - generator.safetensors of an adain run holds the AdaIN decoder, gramgan.arch "adain",
//    its width and the VGG it was trained with (save_decoder).
//  - checkpoint.safetensors (trainer.h): both networks under "G." / "D.", both Adam states, counters and data
//    order, written atomically so a kill at any moment leaves the previous complete file.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "apps/gan/adain_model.h"
#include "apps/gan/enum_names.h"
#include "apps/gan/models.h"
#include "engine/io/safetensors.h"

namespace gramgan::gan {

// Appends a module's parameters as entries named prefix + parameter name.
void append_parameters(std::vector<SafetensorsEntry>& entries, const std::string& prefix,
                       const std::vector<nn::NamedParameter>& parameters);
// Throws gramgan::Error naming the file and the tensor unless `name` is present with `shape` and a floating-point
// dtype that Tensor reads (F32 or F64): what a load checks before it writes anything.
void expect_float_tensor(const SafetensorsFile& file, const std::string& name, const Shape& shape);
// Copies prefix + name from `file` into each parameter, checking every shape first; dtype is converted to the
// parameter's. Throws gramgan::Error naming the file and the tensor.
void load_parameters(const SafetensorsFile& file, const std::string& prefix,
                     const std::vector<nn::NamedParameter>& parameters);

void save_generator(const std::string& path, const Generator& generator,
                    const std::map<std::string, std::string>& extra_metadata = {});
std::unique_ptr<Generator> load_generator(const std::string& path, DType dtype, const Device& device);

// The architecture a model file holds (metadata gramgan.arch; files from before the arbitrary-style architecture
// have none and are johnson generators). Throws on an unknown value.
Arch model_arch(const SafetensorsFile& file);

// An AdaIN model file: the decoder's parameters, its width, and the VGG-19 it was trained with (vgg_identity in
// adain_model.h, and the pooling), which stylize must encode with.
struct AdainModelInfo {
  DecoderOptions decoder;
  std::string vgg_identity;
  Pool vgg_pool = Pool::max;
};
void save_decoder(const std::string& path, const AdainDecoder& decoder, const AdainModelInfo& info,
                  const std::map<std::string, std::string>& extra_metadata = {});
std::unique_ptr<AdainDecoder> load_decoder(const std::string& path, DType dtype, const Device& device,
                                           AdainModelInfo* info = nullptr);

}  // namespace gramgan::gan
