#include "engine/device.h"

#include <charconv>

#include "cudasim/runtime.h"
#include "engine/device_cuda.h"
#include "engine/error.h"

namespace gramgan {
namespace {

constexpr const char* kDeviceForms = "valid devices: cpu, cuda, cuda:N (N = GPU index, from 0)";

struct CudaProbe {
  int count = 0;
  std::string reason;
};

// The runtime's answer cannot change while the process runs, and asking costs a driver round trip.
const CudaProbe& cuda_probe() {
  static const CudaProbe probe = [] {
    CudaProbe p;
    if (!cuda_backend_compiled()) {
      p.reason = "gramgan was built without the CUDA backend";
      return p;
    }
    p.count = detail::gpu::device_count(&p.reason);
    return p;
  }();
  return probe;
}

}  // namespace

Device Device::cuda(int index) {
  if (index < 0) throw Error("invalid device index " + std::to_string(index) + "; " + kDeviceForms);
  return Device(DeviceType::cuda, index);
}

Device Device::parse(std::string_view text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.starts_with("cuda:")) {
    const std::string_view digits = text.substr(5);
    int index = -1;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (!digits.empty() && error == std::errc() && end == digits.data() + digits.size() && index >= 0)
      return cuda(index);
  }
  throw Error("unknown device '" + std::string(text) + "'; " + kDeviceForms);
}

std::string Device::to_string() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index_); }

bool cuda_backend_compiled() { return GRAMGAN_HAVE_CUDA != 0; }

std::string cuda_architectures() { return GRAMGAN_CUDA_ARCHITECTURES; }

bool cuda_available() { return cuda_probe().count > 0; }

std::string cuda_unavailable_reason() { return cuda_probe().reason; }

int cuda_device_count() { return cuda_probe().count; }

std::vector<GpuInfo> gpus() {
  std::vector<GpuInfo> list;
  for (int i = 0; i < cuda_device_count(); ++i) list.push_back(detail::gpu::properties(i));
  return list;
}

int cuda_runtime_version() { return cuda_backend_compiled() ? detail::gpu::runtime_version() : 0; }

int cuda_driver_version() { return cuda_backend_compiled() ? detail::gpu::driver_version() : 0; }

int simulator_workers() { return cudasim::worker_count(); }

void check_device(const Device& device) {
  if (device.is_cpu()) return;
  if (!cuda_backend_compiled())
    throw Error("device " + device.to_string() +
                ": gramgan was built without the CUDA backend; use --device cpu or rebuild with a CUDA toolkit");
  const int count = cuda_device_count();
  if (count == 0)
    throw Error("device " + device.to_string() + ": no GPU available (" + cuda_unavailable_reason() + ")");
  if (device.index() >= count)
    throw Error("device " + device.to_string() + " does not exist: " + std::to_string(count) +
                " GPU(s) found, valid indices 0.." + std::to_string(count - 1));
}

void synchronize(const Device& device) {
  check_device(device);
  if (device.is_cpu())
    GG_CUDA_CHECK(cudasim::cudaDeviceSynchronize());
  else
    detail::gpu::synchronize(device.index());
}

}  // namespace gramgan

#if !GRAMGAN_HAVE_CUDA
// Stand-ins for engine/device_cuda.cpp. check_device() stops every cuda path first; these keep the link whole
// and fail loudly should a path skip that check.
namespace gramgan::detail::gpu {
namespace {
[[noreturn]] void no_backend() {
  throw Error("the cuda device is unavailable: gramgan was built without the CUDA backend");
}
}  // namespace

int device_count(std::string* reason) {
  if (reason != nullptr) *reason = "gramgan was built without the CUDA backend";
  return 0;
}
int runtime_version() { return 0; }
int driver_version() { return 0; }
GpuInfo properties(int) { no_backend(); }
void* allocate(int, std::size_t) { no_backend(); }
void release(int, void*) { no_backend(); }
std::pair<std::size_t, std::size_t> memory_info(int) { no_backend(); }
void copy(int, void*, const void*, std::size_t, CopyKind) { no_backend(); }
void* stream(int) { no_backend(); }
void* make_current(int) { no_backend(); }
void synchronize(int) { no_backend(); }
}  // namespace gramgan::detail::gpu
#endif
