// safetensors reading and writing; the header through nlohmann-json.
//
// SafetensorsFile::open refuses, with a message naming the file and the tensor:
//   - a file shorter than the 8-byte header length, or a directory;
//   - a header length over kMaxHeaderBytes (the reference's 100 MB cap) or running past the end of the file;
//   - a header that is not valid UTF-8 JSON, not an object, or has a key twice in one object;
//   - "__metadata__" that is not an object of strings;
//   - an entry that is not an object, or lacks "dtype", "shape" or "data_offsets" (or has them of the wrong type);
//   - an unknown dtype string;
//   - shape dimensions that are negative, not integers, or over 2^63 - 1; a shape whose byte size overflows 64 bits;
//   - data_offsets that are not two non-negative integers [begin, end] with begin <= end;
//   - end - begin different from numel * dtype size;
//   - end past the end of the data buffer;
//   - tensors overlapping, a gap between tensors, or bytes after the last one (the reference requires the
//     tensors to tile the data buffer; we do the same so a file accepted here opens everywhere).
// All offsets and sizes are 64-bit; products are checked for overflow.
#include "engine/io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <span>
#include <tuple>
#include <utility>

#include "engine/error.h"
#include "engine/io/atomic_file.h"

namespace gramgan {
namespace {

static_assert(std::endian::native == std::endian::little, "safetensors data is read and written as raw little-endian");

using json = nlohmann::json;

constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";

struct DTypeRow {
  SafetensorsDType dtype;
  const char* name;
  std::size_t size;
};

constexpr DTypeRow kDTypes[] = {
    {SafetensorsDType::BOOL, "BOOL", 1},       {SafetensorsDType::U8, "U8", 1},
    {SafetensorsDType::I8, "I8", 1},           {SafetensorsDType::F8_E4M3, "F8_E4M3", 1},
    {SafetensorsDType::F8_E5M2, "F8_E5M2", 1}, {SafetensorsDType::I16, "I16", 2},
    {SafetensorsDType::U16, "U16", 2},         {SafetensorsDType::F16, "F16", 2},
    {SafetensorsDType::BF16, "BF16", 2},       {SafetensorsDType::I32, "I32", 4},
    {SafetensorsDType::U32, "U32", 4},         {SafetensorsDType::F32, "F32", 4},
    {SafetensorsDType::I64, "I64", 8},         {SafetensorsDType::U64, "U64", 8},
    {SafetensorsDType::F64, "F64", 8},
};

const DTypeRow& row(SafetensorsDType dtype) {
  for (const DTypeRow& r : kDTypes)
    if (r.dtype == dtype) return r;
  throw Error("invalid SafetensorsDType " + std::to_string(static_cast<int>(dtype)));
}

std::optional<SafetensorsDType> parse_dtype(const std::string& name) {
  for (const DTypeRow& r : kDTypes)
    if (name == r.name) return r.dtype;
  return std::nullopt;
}

std::string known_dtypes() {
  std::string list;
  for (const DTypeRow& r : kDTypes) list += (list.empty() ? "" : ", ") + std::string(r.name);
  return list;
}

// A JSON value for a message, cut short: a hostile header may hold megabytes in one value.
std::string describe(const json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

std::string offsets_string(std::uint64_t begin, std::uint64_t end) {
  // Appended piece by piece: "[" + std::to_string(...) trips a GCC 12 -Wrestrict false positive.
  std::string text = "[";
  text += std::to_string(begin);
  text += ", ";
  text += std::to_string(end);
  return text + "]";
}

// nlohmann's parse errors quote the bytes last read, which may be invalid UTF-8 or control characters.
std::string printable(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      out += c;
    } else {
      const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[byte >> 4];
      out += hex[byte & 15];
    }
  }
  return out;
}

std::string count_bytes(std::uint64_t count) { return std::to_string(count) + (count == 1 ? " byte" : " bytes"); }

// Callers copy errno first: building the message allocates, which may change it.
std::string errno_text(int error) { return std::strerror(error); }

// Reads exactly `size` bytes at `offset`; false at end of file, throws on an I/O error.
bool pread_full(int fd, void* out, std::uint64_t size, std::uint64_t offset, const std::string& path) {
  auto* bytes = static_cast<unsigned char*>(out);
  while (size > 0) {
    const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(size, std::uint64_t{1} << 30));
    const ssize_t got = ::pread(fd, bytes, chunk, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      throw Error(path + ": cannot read: " + errno_text(error));
    }
    if (got == 0) return false;
    bytes += got;
    size -= static_cast<std::uint64_t>(got);
    offset += static_cast<std::uint64_t>(got);
  }
  return true;
}

