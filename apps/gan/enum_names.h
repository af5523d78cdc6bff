// enum <-> string for every enum that a user or a file spells out: config.json (and the copy in each checkpoint)
// and the CLI's options. One table per enum and spelling; parsing a string that is not in the table is an error
// that lists the valid ones, never a silent fallback to some other value.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"
#include "engine/tensor.h"
#include "kernels/shapes.h"

namespace gramgan::gan {

// gramgan train --arch: one Johnson generator per style image, or one AdaIN decoder for any style (adain_model.h).
enum class Arch { johnson, adain };
// What the AdaIN architecture's content loss compares G(x, y)'s features with (apps/README.md says why adain is the
// default): the AdaIN target t at relu4_1, or the photo's own features phi(x) at the content layers.
enum class ContentTarget { adain, photo };

template <class E>
struct EnumName {
  E value;
  std::string_view name;
};

inline constexpr std::array<EnumName<Pool>, 2> kPoolNames{{{Pool::max, "max"}, {Pool::average, "average"}}};
inline constexpr std::array<EnumName<TvMode>, 2> kTvModeNames{{{TvMode::sqrt, "sqrt"}, {TvMode::squared, "squared"}}};
inline constexpr std::array<EnumName<Arch>, 2> kArchNames{{{Arch::johnson, "johnson"}, {Arch::adain, "adain"}}};
inline constexpr std::array<EnumName<ContentTarget>, 2> kContentTargetNames{
    {{ContentTarget::adain, "adain"}, {ContentTarget::photo, "photo"}}};
// config.json's spelling, which is the engine's (dtype_name).
inline constexpr std::array<EnumName<Precision>, 2> kPrecisionNames{
    {{Precision::fp32, "fp32"}, {Precision::tf32, "tf32"}}};
inline constexpr std::array<EnumName<DType>, 2> kDTypeNames{{{DType::float32, "float32"}, {DType::float64, "float64"}}};
// gramgan gradcheck --dtype spells C's type names.
inline constexpr std::array<EnumName<DType>, 2> kGradcheckDTypeNames{
    {{DType::float64, "double"}, {DType::float32, "float"}}};

template <class E, std::size_t N>
std::string enum_name(const std::array<EnumName<E>, N>& table, E value) {
  for (const EnumName<E>& entry : table)
    if (entry.value == value) return std::string(entry.name);
  throw Error("enum value " + std::to_string(int(value)) + " has no name");  // a table missing an entry
}

// The valid names in table order, for CLI11's IsMember and for messages.
template <class E, std::size_t N>
std::vector<std::string> enum_names(const std::array<EnumName<E>, N>& table) {
  std::vector<std::string> names;
  for (const EnumName<E>& entry : table) names.emplace_back(entry.name);
  return names;
}

// The value named `text`; otherwise throws "<what>: unknown value 'text'; valid values: a, b".
template <class E, std::size_t N>
E parse_enum(const std::array<EnumName<E>, N>& table, std::string_view text, const std::string& what) {
  std::string valid;
  for (const EnumName<E>& entry : table) {
    if (entry.name == text) return entry.value;
    valid += (valid.empty() ? "" : ", ") + std::string(entry.name);
  }
  throw Error(what + ": unknown value '" + std::string(text) + "'; valid values: " + valid);
}

}  // namespace gramgan::gan
