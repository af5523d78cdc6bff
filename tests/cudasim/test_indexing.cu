// threadIdx / blockIdx / blockDim / gridDim over odd 3-D shapes: every thread of the grid runs exactly once and
// sees the coordinates CUDA gives it (x fastest, then y, then z, for threads and for blocks alike).
#include <array>

#include "tests/cudasim/sim_test.h"

namespace {

using namespace gramgan_simtest;

constexpr int kFields = 12;

__global__ void record_indices_kernel(int* hits, int* fields) {
  const unsigned block_linear = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
  const unsigned thread_linear = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  const unsigned global = block_linear * (blockDim.x * blockDim.y * blockDim.z) + thread_linear;
  atomicAdd(&hits[global], 1);
  int* f = fields + std::size_t(global) * kFields;
  f[0] = threadIdx.x, f[1] = threadIdx.y, f[2] = threadIdx.z;
  f[3] = blockIdx.x, f[4] = blockIdx.y, f[5] = blockIdx.z;
  f[6] = blockDim.x, f[7] = blockDim.y, f[8] = blockDim.z;
  f[9] = gridDim.x, f[10] = gridDim.y, f[11] = gridDim.z;
}

void check_indexing(dim3 grid, dim3 block) {
  const std::size_t total = volume(grid) * volume(block);
  DeviceArray<int> hits(total, 0);
  DeviceArray<int> fields(total * kFields, -1);
  cudasim::launch<record_indices_kernel>(grid, block, 0, nullptr, hits.get(), fields.get());
  const auto h = hits.download();
  const auto f = fields.download();
  // Decode every global id independently of the kernel's formula: walk the grid in CUDA's order.
  std::size_t id = 0;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx)
        for (unsigned tz = 0; tz < block.z; ++tz)
          for (unsigned ty = 0; ty < block.y; ++ty)
            for (unsigned tx = 0; tx < block.x; ++tx, ++id) {
              ASSERT_EQ(h[id], 1) << "global id " << id << " written " << h[id] << " times";
              const std::array<int, kFields> expected = {int(tx),      int(ty),     int(tz),      int(bx),
                                                         int(by),      int(bz),     int(block.x), int(block.y),
                                                         int(block.z), int(grid.x), int(grid.y),  int(grid.z)};
              for (int k = 0; k < kFields; ++k)
                ASSERT_EQ(f[id * kFields + k], expected[k]) << "global id " << id << " field " << k;
            }
  ASSERT_EQ(id, total);
}

TEST(CudasimIndexing, Odd3DGridAndBlock) { check_indexing(dim3(3, 2, 2), dim3(5, 3, 2)); }

TEST(CudasimIndexing, OneDimensionalShapes) {
  check_indexing(dim3(7), dim3(33));
  check_indexing(dim3(1), dim3(1));
  check_indexing(dim3(1), dim3(1024));
}

TEST(CudasimIndexing, DegenerateAxesAndLimits) {
  check_indexing(dim3(1, 5, 1), dim3(1, 1, 7));
  check_indexing(dim3(2, 1, 3), dim3(1, 9, 1));
  check_indexing(dim3(1, 1, 1), dim3(2, 2, 64));   // block z at its limit
  check_indexing(dim3(1, 1, 1), dim3(32, 32, 1));  // 1024 threads, the block limit
}

TEST(CudasimIndexing, DefaultDim3IsOne) {
  constexpr dim3 d;
  static_assert(d.x == 1 && d.y == 1 && d.z == 1);
  constexpr dim3 e(4);
  static_assert(e.x == 4 && e.y == 1 && e.z == 1);
  EXPECT_EQ(warpSize, 32);
}

}  // namespace
