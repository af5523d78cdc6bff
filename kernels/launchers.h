// The kernel launchers, declared once per backend: gramgan::sim (simulated on CPU threads) and gramgan::cuda.
// Each kernels/<op>.cu defines its launchers inside `namespace gramgan::GG_BACKEND` (kernels themselves in an
// anonymous namespace), and the build compiles it once per backend. The engine picks a namespace by the tensor's
// device. Launchers take device pointers of their backend, check their arguments (std::invalid_argument), write
// (=) their outputs, and never accumulate: only autograd accumulates gradients.
// Templated launchers are instantiated for float and double.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/shapes.h"

namespace gramgan {
// A cudaStream_t on the cuda backend; the simulator runs everything in order and ignores it.
using StreamHandle = void*;
}  // namespace gramgan

namespace gramgan::sim {
#include "kernels/launchers.inc"
#include "kernels/ops.inc"
}  // namespace gramgan::sim

namespace gramgan::cuda {
#include "kernels/launchers.inc"
#include "kernels/ops.inc"
}  // namespace gramgan::cuda