// Parses the header, remembering the first key that appears twice in one object (nlohmann would keep the last
// silently; two "dtype"s or two tensors of one name are ambiguous, so the file is refused).
json parse_header(const std::string& path, const std::string& text) {
  std::vector<std::set<std::string>> keys;  // one set per open object
  std::vector<std::string> key_at_depth;
  std::string duplicate, owner;
  const auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    const auto d = static_cast<std::size_t>(depth);
    if (event == json::parse_event_t::object_start) {
      keys.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      keys.pop_back();
    } else if (event == json::parse_event_t::key) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (key_at_depth.size() <= d) key_at_depth.resize(d + 1);
      key_at_depth[d] = key;
      if (!keys.back().insert(key).second && duplicate.empty()) {
        duplicate = key;
        owner = d >= 2 ? key_at_depth[d - 1] : "";
      }
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text, callback);
  } catch (const json::exception& e) {
    throw Error(path + ": header is not valid JSON (" + printable(e.what()) + ")");
  }
  if (!header.is_object()) throw Error(path + ": header is not a JSON object but " + describe(header));
  if (!duplicate.empty()) {
    if (owner.empty()) throw Error(path + ": header lists '" + duplicate + "' twice");
    throw Error(path + ": header entry '" + owner + "' has key '" + duplicate + "' twice");
  }
  return header;
}

std::map<std::string, std::string> parse_metadata(const std::string& path, const json& value) {
  if (!value.is_object()) throw Error(path + ": __metadata__ is not an object of strings but " + describe(value));
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string())
      throw Error(path + ": __metadata__ value for '" + key + "' is not a string but " + describe(item));
    metadata.emplace(key, item.get<std::string>());
  }
  return metadata;
}

SafetensorsTensorInfo parse_entry(const std::string& path, const std::string& name, const json& entry,
                                  std::uint64_t buffer_size) {
  const std::string where = path + ": tensor '" + name + "': ";
  if (!entry.is_object()) throw Error(where + "entry is not an object but " + describe(entry));
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!entry.contains(field)) throw Error(where + "entry has no \"" + field + "\"");

  SafetensorsTensorInfo info;
  info.name = name;
  const json& dtype = entry["dtype"];
  if (!dtype.is_string()) throw Error(where + "dtype is not a string but " + describe(dtype));
  const auto parsed = parse_dtype(dtype.get<std::string>());
  if (!parsed) throw Error(where + "unknown dtype '" + dtype.get<std::string>() + "' (known: " + known_dtypes() + ")");
  info.dtype = *parsed;

  const json& shape = entry["shape"];
  if (!shape.is_array()) throw Error(where + "shape is not an array but " + describe(shape));
  std::uint64_t nbytes = row(info.dtype).size;
  bool overflow = false;
  for (const json& dim : shape) {
    if (dim.is_number_integer() && !dim.is_number_unsigned())
      throw Error(where + "shape " + describe(shape) + " has a negative dimension");
    if (!dim.is_number_unsigned())
      throw Error(where + "shape " + describe(shape) + " has a dimension that is not an integer: " + describe(dim));
    const auto size = dim.get<std::uint64_t>();
    if (size > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      throw Error(where + "shape " + describe(shape) + " has a dimension over 2^63 - 1");
    info.shape.push_back(static_cast<std::int64_t>(size));
    overflow = overflow || __builtin_mul_overflow(nbytes, size, &nbytes);
  }
  // A zero dimension makes the size 0 whatever the others: overflow then is not an error.
  if (overflow && std::find(info.shape.begin(), info.shape.end(), 0) == info.shape.end())
    throw Error(where + "shape " + safetensors_shape_string(info.shape) + " of " + row(info.dtype).name +
                " is over 2^64 bytes");
  if (overflow) nbytes = 0;

  const json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    throw Error(where + "data_offsets is not [begin, end] of two non-negative integers but " + describe(offsets));
  info.begin = offsets[0].get<std::uint64_t>();
  info.end = offsets[1].get<std::uint64_t>();
  const std::string span = offsets_string(info.begin, info.end);
  if (info.begin > info.end) throw Error(where + "data_offsets " + span + " has begin after end");
  if (info.end - info.begin != nbytes)
    throw Error(where + "data_offsets " + span + " span " + std::to_string(info.end - info.begin) + " bytes but " +
                row(info.dtype).name + " shape " + safetensors_shape_string(info.shape) + " needs " +
                std::to_string(nbytes));
  if (info.end > buffer_size)
    throw Error(where + "data_offsets " + span + " run past the end of the data buffer (" +
                std::to_string(buffer_size) + " bytes)");
  return info;
}

