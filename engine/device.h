// Devices: where a tensor lives and which backend runs its kernels.
//
//   cpu         the simulated backend: kernels from kernels/*.cu compiled as C++ (gramgan::sim), memory from the
//               CUDA simulator. Always available.
//   cuda[:N]    GPU N through the real CUDA runtime (gramgan::cuda). Needs the CUDA backend compiled in
//               (GRAMGAN_HAVE_CUDA) and a GPU with a working driver.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace gramgan {

enum class DeviceType { cpu, cuda };

class Device {
 public:
  constexpr Device() = default;  // cpu
  static constexpr Device cpu() { return Device(); }
  static Device cuda(int index = 0);
  // "cpu", "cuda" (= cuda:0) or "cuda:N"; anything else throws gramgan::Error listing these forms.
  static Device parse(std::string_view text);

  DeviceType type() const { return type_; }
  int index() const { return index_; }  // 0 for cpu
  bool is_cpu() const { return type_ == DeviceType::cpu; }
  bool is_cuda() const { return type_ == DeviceType::cuda; }
  std::string to_string() const;  // "cpu" or "cuda:N"

  friend bool operator==(const Device&, const Device&) = default;

 private:
  constexpr Device(DeviceType type, int index) : type_(type), index_(index) {}
  DeviceType type_ = DeviceType::cpu;
  int index_ = 0;
};

struct GpuInfo {
  int index = 0;
  std::string name;
  std::size_t total_memory = 0;  // bytes
  int major = 0, minor = 0;      // compute capability
};

// Whether this binary contains the CUDA backend.
bool cuda_backend_compiled();
// The CUDA architectures the kernels were compiled for, as CMake listed them ("80,86,89,90"); empty without the
// CUDA backend.
std::string cuda_architectures();
// True when the CUDA backend is compiled in and the runtime reports at least one GPU. Never throws: a machine
// without a driver just answers false.
bool cuda_available();
// Why cuda_available() is false (runtime error, no GPU, backend not compiled); empty when it is true.
std::string cuda_unavailable_reason();
int cuda_device_count();  // 0 when unavailable
std::vector<GpuInfo> gpus();
// Versions as the runtime encodes them (1000 * major + 10 * minor); 0 when unknown or not compiled.
int cuda_runtime_version();
int cuda_driver_version();
// OS threads the simulator runs blocks on.
int simulator_workers();

// Throws gramgan::Error unless `device` can be used here: the backend is compiled, the GPU exists.
void check_device(const Device& device);
// Waits for all work queued on the device's stream.
void synchronize(const Device& device);

}  // namespace gramgan
