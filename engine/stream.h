// The stream a device's work is queued on. Each device has exactly one (see engine/allocator.h for why that
// matters): nullptr on cpu, where the simulator runs every launch to completion before returning, and a stream
// created once per GPU on cuda.
#pragma once

#include "engine/device.h"

namespace gramgan {

class Stream {
 public:
  // The stream of `device`; throws gramgan::Error if the device cannot be used (check_device).
  explicit Stream(const Device& device);

  const Device& device() const { return device_; }
  // The cudaStream_t on cuda; null on cpu.
  void* handle() const { return handle_; }
  // Waits until all work queued so far has finished; surfaces asynchronous kernel errors.
  void synchronize() const;

 private:
  Device device_;
  void* handle_ = nullptr;
};

}  // namespace gramgan
