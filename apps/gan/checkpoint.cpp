#include "apps/gan/checkpoint.h"

#include <charconv>

#include "engine/error.h"

namespace gramgan::gan {
namespace {

constexpr const char* kWidthKey = "gramgan.generator.width";
constexpr const char* kBlocksKey = "gramgan.generator.residual_blocks";
constexpr const char* kArchKey = "gramgan.arch";
constexpr const char* kDecoderWidthKey = "gramgan.decoder.width";
constexpr const char* kVggKey = "gramgan.vgg";
constexpr const char* kVggPoolKey = "gramgan.vgg_pool";

std::string metadata_text(const SafetensorsFile& file, const std::string& key) {
  const auto it = file.metadata().find(key);
  if (it == file.metadata().end())
    throw Error(file.path() + ": not a gramgan AdaIN model file (metadata '" + key + "' is missing)");
  return it->second;
}

int metadata_int(const SafetensorsFile& file, const std::string& key) {
  const auto it = file.metadata().find(key);
  if (it == file.metadata().end())
    throw Error(file.path() + ": not a gramgan generator file (metadata '" + key +
                "' is missing; `gramgan train` writes generator.safetensors in its run folder)");
  int value = 0;
  const auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
  if (ec != std::errc() || end != it->second.data() + it->second.size() || value < 0 || value > 4096)
    throw Error(file.path() + ": metadata '" + key + "' is not a valid number: '" + it->second + "'");
  return value;
}

}  // namespace

void append_parameters(std::vector<SafetensorsEntry>& entries, const std::string& prefix,
                       const std::vector<nn::NamedParameter>& parameters) {
  for (const nn::NamedParameter& p : parameters) entries.push_back({prefix + p.name, p.variable.value()});
}

void expect_float_tensor(const SafetensorsFile& file, const std::string& name, const Shape& shape) {
  const SafetensorsTensorInfo& info = file.expect(name, std::vector<std::int64_t>(shape.begin(), shape.end()));
  if (info.dtype != SafetensorsDType::F32 && info.dtype != SafetensorsDType::F64)
    throw Error(file.path() + ": tensor '" + name + "' has dtype " + safetensors_dtype_name(info.dtype) +
                ", expected F32 or F64");
}

void load_parameters(const SafetensorsFile& file, const std::string& prefix,
                     const std::vector<nn::NamedParameter>& parameters) {
  // Check every tensor before writing any, so a bad file leaves the module untouched.
  for (const nn::NamedParameter& p : parameters) expect_float_tensor(file, prefix + p.name, p.variable.value().shape());
  for (const nn::NamedParameter& p : parameters) {
    Tensor destination = p.variable.value();  // shares the parameter's storage
    destination.copy_(file.read(prefix + p.name, destination.dtype(), destination.device()));
  }
}

void save_generator(const std::string& path, const Generator& generator,
                    const std::map<std::string, std::string>& extra_metadata) {
  std::vector<SafetensorsEntry> entries;
  append_parameters(entries, "", generator.named_parameters());
  std::map<std::string, std::string> metadata = extra_metadata;
  metadata[kWidthKey] = std::to_string(generator.options().width);
  metadata[kBlocksKey] = std::to_string(generator.options().residual_blocks);
  metadata[kArchKey] = enum_name(kArchNames, Arch::johnson);
  write_safetensors(path, entries, metadata);
}

std::unique_ptr<Generator> load_generator(const std::string& path, DType dtype, const Device& device) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  if (model_arch(file) != Arch::johnson)
    throw Error(path + ": holds a " + enum_name(kArchNames, model_arch(file)) + " model, not a johnson generator");
  GeneratorOptions options{.width = metadata_int(file, kWidthKey), .residual_blocks = metadata_int(file, kBlocksKey)};
  RandomStream unused(0);  // the values come from the file
  auto generator = std::make_unique<Generator>(options, unused, dtype, device);
  load_parameters(file, "", generator->named_parameters());
  return generator;
}

Arch model_arch(const SafetensorsFile& file) {
  const auto it = file.metadata().find(kArchKey);
  if (it == file.metadata().end()) return Arch::johnson;
  return parse_enum(kArchNames, it->second, file.path() + ": metadata '" + kArchKey + "'");
}

void save_decoder(const std::string& path, const AdainDecoder& decoder, const AdainModelInfo& info,
                  const std::map<std::string, std::string>& extra_metadata) {
  std::vector<SafetensorsEntry> entries;
  append_parameters(entries, "", decoder.named_parameters());
  std::map<std::string, std::string> metadata = extra_metadata;
  metadata[kArchKey] = enum_name(kArchNames, Arch::adain);
  metadata[kDecoderWidthKey] = std::to_string(decoder.options().width);
  metadata[kVggKey] = info.vgg_identity;
  metadata[kVggPoolKey] = enum_name(kPoolNames, info.vgg_pool);
  write_safetensors(path, entries, metadata);
}

std::unique_ptr<AdainDecoder> load_decoder(const std::string& path, DType dtype, const Device& device,
                                           AdainModelInfo* info) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  if (model_arch(file) != Arch::adain)
    throw Error(path + ": holds a " + enum_name(kArchNames, model_arch(file)) + " model, not an adain decoder");
  AdainModelInfo read;
  read.decoder.width = metadata_int(file, kDecoderWidthKey);
  read.vgg_identity = metadata_text(file, kVggKey);
  read.vgg_pool = parse_enum(kPoolNames, metadata_text(file, kVggPoolKey), path + ": metadata '" + kVggPoolKey + "'");
  if (read.decoder.width < 1) throw Error(path + ": metadata '" + kDecoderWidthKey + "' must be at least 1");
  RandomStream unused(0);  // the values come from the file
  auto decoder = std::make_unique<AdainDecoder>(read.decoder, unused, dtype, device);
  load_parameters(file, "", decoder->named_parameters());
  if (info) *info = read;
  return decoder;
}

}  // namespace gramgan::gan
