// Internal: the engine's calls into the real CUDA runtime (devices, memory, copies, streams). Launchers are
// reached through engine/dispatch.h instead.
//
// engine/device_cuda.cpp implements it when the CUDA backend is built; otherwise engine/device.cpp supplies
// stand-ins that report no GPU and throw gramgan::Error for anything else, so code that asks about GPUs needs no
// #if. `device` is a GPU index; each call makes it current.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "engine/device.h"

namespace gramgan::detail::gpu {

// Never throw. On failure: 0, with the runtime's error in *reason.
int device_count(std::string* reason);
int runtime_version();
int driver_version();

GpuInfo properties(int device);
// nullptr when the GPU is out of memory (the caller may free cached blocks and retry); throws on other errors.
void* allocate(int device, std::size_t bytes);
void release(int device, void* ptr);
// cudaMemGetInfo: free and total bytes; {0, 0} if the runtime cannot say (it is asked while handling an error).
std::pair<std::size_t, std::size_t> memory_info(int device);

enum class CopyKind { host_to_device, device_to_host, device_to_device };
// Ordered on the device's stream; returns once host memory involved may be reused or read.
void copy(int device, void* dst, const void* src, std::size_t bytes, CopyKind kind);

// The one stream all work on the device goes to (a cudaStream_t).
void* stream(int device);
// Makes `device` current and returns its stream: what a launch on it needs.
void* make_current(int device);
void synchronize(int device);

}  // namespace gramgan::detail::gpu
