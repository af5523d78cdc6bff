// Sample kernels that exercise the simulator and both backends (GEMM, block reduction, histogram, the tf32 MMA,
// elementwise scale, and the simulator's cost probes). They are not part of the library: tests and benchmarks use them.
//
// Launchers are declared once per backend, like kernels/launchers.h: gramgan::sim::samples (simulated on CPU
// threads) and gramgan::cuda::samples. The extra `samples` namespace keeps their kernels and device helpers
// (inline functions in the simulator build) from colliding with same-named library ones under the ODR.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/launchers.h"  // each backend's StreamHandle

namespace gramgan {
// block_reduce_forms' arguments, declared once so that both backends' launchers take the same types.
enum class BlockReduceOp { sum, min, max };
inline constexpr int kBlockReduceValues = 3;  // values each thread reduces per call
}  // namespace gramgan

namespace gramgan::sim::samples {
#include "tests/sample_kernels/sample_kernels.inc"
}  // namespace gramgan::sim::samples

namespace gramgan::cuda::samples {
#include "tests/sample_kernels/sample_kernels.inc"
}  // namespace gramgan::cuda::samples