// The tensors, sorted by offset, must cover [0, buffer_size) exactly once.
void check_tiling(const std::string& path, const std::vector<SafetensorsTensorInfo>& tensors,
                  std::uint64_t buffer_size) {
  std::vector<const SafetensorsTensorInfo*> by_offset;
  for (const auto& info : tensors) by_offset.push_back(&info);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto* a, const auto* b) { return std::pair(a->begin, a->end) < std::pair(b->begin, b->end); });
  std::uint64_t position = 0;
  const SafetensorsTensorInfo* previous = nullptr;
  for (const auto* info : by_offset) {
    if (info->begin < position)
      throw Error(path + ": tensors '" + previous->name + "' " + offsets_string(previous->begin, previous->end) +
                  " and '" + info->name + "' " + offsets_string(info->begin, info->end) + " overlap");
    if (info->begin > position)
      throw Error(path + ": bytes [" + std::to_string(position) + ", " + std::to_string(info->begin) +
                  ") of the data buffer belong to no tensor (a gap before '" + info->name + "')");
    position = info->end;
    // A zero-size tensor ends where it starts: keep the last tensor that holds bytes for an overlap message.
    if (info->end > info->begin || previous == nullptr) previous = info;
  }
  if (position != buffer_size)
    throw Error(path + ": data buffer has " + count_bytes(buffer_size - position) +
                " after the last tensor (it holds " + count_bytes(buffer_size) + ", the tensors end at " +
                std::to_string(position) + ")");
}

}  // namespace

const char* safetensors_dtype_name(SafetensorsDType dtype) { return row(dtype).name; }
std::size_t safetensors_dtype_size(SafetensorsDType dtype) { return row(dtype).size; }

std::string safetensors_shape_string(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i == 0 ? "" : ", ") + std::to_string(shape[i]);
  return text + "]";
}

std::int64_t SafetensorsTensorInfo::numel() const {
  // Fits for any header entry open() accepted: the byte size is at most the file size. A zero dimension first,
  // so that the other dimensions are never multiplied past 2^63.
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
  std::int64_t n = 1;
  for (const std::int64_t size : shape) n *= size;
  return n;
}

// ---- SafetensorsFile ---------------------------------------------------------------------------------------------

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    throw Error(path + ": cannot open: " + errno_text(error));
  }
  return from_fd(fd, path);
}

