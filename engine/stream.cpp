#include "engine/stream.h"

#include "engine/device_cuda.h"

namespace gramgan {

Stream::Stream(const Device& device) : device_(device) {
  check_device(device);
  if (device.is_cuda()) handle_ = detail::gpu::stream(device.index());
}

void Stream::synchronize() const { gramgan::synchronize(device_); }

}  // namespace gramgan
