// For tests: the simulator's float conv2d passes run with the tile shapes that nvcc builds, not the simulator's own
// (kernels/conv2d.cu: NvccTiles, SimulatorTiles). A tile's shape decides which thread sums an output, never the
// order of the sum, so the simulator's shapes must give these bits exactly; tests/test_conv2d.cpp holds them to it,
// and so keeps the CUDA build's tile shapes running in every cpu test run. Arguments as in kernels/ops.inc.
#pragma once

#include "kernels/launchers.h"

namespace gramgan::sim::nvcc_tiles {

void conv2d_forward(const Conv2dShape& shape, const float* x, const float* weight, const float* bias, float* y,
                    StreamHandle stream);
void conv2d_backward_data(const Conv2dShape& shape, const float* dy, const float* weight, float* dx,
                          StreamHandle stream);
void conv2d_backward_weight(const Conv2dShape& shape, const float* x, const float* dy, float* dweight, float* dbias,
                            float* workspace, StreamHandle stream);

}  // namespace gramgan::sim::nvcc_tiles
