// cudasim host API: the part of the CUDA runtime the engine and the kernel launchers use, run on CPU threads.
//
// This header is safe to include from ordinary C++ (engine code): it defines no CUDA keywords and puts
// everything in namespace cudasim, so it coexists with the real CUDA runtime in one binary. Kernel sources
// compiled for the simulator get it through cudasim.h, which adds the device-side language.
//
// Semantics: every call is synchronous (streams are accepted and ignored); "device" memory is host memory from
// posix_memalign, so AddressSanitizer sees out-of-bounds accesses. A failing launch throws cudasim::Error and
// records cudaErrorLaunchFailure as the last error; the simulator stays usable for later launches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace cudasim {

enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorLaunchFailure = 719,
  cudaErrorNoDevice = 100,
};
using cudaError_t = cudaError;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
};

struct SimStream;
using cudaStream_t = SimStream*;

// Thrown by a launch that fails: bad configuration, a diagnostic (barrier mismatch, deadlock, ...), or an
// exception escaping a kernel thread. The message names the kernel, the block and the thread.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

cudaError_t cudaMalloc(void** ptr, std::size_t bytes);
template <class T>
cudaError_t cudaMalloc(T** ptr, std::size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* ptr, int value, std::size_t bytes);
cudaError_t cudaMemsetAsync(void* ptr, int value, std::size_t bytes, cudaStream_t stream = nullptr);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaGetLastError();  // returns and clears the last error of the calling thread
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorName(cudaError_t error);
// For cudaErrorLaunchFailure this is the full diagnostic of the calling thread's last failed launch.
const char* cudaGetErrorString(cudaError_t error);

// Simulator controls (no CUDA counterpart).
enum class ThreadOrder { forward, reverse };
// Order in which the threads of a block start and are resumed after a barrier. Running kernels in both
// orders exposes missing-barrier races that a fixed order hides. Default: GRAMGAN_SIM_THREAD_ORDER
// (forward|reverse), else forward.
void set_thread_order(ThreadOrder order);
ThreadOrder thread_order();
// OS threads that run blocks (the launching thread included). Default: GRAMGAN_SIM_WORKERS, else all cores;
// always 1 under AddressSanitizer, where shared memory is process-static.
int worker_count();
void set_worker_count(int workers);
// Shared memory (static GG_SHARED plus dynamic) a block may use without opting in (cudaFuncSetAttribute); the
// same on every architecture. Static shared memory alone never exceeds it (nvcc rejects such a kernel).
constexpr std::size_t kDefaultSharedBytes = 48 * 1024;
// The GPU architecture whose per-block shared-memory ceiling with opt-in launches are held to: 80 (163 KiB),
// 86 or 89 (99 KiB), 90 (227 KiB); it also selects the tensor-core arithmetic of the warp MMA
// (cudasim/mma_model.h). Default: GRAMGAN_SIM_ARCH, else 90. set_architecture throws Error for any other value.
void set_architecture(int sm);
int architecture();
std::size_t max_shared_bytes_opt_in();  // of the current architecture

}  // namespace cudasim
