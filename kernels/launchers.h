// The kernel launchers, declared once per backend: gramgan::sim (simulated on CPU threads) and gramgan::cuda.
// Each kernels/*.cu defines its launchers inside `namespace gramgan::GG_BACKEND`, and the build compiles it once
// per backend. The engine picks a namespace by the tensor's device; nothing here depends on the engine.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gramgan {
// A cudaStream_t on the cuda backend; the simulator runs everything in order and ignores it.
using StreamHandle = void*;
}  // namespace gramgan

namespace gramgan::sim {
#include "kernels/launchers.inc"
}  // namespace gramgan::sim

namespace gramgan::cuda {
#include "kernels/launchers.inc"
}  // namespace gramgan::cuda
