// Internal to the engine: the one path from a tensor op to a backend's launcher (engine/ops.cpp, tensor fills).
//
//   dispatch(device, dtype, [&]<class T>(auto stream) {
//     conv2d_forward(shape, ptr<T>(x), ptr<T>(weight), ptr<T>(bias), ptr<T>(y), stream);
//   });
//
// The body is instantiated for each (backend, dtype): `stream` is gramgan::sim::StreamHandle or
// gramgan::cuda::StreamHandle, and its type alone picks the launcher of that backend, found by its unqualified
// name through argument-dependent lookup (kernels/launchers.h). A launcher missing from kernels/ops.inc therefore
// fails to compile on every machine, and the cuda instantiation exists only in the CUDA build.
//
// Under a MemoryPlan (engine/memory.h) the simulator's launchers run on a dry-run stream: arguments are checked
// and workspaces allocated exactly as they would be, and no kernel runs; an argument error is noted in the plan
// (MemoryPlan::refusal) rather than thrown, so the estimate is still made.
#pragma once

#include <cstddef>
#include <stdexcept>

#include "engine/error.h"
#include "engine/memory.h"
#include "engine/tensor.h"
#include "kernels/launchers.h"

#if GRAMGAN_HAVE_CUDA
#include "engine/device_cuda.h"
#endif

namespace gramgan::detail {

// A tensor's data as the launcher's pointer; null for an undefined (optional) tensor.
template <class T>
T* ptr(const Tensor& t) {
  return t.defined() ? const_cast<Tensor&>(t).data<T>() : nullptr;
}

// Launcher scratch of `elements` elements of T, allocated on `device` under the "workspaces" label.
template <class T>
Tensor workspace(std::size_t elements, const Device& device) {
  return Tensor::empty(Shape{std::int64_t(elements)}, dtype_of<T>(), device);
}

template <class Body, class Stream>
void run_for_dtype(DType dtype, Body& body, Stream stream) {
  if (dtype == DType::float32)
    body.template operator()<float>(stream);
  else
    body.template operator()<double>(stream);
}

// Runs body<T>(stream) on `device`'s backend for `dtype`; the launchers' own argument errors
// (std::invalid_argument) become gramgan::Error.
template <class Body>
void dispatch(const Device& device, DType dtype, Body&& body) {
  const AllocationScope workspaces("workspaces");  // outputs are allocated before, workspaces inside the body
  try {
    if (memory_planning()) {
      sim::StreamHandle dry_run;
      dry_run.dry_run = true;
      run_for_dtype(dtype, body, dry_run);
    } else if (device.is_cpu()) {
      run_for_dtype(dtype, body, sim::StreamHandle{});
    } else {
      check_device(device);
#if GRAMGAN_HAVE_CUDA
      run_for_dtype(dtype, body, cuda::StreamHandle{gpu::make_current(device.index())});
#else
      throw Error("the cuda device is unavailable: gramgan was built without the CUDA backend");
#endif
    }
  } catch (const std::invalid_argument& e) {
    if (!memory_planning()) throw Error(e.what());
    note_plan_refusal(e.what());
  }
}

}  // namespace gramgan::detail
