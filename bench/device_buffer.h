// Device memory of `count` floats for a benchmark, uniform in [-1, 1) or zeros, on the backend `Memory` names:
// Memory::allocate(bytes), release(p), fill_uniform(p, count) and zero(p, count). At least one float is allocated,
// so a launcher given a zero-sized workspace still gets an address.
#pragma once

#include <algorithm>
#include <cstddef>

namespace gramgan::bench {

template <class Memory>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t count, bool random = true)
      : count_(std::max<std::size_t>(count, 1)), data_(static_cast<float*>(Memory::allocate(sizeof(float) * count_))) {
    if (random)
      Memory::fill_uniform(data_, count_);
    else
      Memory::zero(data_, count_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { Memory::release(data_); }
  float* get() const { return data_; }

 private:
  std::size_t count_;
  float* data_;
};

}  // namespace gramgan::bench
