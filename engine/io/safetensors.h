// safetensors files (the format PyTorch users open with `safetensors.torch`): weights and checkpoints.
//
// Layout: 8-byte little-endian u64 N, then N bytes of UTF-8 JSON, then the data buffer:
//   {"<name>": {"dtype": "F32", "shape": [64, 3, 3, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"<key>": "<value>", ...}}            (the metadata object is optional, strings only)
// Offsets are bytes relative to the start of the data buffer; each tensor is raw little-endian, C order.
//
// SafetensorsFile::open reads and validates the header only; tensors are read one at a time by seeking, so taking
// 13 conv layers out of the 575 MB VGG-19 file reads about 52 MB. Validation follows the reference
// implementation, so a file accepted here also opens there: the tensors must tile the data buffer exactly (no
// overlap, no gap, nothing after the last tensor). Files we write satisfy that by construction.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "engine/device.h"
#include "engine/tensor.h"

namespace gramgan {

// Every element type the format defines with a whole number of bytes. The header may hold any of them; what can
// be read depends on the accessor (see SafetensorsFile).
enum class SafetensorsDType { BOOL, U8, I8, F8_E4M3, F8_E5M2, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64 };

const char* safetensors_dtype_name(SafetensorsDType dtype);  // "F32", as in the header
std::size_t safetensors_dtype_size(SafetensorsDType dtype);  // bytes per element

// "[64, 3, 3, 3]", "[]" for a scalar: the header's notation, used in error messages.
std::string safetensors_shape_string(const std::vector<std::int64_t>& shape);

struct SafetensorsTensorInfo {
  std::string name;
  SafetensorsDType dtype = SafetensorsDType::F32;
  std::vector<std::int64_t> shape;   // any rank; [] is a scalar
  std::uint64_t begin = 0, end = 0;  // byte offsets into the data buffer

  std::uint64_t nbytes() const { return end - begin; }
  std::int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Opens `path` and validates its header (see the .cpp for the full list of checks). Throws gramgan::Error whose
  // message starts with "<path>: " and names the tensor concerned.
  static SafetensorsFile open(const std::string& path);
  // The same on a descriptor already open for reading (a memfd, a file opened elsewhere), which the returned
  // object owns and closes, also when this throws; `path` names it in messages.
  static SafetensorsFile from_fd(int fd, const std::string& path);

  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  // Tensors sorted by name.
  const std::vector<SafetensorsTensorInfo>& tensors() const { return tensors_; }
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // The tensor's header entry; "<path>: missing tensor '<name>'" when absent.
  const SafetensorsTensorInfo& info(const std::string& name) const;
  // info(name), after checking the shape ("<path>: tensor 'w' has shape [64, 3, 3, 3], expected [64, 3, 4, 4]")
  // and, in the second form, the dtype.
  const SafetensorsTensorInfo& expect(const std::string& name, const std::vector<std::int64_t>& shape) const;
  const SafetensorsTensorInfo& expect(const std::string& name, SafetensorsDType dtype,
                                      const std::vector<std::int64_t>& shape) const;

  // An F32 or F64 tensor (at most Shape::kMaxDims dimensions) as a Tensor on `device`: in its stored precision,
  // or converted to `dtype` (an F32 file read as float64 for gradcheck is exact; F64 to float32 rounds).
  // Any other dtype throws, naming the tensor and its dtype.
  Tensor read(const std::string& name, const Device& device = Device::cpu()) const;
  Tensor read(const std::string& name, DType dtype, const Device& device = Device::cpu()) const;

  // I64 / U64 tensors of any shape, flattened in C order (checkpoint step counters and RNG state).
  std::vector<std::int64_t> read_int64(const std::string& name) const;
  std::vector<std::uint64_t> read_uint64(const std::string& name) const;
  // The stored bytes of a tensor of any dtype, unconverted (little-endian, C order).
  std::vector<std::uint8_t> read_raw(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  void read_bytes(const SafetensorsTensorInfo& info, void* out) const;
  const SafetensorsTensorInfo& require_dtype(const std::string& name, SafetensorsDType dtype) const;

  std::string path_;
  int fd_ = -1;
  std::uint64_t data_start_ = 0;  // 8 + header length
  std::vector<SafetensorsTensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// One entry to write: a Tensor (F32 or F64 after its dtype, on any device) or an integer vector (I64 / U64 of
// shape [n]).
struct SafetensorsEntry {
  std::string name;
  std::variant<Tensor, std::vector<std::int64_t>, std::vector<std::uint64_t>> value;
};

// Writes `entries` in the given order, data contiguous, the header padded with spaces to a multiple of 8 bytes
// (as the reference implementation does) and "__metadata__" first when `metadata` is not empty.
// The file appears atomically (engine/io/atomic_file.h): on any failure `path` keeps its old contents and no
// temporary is left. Throws gramgan::Error naming the path (and the entry, for a bad one: undefined tensor,
// duplicate or reserved name).
void write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace gramgan
