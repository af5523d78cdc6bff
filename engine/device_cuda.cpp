// The real CUDA runtime behind engine/device_cuda.h (built only with the CUDA backend).
#include <cuda_runtime.h>

#include <array>
#include <mutex>
#include <string>

#include "engine/device_cuda.h"
#include "engine/error.h"

namespace gramgan::detail::gpu {
namespace {

void activate(int device) { GG_CUDA_CHECK(cudaSetDevice(device)); }

cudaStream_t device_stream(int device) { return static_cast<cudaStream_t>(stream(device)); }

}  // namespace

int device_count(std::string* reason) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // not sticky: clear it so later checks do not report it
    if (reason == nullptr) return 0;
    // The runtime answers "CUDA driver version is insufficient" also when there is no driver at all (no GPU): say
    // which it is, so a machine without a GPU is not told to update a driver it does not have.
    int driver = 0, runtime = 0;
    const bool has_driver = cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0;
    cudaRuntimeGetVersion(&runtime);
    const auto version = [](int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); };
    if (status == cudaErrorInsufficientDriver && !has_driver)
      *reason = "no NVIDIA driver is installed";
    else if (status == cudaErrorInsufficientDriver)
      *reason = "the NVIDIA driver supports CUDA " + version(driver) + ", older than the CUDA " + version(runtime) +
                " gramgan was built with; update the driver";
    else if (status == cudaErrorNoDevice)
      *reason = "no NVIDIA GPU found";
    else
      *reason = std::string("cudaGetDeviceCount: ") + cudaGetErrorName(status) + ": " + cudaGetErrorString(status);
    return 0;
  }
  if (count == 0 && reason != nullptr) *reason = "the CUDA runtime reports no GPU";
  return count;
}

int runtime_version() {
  int version = 0;
  return cudaRuntimeGetVersion(&version) == cudaSuccess ? version : 0;
}

int driver_version() {
  int version = 0;
  return cudaDriverGetVersion(&version) == cudaSuccess ? version : 0;
}

GpuInfo properties(int device) {
  cudaDeviceProp prop{};
  GG_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return GpuInfo{device, prop.name, prop.totalGlobalMem, prop.major, prop.minor};
}

void* allocate(int device, std::size_t bytes) {
  activate(device);
  void* ptr = nullptr;
  const cudaError_t status = cudaMalloc(&ptr, bytes);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    return nullptr;
  }
  if (status != cudaSuccess)
    throw CudaError(("cudaMalloc of " + std::to_string(bytes) + " bytes").c_str(), __FILE__, __LINE__,
                    cudaGetErrorName(status), cudaGetErrorString(status));
  return ptr;
}

void release(int device, void* ptr) {
  activate(device);
  GG_CUDA_CHECK(cudaFree(ptr));
}

std::pair<std::size_t, std::size_t> memory_info(int device) {
  std::size_t free_bytes = 0, total_bytes = 0;
  if (cudaSetDevice(device) != cudaSuccess || cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
    cudaGetLastError();
    return {0, 0};
  }
  return {free_bytes, total_bytes};
}

void copy(int device, void* dst, const void* src, std::size_t bytes, CopyKind kind) {
  if (bytes == 0) return;
  activate(device);
  const cudaMemcpyKind cuda_kind = kind == CopyKind::host_to_device   ? cudaMemcpyHostToDevice
                                   : kind == CopyKind::device_to_host ? cudaMemcpyDeviceToHost
                                                                      : cudaMemcpyDeviceToDevice;
  GG_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cuda_kind, device_stream(device)));
  // From pageable host memory the copy has read its source when the call returns; into host memory it has not
  // landed until the stream gets there.
  if (kind == CopyKind::device_to_host) GG_CUDA_CHECK(cudaStreamSynchronize(device_stream(device)));
}

void* stream(int device) {
  // A created stream rather than the legacy default one: CUDA graph capture needs it. It is a blocking stream,
  // so code that uses the legacy stream (plain cudaMemcpy) still orders after it. Never destroyed: the driver may
  // be torn down before static destructors run.
  constexpr int kMaxDevices = 64;
  static std::mutex mutex;
  static std::array<cudaStream_t, kMaxDevices> streams{};
  if (device < 0 || device >= kMaxDevices) throw Error("cuda:" + std::to_string(device) + " is out of range");
  const std::lock_guard lock(mutex);
  if (streams[device] == nullptr) {
    activate(device);
    GG_CUDA_CHECK(cudaStreamCreate(&streams[device]));
  }
  return streams[device];
}

void synchronize(int device) {
  activate(device);
  GG_CUDA_CHECK(cudaStreamSynchronize(device_stream(device)));
}

void* make_current(int device) {
  activate(device);
  return stream(device);
}

}  // namespace gramgan::detail::gpu
