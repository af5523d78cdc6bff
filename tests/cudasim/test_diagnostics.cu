// Diagnostics instead of hangs: each misuse fails the launch with a cudasim::Error naming the kernel, the block,
// a thread and the problem; the last error becomes cudaErrorLaunchFailure (cudaErrorInvalidConfiguration for a
// bad configuration, cudaErrorLaunchOutOfResources for a block over the kernel's launch bounds) and is cleared by
// cudaGetLastError; and the next launch works as if nothing happened.
#include <stdexcept>

#include "tests/cudasim/sim_test.h"

namespace {

using namespace gramgan_simtest;

// ---- recovery check ---------------------------------------------------------------------------------------------

// Uses everything a failed launch could leave in a bad state: fibers parked at barriers, warp-op slots, dynamic
// shared memory, the block counter.
__global__ void recovery_kernel(const int* in, int* out) {
  GG_DYNAMIC_SHARED(int, s);
  const int t = threadIdx.x, n = blockDim.x;
  s[t] = in[blockIdx.x * n + t];
  __syncthreads();
  int v = s[n - 1 - t];
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  const int nonzero = __syncthreads_count(v != 0);
  out[blockIdx.x * n + t] = v + (nonzero == n ? 0 : 1000000);
}

void expect_recovered() {
  constexpr int kBlocks = 37, kN = 64;
  std::vector<int> in(kBlocks * kN);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = int(i % 13) + 1;
  DeviceArray<int> d_in(in), d_out(in.size(), 0);
  cudasim::launch<recovery_kernel>(dim3(kBlocks), dim3(kN), kN * sizeof(int), nullptr, d_in.get(), d_out.get());
  const auto out = d_out.download();
  for (int b = 0; b < kBlocks; ++b)
    for (int t = 0; t < kN; ++t) {
      // Thread t's warp reads the mirrored warp's values; every lane ends with that warp's sum.
      const int mirrored_warp_base = kN - 32 - t / 32 * 32;
      int sum = 0;
      for (int l = 0; l < 32; ++l) sum += in[b * kN + mirrored_warp_base + l];
      ASSERT_EQ(out[b * kN + t], sum) << "after a failed launch: block " << b << " thread " << t;
    }
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

// The failure contract shared by every diagnostic: message pieces, last-error bookkeeping, recovery.
void expect_launch_failure(const std::function<void()>& launch, const std::vector<std::string>& pieces,
                           cudaError_t expected = cudaErrorLaunchFailure) {
  ASSERT_EQ(cudaGetLastError(), cudaSuccess) << "a previous step left an error";
  const std::string message = launch_failure(launch);
  for (const auto& piece : pieces) GG_EXPECT_CONTAINS(message, piece);
  EXPECT_EQ(cudaPeekAtLastError(), expected);
  // The error string of the failure code carries the full diagnostic (what a CHECK macro prints).
  EXPECT_EQ(std::string(cudaGetErrorString(expected)), message);
  EXPECT_EQ(cudaGetLastError(), expected);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  expect_recovered();
}

std::string at_line(int line) { return "test_diagnostics.cu:" + std::to_string(line); }

// ---- block barriers ---------------------------------------------------------------------------------------------

__global__ void different_barriers_kernel(int* lines) {
  if (blockIdx.x == 2) {
    if (threadIdx.x < 16) {
      lines[0] = __LINE__ + 1;  // the line of the call below
      __syncthreads();
    } else {
      lines[1] = __LINE__ + 1;  // the line of the call below
      __syncthreads();
    }
  } else {
    __syncthreads();
  }
}

TEST(CudasimDiagnostics, ThreadsAtDifferentSyncthreads) {
  DeviceArray<int> lines(2, 0);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const std::string message =
      launch_failure([&] { cudasim::launch<different_barriers_kernel>(dim3(4), dim3(32), 0, nullptr, lines.get()); });
  const auto l = lines.download();
  for (const std::string& piece : {std::string("different_barriers_kernel"), std::string("block (2,0,0)"),
                                   std::string("thread ("), std::string("different"), at_line(l[0]), at_line(l[1])})
    GG_EXPECT_CONTAINS(message, piece);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  expect_recovered();
}

__global__ void different_barrier_kinds_kernel() {
  if (threadIdx.x == 7)
    __syncthreads_count(1);
  else
    __syncthreads_count(0);
}

TEST(CudasimDiagnostics, SyncthreadsCountAtTwoCallSites) {
  expect_launch_failure(
      [] { cudasim::launch<different_barrier_kinds_kernel>(dim3(1), dim3(40), 0, nullptr); },
      {"different_barrier_kinds_kernel", "block (0,0,0)", "thread (", "different", "__syncthreads_count"});
}

__global__ void exited_before_barrier_kernel(int* out) {
  const int t = threadIdx.x + blockDim.x * threadIdx.y;
  if (blockIdx.x == 1 && blockIdx.y == 2 && t == 13) return;
  __syncthreads();
  out[0] = 1;
}

TEST(CudasimDiagnostics, ThreadExitedWhileOthersWaitAtSyncthreads) {
  DeviceArray<int> out(1, 0);
  // Thread 13 of an 8x4 block is (5,1,0).
  expect_launch_failure(
      [&] { cudasim::launch<exited_before_barrier_kernel>(dim3(2, 3), dim3(8, 4), 0, nullptr, out.get()); },
      {"exited_before_barrier_kernel", "block (1,2,0)", "thread (5,1,0)", "exited", "__syncthreads"});
}

// ---- warp operations --------------------------------------------------------------------------------------------

__global__ void shuffle_with_exited_lane_kernel(int* out) {
  const int lane = threadIdx.x % 32;
  if (blockIdx.x == 1 && lane == 3) return;
  out[threadIdx.x] = __shfl_sync(0xffffffffu, lane, 0);
}

TEST(CudasimDiagnostics, ShuffleMaskNamesExitedLane) {
  DeviceArray<int> out(64, 0);
  expect_launch_failure(
      [&] { cudasim::launch<shuffle_with_exited_lane_kernel>(dim3(3), dim3(64), 0, nullptr, out.get()); },
      {"shuffle_with_exited_lane_kernel", "block (1,0,0)", "thread (", "lane 3", "exited", "__shfl_sync"});
}

__global__ void shuffle_reads_outside_mask_kernel(int* out) {
  const int lane = threadIdx.x % 32;
  if (lane < 16) out[threadIdx.x] = __shfl_down_sync(0x0000ffffu, lane, 1);  // lane 15 reads lane 16
}

TEST(CudasimDiagnostics, ShuffleReadsLaneNotInMask) {
  DeviceArray<int> out(32, 0);
  expect_launch_failure(
      [&] { cudasim::launch<shuffle_reads_outside_mask_kernel>(dim3(1), dim3(32), 0, nullptr, out.get()); },
      {"shuffle_reads_outside_mask_kernel", "block (0,0,0)", "thread (15,0,0)", "lane 16", "not in the mask",
       "__shfl_down_sync"});
}

__global__ void caller_not_in_mask_kernel(int* out) {
  out[threadIdx.x] = __shfl_sync(0xfffffffeu, int(threadIdx.x), 1);  // lane 0 is not in its own mask
}

TEST(CudasimDiagnostics, CallingLaneNotInItsMask) {
  DeviceArray<int> out(32, 0);
  expect_launch_failure([&] { cudasim::launch<caller_not_in_mask_kernel>(dim3(2), dim3(32), 0, nullptr, out.get()); },
                        {"caller_not_in_mask_kernel", "block (", "thread (0,0,0)", "not in its mask", "__shfl_sync"});
}

__global__ void mask_names_missing_lane_kernel(int* out) {
  // 40 threads: the second warp has 8 lanes, so a full mask names 24 lanes that do not exist.
  out[threadIdx.x] = __shfl_sync(0xffffffffu, int(threadIdx.x), 0);
}

TEST(CudasimDiagnostics, FullMaskInPartialWarp) {
  DeviceArray<int> out(40, 0);
  expect_launch_failure(
      [&] { cudasim::launch<mask_names_missing_lane_kernel>(dim3(1), dim3(40), 0, nullptr, out.get()); },
      {"mask_names_missing_lane_kernel", "block (0,0,0)", "thread (32,0,0)", "does not exist"});
}

__global__ void different_warp_ops_kernel(int* out) {
  const int lane = threadIdx.x % 32;
  if (lane < 16)
    out[lane] = int(__ballot_sync(0xffffffffu, 1));
  else
    out[lane] = __shfl_sync(0xffffffffu, lane, 0);
}

TEST(CudasimDiagnostics, LanesAtDifferentWarpOps) {
  DeviceArray<int> out(32, 0);
  expect_launch_failure([&] { cudasim::launch<different_warp_ops_kernel>(dim3(1), dim3(32), 0, nullptr, out.get()); },
                        {"different_warp_ops_kernel", "block (0,0,0)", "thread (", "different warp operations",
                         "__ballot_sync", "__shfl_sync"});
}

__global__ void bad_width_kernel(int* out) { out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1, 12); }

TEST(CudasimDiagnostics, ShuffleWidthNotPowerOfTwo) {
  DeviceArray<int> out(32, 0);
  expect_launch_failure([&] { cudasim::launch<bad_width_kernel>(dim3(1), dim3(32), 0, nullptr, out.get()); },
                        {"bad_width_kernel", "block (0,0,0)", "thread (", "width 12", "power of two"});
}

__global__ void shuffle_vs_barrier_deadlock_kernel(int* lines) {
  if (threadIdx.x == 0) {
    lines[0] = __LINE__ + 1;  // the line of the call below
    lines[2] = __shfl_sync(0xffffffffu, 5, 0);
  } else {
    lines[1] = __LINE__ + 1;  // the line of the call below
    __syncthreads();
  }
}

TEST(CudasimDiagnostics, ShuffleAgainstBarrierDeadlock) {
  DeviceArray<int> lines(3, 0);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const std::string message = launch_failure(
      [&] { cudasim::launch<shuffle_vs_barrier_deadlock_kernel>(dim3(1), dim3(32), 0, nullptr, lines.get()); });
  const auto l = lines.download();
  for (const std::string& piece : {std::string("shuffle_vs_barrier_deadlock_kernel"), std::string("block (0,0,0)"),
                                   std::string("thread (0,0,0)"), std::string("deadlock"), std::string("__shfl_sync"),
                                   std::string("__syncthreads"), at_line(l[0]), at_line(l[1])})
    GG_EXPECT_CONTAINS(message, piece);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  expect_recovered();
}

// ---- exceptions escaping kernel threads ----------------------------------------------------------------------

__global__ void throwing_kernel(int* out) {
  if (blockIdx.x == 1 && threadIdx.x == 3) throw std::runtime_error("kernel boom");
  out[blockIdx.x * blockDim.x + threadIdx.x] = 1;
}

TEST(CudasimDiagnostics, ExceptionInKernelThread) {
  DeviceArray<int> out(3 * 32, 0);
  expect_launch_failure([&] { cudasim::launch<throwing_kernel>(dim3(3), dim3(32), 0, nullptr, out.get()); },
                        {"throwing_kernel", "block (1,0,0)", "thread (3,0,0)", "kernel boom"});
}

// The throwing thread leaves the others parked at a barrier (forward order) or not yet started (reverse):
// either way they must be unwound, not leaked or resumed.
__global__ void throwing_at_barrier_kernel(int* out) {
  GG_SHARED(int[64], s);
  s[threadIdx.x] = threadIdx.x;
  if (threadIdx.x == 20) throw std::logic_error("thrown before the barrier");
  __syncthreads();
  out[threadIdx.x] = s[63 - threadIdx.x];
}

TEST(CudasimDiagnostics, ExceptionWhileOthersWaitAtBarrier) {
  DeviceArray<int> out(64, 0);
  expect_launch_failure([&] { cudasim::launch<throwing_at_barrier_kernel>(dim3(2), dim3(64), 0, nullptr, out.get()); },
                        {"throwing_at_barrier_kernel", "block (", "thread (20,0,0)", "thrown before the barrier"});
}

// ---- launch configuration ---------------------------------------------------------------------------------------

__global__ void empty_kernel(int* out) {
  if (out != nullptr) out[0] = 1;
}

TEST(CudasimDiagnostics, BadLaunchConfigurations) {
  struct Case {
    dim3 grid, block;
    std::vector<std::string> pieces;
  };
  const std::vector<Case> cases = {
      {dim3(1), dim3(1025), {"1024"}},
      {dim3(1), dim3(32, 32, 2), {"2048", "1024"}},
      {dim3(1), dim3(1, 1, 65), {"64"}},
      {dim3(0), dim3(32), {"grid", "zero"}},
      {dim3(4, 0, 1), dim3(32), {"grid", "zero"}},
      {dim3(1), dim3(0), {"block", "zero"}},
      {dim3(1, 65536), dim3(32), {"grid", "65535"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("grid " + std::to_string(c.grid.x) + "," + std::to_string(c.grid.y) + "," + std::to_string(c.grid.z) +
                 " block " + std::to_string(c.block.x) + "," + std::to_string(c.block.y) + "," +
                 std::to_string(c.block.z));
    std::vector<std::string> pieces = c.pieces;
    pieces.push_back("empty_kernel");
    expect_launch_failure([&] { cudasim::launch<empty_kernel>(c.grid, c.block, 0, nullptr, nullptr); }, pieces,
                          cudaErrorInvalidConfiguration);
  }
}

// ---- launch bounds --------------------------------------------------------------------------------------------

constexpr int kBoundedThreads = 64;

__global__ void __launch_bounds__(kBoundedThreads, 4) bounded_kernel(int* out) {
  GG_KERNEL_BOUNDS(kBoundedThreads, 4);
  out[blockIdx.x * blockDim.x * blockDim.y * blockDim.z + threadIdx.x + blockDim.x * threadIdx.y] = 1;
}

TEST(CudasimDiagnostics, BlockLargerThanTheLaunchBoundsIsRefusedBeforeAnyThreadRuns) {
  for (int workers : {1, 2}) {
    ScopedWorkers scoped(workers);
    // A block of exactly the bound runs; min_blocks (4) refuses nothing.
    DeviceArray<int> fits(3 * kBoundedThreads, 0);
    cudasim::launch<bounded_kernel>(dim3(3), dim3(16, 4), 0, nullptr, fits.get());
    for (int v : fits.download()) ASSERT_EQ(v, 1);
    // One thread more, in any shape, is refused as a GPU refuses it, and no thread of any block writes.
    for (const dim3 block : {dim3(kBoundedThreads + 1), dim3(8, 8, 2)}) {
      const std::size_t threads = std::size_t(block.x) * block.y * block.z;
      DeviceArray<int> out(5 * threads, 0);
      expect_launch_failure([&] { cudasim::launch<bounded_kernel>(dim3(5), block, 0, nullptr, out.get()); },
                            {"bounded_kernel", "block (", std::to_string(threads) + " threads",
                             "__launch_bounds__ of 64", "test_diagnostics.cu:"},
                            cudaErrorLaunchOutOfResources);
      for (int v : out.download()) ASSERT_EQ(v, 0);
    }
  }
}

// ---- failures with several workers ---------------------------------------------------------------------------

__global__ void late_failure_kernel(int* out) {
  if (blockIdx.x == 777 && threadIdx.x == 0) return;
  __syncthreads();
  out[blockIdx.x] = 1;
}

TEST(CudasimDiagnostics, FailureInOneOfManyBlocksWithSeveralWorkers) {
  for (int workers : {1, 3}) {
    ScopedWorkers scoped(workers);
    DeviceArray<int> out(2000, 0);
    expect_launch_failure([&] { cudasim::launch<late_failure_kernel>(dim3(2000), dim3(64), 0, nullptr, out.get()); },
                          {"late_failure_kernel", "block (777,0,0)", "thread (0,0,0)", "exited"});
  }
}

TEST(CudasimDiagnostics, RepeatedFailuresDoNotExhaustTheSimulator) {
  // Each failed block strands fibers that must return to the pool; many failures in a row would otherwise run
  // out of stacks or leave stale waits behind.
  for (int i = 0; i < 50; ++i) {
    DeviceArray<int> lines(3, 0);
    EXPECT_THROW(cudasim::launch<shuffle_vs_barrier_deadlock_kernel>(dim3(1), dim3(256), 0, nullptr, lines.get()),
                 cudasim::Error);
    EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  }
  expect_recovered();
}

// ---- AddressSanitizer --------------------------------------------------------------------------------------------
#if defined(__SANITIZE_ADDRESS__)

__global__ void global_overflow_kernel(int* p, int n) { p[n + threadIdx.x] = 1; }

__global__ void shared_overflow_kernel(int* out, int index) {
  GG_SHARED(int[64], s);
  s[index + threadIdx.x] = 1;  // index is 64 at run time: past the end
  __syncthreads();
  out[threadIdx.x] = s[threadIdx.x];
}

__global__ void dynamic_shared_overflow_kernel(int* out, int n) {
  GG_DYNAMIC_SHARED(int, s);
  s[n + threadIdx.x] = 1;  // the launch asked for n ints
  __syncthreads();
  out[threadIdx.x] = s[threadIdx.x];
}

TEST(CudasimDiagnosticsDeathTest, AsanCatchesOutOfBoundsWrites) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        DeviceArray<int> p(32);
        cudasim::launch<global_overflow_kernel>(dim3(1), dim3(4), 0, nullptr, p.get(), 32);
      },
      "heap-buffer-overflow");
  EXPECT_DEATH(
      {
        DeviceArray<int> out(64);
        cudasim::launch<shared_overflow_kernel>(dim3(1), dim3(8), 0, nullptr, out.get(), 64);
      },
      // UBSan's bounds check sees the static array's extent and fires before ASan's redzone would.
      "global-buffer-overflow|out of bounds");
  EXPECT_DEATH(
      {
        DeviceArray<int> out(64);
        cudasim::launch<dynamic_shared_overflow_kernel>(dim3(1), dim3(8), 64 * sizeof(int), nullptr, out.get(), 64);
      },
      "heap-buffer-overflow");
}

#endif

}  // namespace
