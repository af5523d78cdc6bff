// The cuda half of engine/ops.cpp: the launches of engine/ops_launch.h run with the gramgan::cuda launchers.
#include <cuda_runtime.h>

#include "engine/device_cuda.h"
#include "engine/error.h"
#include "engine/ops_launch.h"

namespace gramgan::detail {

#define GG_OPS_NAMESPACE ::gramgan::cuda
struct CudaLaunchers {
  GG_OPS_LAUNCHERS(GG_OPS_FORWARD_LAUNCHER)
};
#undef GG_OPS_NAMESPACE

template <class Launch>
void cuda_launch(int device, DType dtype, Launch& launch) {
  GG_CUDA_CHECK(cudaSetDevice(device));
  const StreamHandle s = gpu::stream(device);
  if (dtype == DType::float32)
    launch.template run<CudaLaunchers, float>(s);
  else
    launch.template run<CudaLaunchers, double>(s);
}

#define GG_INSTANTIATE(L) template void cuda_launch<L>(int, DType, L&);
GG_OPS_LAUNCHES(GG_INSTANTIATE)
#undef GG_INSTANTIATE

}  // namespace gramgan::detail
