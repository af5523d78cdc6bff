#include "apps/gan/checkpoint.h"

#include <charconv>

#include "engine/error.h"

namespace gramgan::gan {
namespace {

constexpr const char* kWidthKey = "gramgan.generator.width";
constexpr const char* kBlocksKey = "gramgan.generator.residual_blocks";

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
  write_safetensors(path, entries, metadata);
}

std::unique_ptr<Generator> load_generator(const std::string& path, DType dtype, const Device& device) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  GeneratorOptions options{.width = metadata_int(file, kWidthKey), .residual_blocks = metadata_int(file, kBlocksKey)};
  RandomStream unused(0);  // the values come from the file
  auto generator = std::make_unique<Generator>(options, unused, dtype, device);
  load_parameters(file, "", generator->named_parameters());
  return generator;
}

}  // namespace gramgan::gan
