// launch<Kernel>(grid, block, shared_bytes, stream, args...): the one way every launcher starts a kernel.
//
// nvcc build: Kernel<<<grid, block, shared_bytes, stream>>>(args...), then the launch is checked; with
// GRAMGAN_SYNC_LAUNCHES=1 it also synchronises, so an asynchronous fault is pinned to the kernel that caused it.
// Simulator build (GG_SIMULATOR): runs the grid on CPU threads and throws on failure (see cudasim/); on a dry-run
// stream it runs nothing. Both opt a kernel in to more than 48 KiB of dynamic shared memory when a launch asks
// for it.
#pragma once

#include <cstddef>
#include <cstdlib>

#include "kernels/check.h"
#include "kernels/launchers.h"

#if defined(GG_SIMULATOR)

#include "cudasim/cudasim.h"

namespace gramgan::sim {
template <auto Kernel, class... Args>
void launch(dim3 grid, dim3 block, std::size_t shared_bytes, StreamHandle stream, Args... args) {
  if (shared_bytes > cudasim::kDefaultSharedBytes)
    GG_CUDA_CHECK(cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared_bytes)));
  if (stream.dry_run) return;
  cudasim::launch<Kernel>(grid, block, shared_bytes, nullptr, args...);
}

// The runtime's stream, for the cuda* calls a launcher makes besides launches (the simulator has one stream).
inline cudaStream_t runtime_stream(StreamHandle) { return nullptr; }
}  // namespace gramgan::sim

#else

#include <cuda_runtime.h>

#include <string>

// The simulator's copy of a kernel's __launch_bounds__ (cudasim/cudasim.h says why it needs one); nvcc has the
// attribute itself, and the GPU refuses a larger block.
#define GG_KERNEL_BOUNDS(...) static_cast<void>(0)

#define GG_DYNAMIC_SHARED(T, name)                                   \
  extern __shared__ __align__(16) unsigned char gg_dynamic_shared[]; \
  T* name = reinterpret_cast<T*>(gg_dynamic_shared)

// Static shared memory, GG_SHARED(float[8][64], tile): the simulator's spelling (cudasim/cudasim.h explains why
// it needs one), here a plain __shared__ array aligned for 16-byte vector accesses, as the simulator's is.
namespace gramgan::cuda::detail {
template <class T>
using Same = T;
}  // namespace gramgan::cuda::detail
#define GG_SHARED(Type, name) \
  alignas(16) alignas(::gramgan::cuda::detail::Same<Type>) __shared__ ::gramgan::cuda::detail::Same<Type> name

namespace gramgan::cuda {
namespace detail {
inline bool sync_after_launch() {
  static const bool sync = [] {
    const char* value = std::getenv("GRAMGAN_SYNC_LAUNCHES");
    return value != nullptr && value[0] == '1';
  }();
  return sync;
}
template <auto Kernel>
std::string launch_name() {
  std::string text = __PRETTY_FUNCTION__;
  const auto begin = text.find("Kernel = ");
  return begin == std::string::npos ? text : "launch of " + text.substr(begin + 9);
}
}  // namespace detail

// The runtime's stream, for the cuda* calls a launcher makes besides launches.
inline cudaStream_t runtime_stream(StreamHandle stream) { return static_cast<cudaStream_t>(stream.stream); }

template <auto Kernel, class... Args>
void launch(dim3 grid, dim3 block, std::size_t shared_bytes, StreamHandle stream, Args... args) {
  if (shared_bytes > 48 * 1024)
    GG_CUDA_CHECK(cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared_bytes)));
  const cudaStream_t cuda_stream = runtime_stream(stream);
  Kernel<<<grid, block, shared_bytes, cuda_stream>>>(args...);
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    throw CudaError(detail::launch_name<Kernel>().c_str(), __FILE__, __LINE__, cudaGetErrorName(status),
                    cudaGetErrorString(status));
  if (detail::sync_after_launch()) GG_CUDA_CHECK(cudaStreamSynchronize(cuda_stream));
}
}  // namespace gramgan::cuda

#endif