SafetensorsFile SafetensorsFile::from_fd(int fd, const std::string& path) {
  SafetensorsFile file;
  file.path_ = path;
  file.fd_ = fd;  // closed by file's destructor from here on, also when a check below throws
  if (fd < 0) throw Error(path + ": cannot open: invalid file descriptor");
  struct stat status {};
  if (::fstat(file.fd_, &status) != 0) {
    const int error = errno;
    throw Error(path + ": cannot open: " + errno_text(error));
  }
  if (S_ISDIR(status.st_mode)) throw Error(path + ": cannot open: " + errno_text(EISDIR));
  const auto file_size = static_cast<std::uint64_t>(status.st_size);

  unsigned char prefix[8];
  if (file_size < sizeof prefix || !pread_full(file.fd_, prefix, sizeof prefix, 0, path))
    throw Error(path + ": not a safetensors file: " + std::to_string(file_size) +
                " bytes, shorter than the 8-byte header length");
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = header_size << 8 | prefix[i];
  if (header_size > kMaxHeaderBytes)
    throw Error(path + ": header length " + std::to_string(header_size) + " is over the limit of " +
                std::to_string(kMaxHeaderBytes) + " bytes (not a safetensors file?)");
  if (header_size > file_size - 8)
    throw Error(path + ": header length " + std::to_string(header_size) + " runs past the end of the file (" +
                std::to_string(file_size) + " bytes; truncated?)");
  std::string text(static_cast<std::size_t>(header_size), '\0');
  if (!pread_full(file.fd_, text.data(), header_size, 8, path))
    throw Error(path + ": unexpected end of file in the header (the file changed while being read?)");
  file.data_start_ = 8 + header_size;
  const std::uint64_t buffer_size = file_size - file.data_start_;

  const json header = parse_header(path, text);
  for (const auto& [name, entry] : header.items()) {
    if (name == kMetadataKey)
      file.metadata_ = parse_metadata(path, entry);
    else
      file.tensors_.push_back(parse_entry(path, name, entry, buffer_size));
  }
  check_tiling(path, file.tensors_, buffer_size);
  // nlohmann's object is a std::map: items() came sorted by name already; sort anyway, info() relies on it.
  std::sort(file.tensors_.begin(), file.tensors_.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return file;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      data_start_(other.data_start_),
      tensors_(std::move(other.tensors_)),
      metadata_(std::move(other.metadata_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    data_start_ = other.data_start_;
    tensors_ = std::move(other.tensors_);
    metadata_ = std::move(other.metadata_);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> names;
  for (const auto& info : tensors_) names.push_back(info.name);
  return names;
}

bool SafetensorsFile::contains(const std::string& name) const {
  const auto it =
      std::lower_bound(tensors_.begin(), tensors_.end(), name,
                       [](const SafetensorsTensorInfo& info, const std::string& n) { return info.name < n; });
  return it != tensors_.end() && it->name == name;
}

const SafetensorsTensorInfo& SafetensorsFile::info(const std::string& name) const {
  const auto it =
      std::lower_bound(tensors_.begin(), tensors_.end(), name,
                       [](const SafetensorsTensorInfo& info, const std::string& n) { return info.name < n; });
  if (it == tensors_.end() || it->name != name) throw Error(path_ + ": missing tensor '" + name + "'");
  return *it;
}

const SafetensorsTensorInfo& SafetensorsFile::expect(const std::string& name,
                                                     const std::vector<std::int64_t>& shape) const {
  const SafetensorsTensorInfo& found = info(name);
  if (found.shape != shape)
    throw Error(path_ + ": tensor '" + name + "' has shape " + safetensors_shape_string(found.shape) + ", expected " +
                safetensors_shape_string(shape));
  return found;
}

const SafetensorsTensorInfo& SafetensorsFile::expect(const std::string& name, SafetensorsDType dtype,
                                                     const std::vector<std::int64_t>& shape) const {
  require_dtype(name, dtype);
  return expect(name, shape);
}

const SafetensorsTensorInfo& SafetensorsFile::require_dtype(const std::string& name, SafetensorsDType dtype) const {
  const SafetensorsTensorInfo& found = info(name);
  if (found.dtype != dtype)
    throw Error(path_ + ": tensor '" + name + "' has dtype " + safetensors_dtype_name(found.dtype) + ", expected " +
                safetensors_dtype_name(dtype));
  return found;
}

void SafetensorsFile::read_bytes(const SafetensorsTensorInfo& info, void* out) const {
  if (fd_ < 0) throw Error(path_ + ": read from a moved-from SafetensorsFile");
  if (!pread_full(fd_, out, info.nbytes(), data_start_ + info.begin, path_))
    throw Error(path_ + ": tensor '" + info.name + "': unexpected end of file (the file changed after it was opened?)");
}

Tensor SafetensorsFile::read(const std::string& name, const Device& device) const {
  const SafetensorsTensorInfo& found = info(name);
  return read(name, found.dtype == SafetensorsDType::F64 ? DType::float64 : DType::float32, device);
}

Tensor SafetensorsFile::read(const std::string& name, DType dtype, const Device& device) const {
  const SafetensorsTensorInfo& found = info(name);
  if (found.dtype != SafetensorsDType::F32 && found.dtype != SafetensorsDType::F64)
    throw Error(path_ + ": tensor '" + name + "' has dtype " + safetensors_dtype_name(found.dtype) +
                "; only F32 and F64 tensors can be read as a Tensor");
  if (found.shape.size() > static_cast<std::size_t>(Shape::kMaxDims))
    throw Error(path_ + ": tensor '" + name + "' has " + std::to_string(found.shape.size()) + " dimensions " +
                safetensors_shape_string(found.shape) + "; tensors hold at most " + std::to_string(Shape::kMaxDims));
  const Shape shape{std::span<const std::int64_t>(found.shape)};
  const auto count = static_cast<std::size_t>(found.numel());
  if (found.dtype == SafetensorsDType::F32) {
    std::vector<float> values(count);
    read_bytes(found, values.data());
    if (dtype == DType::float32) return Tensor::from_host(std::span<const float>(values), shape, device);
    const std::vector<double> widened(values.begin(), values.end());
    return Tensor::from_host(std::span<const double>(widened), shape, device);
  }
  std::vector<double> values(count);
  read_bytes(found, values.data());
  if (dtype == DType::float64) return Tensor::from_host(std::span<const double>(values), shape, device);
  std::vector<float> narrowed(count);
  std::transform(values.begin(), values.end(), narrowed.begin(), [](double v) { return static_cast<float>(v); });
  return Tensor::from_host(std::span<const float>(narrowed), shape, device);
}

std::vector<std::int64_t> SafetensorsFile::read_int64(const std::string& name) const {
  const SafetensorsTensorInfo& found = require_dtype(name, SafetensorsDType::I64);
  std::vector<std::int64_t> values(static_cast<std::size_t>(found.numel()));
  read_bytes(found, values.data());
  return values;
}

std::vector<std::uint64_t> SafetensorsFile::read_uint64(const std::string& name) const {
  const SafetensorsTensorInfo& found = require_dtype(name, SafetensorsDType::U64);
  std::vector<std::uint64_t> values(static_cast<std::size_t>(found.numel()));
  read_bytes(found, values.data());
  return values;
}

std::vector<std::uint8_t> SafetensorsFile::read_raw(const std::string& name) const {
  const SafetensorsTensorInfo& found = info(name);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(found.nbytes()));
  read_bytes(found, bytes.data());
  return bytes;
}

// ---- write_safetensors -------------------------------------------------------------------------------------------

void write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                       const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps "__metadata__" first and the entries in the caller's order, as the data is laid out.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    auto& object = header[kMetadataKey] = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) object[key] = value;
  }
  std::set<std::string> seen;
  std::uint64_t offset = 0;
  for (const SafetensorsEntry& entry : entries) {
    const std::string where = path + ": cannot write: entry '" + entry.name + "' ";
    if (entry.name == kMetadataKey) throw Error(where + "uses the reserved name");
    if (!seen.insert(entry.name).second) throw Error(where + "appears twice");
    SafetensorsDType dtype{};
    std::vector<std::int64_t> shape;
    if (const auto* tensor = std::get_if<Tensor>(&entry.value)) {
      if (!tensor->defined()) throw Error(where + "is an undefined tensor");
      dtype = tensor->dtype() == DType::float64 ? SafetensorsDType::F64 : SafetensorsDType::F32;
      shape.assign(tensor->shape().begin(), tensor->shape().end());
    } else if (const auto* values = std::get_if<std::vector<std::int64_t>>(&entry.value)) {
      dtype = SafetensorsDType::I64;
      shape = {static_cast<std::int64_t>(values->size())};
    } else {
      dtype = SafetensorsDType::U64;
      shape = {static_cast<std::int64_t>(std::get<std::vector<std::uint64_t>>(entry.value).size())};
    }
    std::uint64_t nbytes = safetensors_dtype_size(dtype);
    for (const std::int64_t size : shape) nbytes *= static_cast<std::uint64_t>(size);  // fits: it is in memory
    header[entry.name] = {
        {"dtype", safetensors_dtype_name(dtype)}, {"shape", shape}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  if (text.size() > kMaxHeaderBytes)
    throw Error(path + ": cannot write: header of " + std::to_string(text.size()) + " bytes is over the limit of " +
                std::to_string(kMaxHeaderBytes));

  AtomicFile out(path);
  unsigned char prefix[8];
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<unsigned char>(std::uint64_t{text.size()} >> (8 * i));
  out.write(prefix, sizeof prefix);
  out.write(text.data(), text.size());
  for (const SafetensorsEntry& entry : entries) {
    if (const auto* tensor = std::get_if<Tensor>(&entry.value)) {
      // One tensor at a time on the host: writing needs memory for the largest tensor, not for the whole file.
      if (tensor->dtype() == DType::float64) {
        const auto values = tensor->to_host<double>();
        out.write(values.data(), values.size() * sizeof(double));
      } else {
        const auto values = tensor->to_host<float>();
        out.write(values.data(), values.size() * sizeof(float));
      }
    } else if (const auto* values = std::get_if<std::vector<std::int64_t>>(&entry.value)) {
      out.write(values->data(), values->size() * sizeof(std::int64_t));
    } else {
      const auto& unsigned_values = std::get<std::vector<std::uint64_t>>(entry.value);
      out.write(unsigned_values.data(), unsigned_values.size() * sizeof(std::uint64_t));
    }
  }
  out.commit();
}

}  // namespace gramgan
