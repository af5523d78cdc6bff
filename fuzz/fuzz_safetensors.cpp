// libFuzzer target: the safetensors reader on arbitrary bytes, given to SafetensorsFile::from_fd through a memfd
// (the same code as open(), without the file system). When the header is accepted, every tensor it lists is read
// with each accessor its dtype allows, so the data path (offsets, sizes, pread) is fuzzed too.
// Expected outcome: a gramgan::Error, or every read returning exactly the bytes the header promised.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "engine/error.h"
#include "engine/io/safetensors.h"

namespace {

using gramgan::SafetensorsDType;

void read_every_tensor(const gramgan::SafetensorsFile& file) {
  for (const gramgan::SafetensorsTensorInfo& info : file.tensors()) {
    if (!file.contains(info.name) || &file.info(info.name) != &info) std::abort();
    if (file.read_raw(info.name).size() != info.nbytes()) std::abort();
    const auto count = static_cast<std::size_t>(info.numel());
    if (count * gramgan::safetensors_dtype_size(info.dtype) != info.nbytes()) std::abort();
    try {
      switch (info.dtype) {
        case SafetensorsDType::F32:
        case SafetensorsDType::F64:
          if (static_cast<std::size_t>(file.read(info.name).numel()) != count) std::abort();
          break;
        case SafetensorsDType::I64:
          if (file.read_int64(info.name).size() != count) std::abort();
          break;
        case SafetensorsDType::U64:
          if (file.read_uint64(info.name).size() != count) std::abort();
          break;
        default: break;
      }
    } catch (const gramgan::Error&) {
      // A legitimate refusal (e.g. more dimensions than a Tensor holds); the next tensor is still read.
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int fd = ::memfd_create("fuzz.safetensors", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) std::abort();
    done += static_cast<std::size_t>(n);
  }
  try {
    const gramgan::SafetensorsFile file = gramgan::SafetensorsFile::from_fd(fd, "fuzz.safetensors");
    read_every_tensor(file);
  } catch (const gramgan::Error&) {
  }
  return 0;
}
