// The kernel launchers, declared once per backend: gramgan::sim (simulated on CPU threads) and gramgan::cuda.
// Each kernels/<op>.cu defines its launchers inside `namespace gramgan::GG_BACKEND` (kernels themselves in an
// anonymous namespace), and the build compiles it once per backend. Launchers take device pointers of their
// backend, check their arguments (std::invalid_argument), write (=) their outputs, and never accumulate: only
// autograd accumulates gradients. Templated launchers are instantiated for float and double.
//
// Each backend has its own StreamHandle type, and every launcher takes it last: that argument's type is what
// selects the backend when the engine calls a launcher by its unqualified name (argument-dependent lookup, see
// engine/dispatch.h), so one generic call site serves both backends and no list of launchers exists anywhere
// but kernels/ops.inc.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/shapes.h"

namespace gramgan::sim {
// The simulator runs every launch in order, so a stream carries no queue. A dry-run stream checks a launcher's
// arguments and allocates nothing, but runs no kernel: the engine's MemoryPlan (engine/memory.h) measures the
// memory a computation needs by running its real code on such a stream.
struct StreamHandle {
  constexpr StreamHandle(std::nullptr_t = nullptr) {}  // the in-order stream; nullptr reads as in CUDA code
  bool dry_run = false;
};
#include "kernels/ops.inc"
}  // namespace gramgan::sim

namespace gramgan::cuda {
struct StreamHandle {
  constexpr StreamHandle(void* stream = nullptr) : stream(stream) {}  // a cudaStream_t; null: the default stream
  void* stream;
};
#include "kernels/ops.inc"
}  // namespace gramgan::cuda
