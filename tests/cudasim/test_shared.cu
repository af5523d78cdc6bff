// Shared memory: static GG_SHARED arrays and GG_DYNAMIC_SHARED. Threads of a block communicate through it
// across __syncthreads; each block has its own; both kinds start every block as 0xff bytes (NaN for floats) so
// a read-before-write shows; static plus dynamic bytes count against the per-block ceiling, and more than 48 KiB
// needs the cudaFuncSetAttribute opt-in, up to the selected architecture's ceiling, as on a GPU.
#include <cmath>
#include <cstdint>

#include "tests/cudasim/sim_test.h"

namespace {

using namespace gramgan_simtest;

constexpr int kBlock = 128;

__global__ void static_shared_rotate_kernel(const int* in, int* out) {
  GG_SHARED(int[kBlock], tile);
  const int t = threadIdx.x;
  const int base = blockIdx.x * blockDim.x;
  tile[t] = in[base + t];
  __syncthreads();
  // Read a neighbour's slot, written by a different thread before the barrier.
  out[base + t] = tile[(t + 37) % blockDim.x];
}

TEST(CudasimShared, StaticSharedCommunicatesAcrossBarrier) {
  constexpr int kBlocks = 9;
  std::vector<int> in(kBlocks * kBlock);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = int(i * 2654435761u % 100003);
  DeviceArray<int> d_in(in);
  DeviceArray<int> d_out(in.size(), -1);
  cudasim::launch<static_shared_rotate_kernel>(dim3(kBlocks), dim3(kBlock), 0, nullptr, d_in.get(), d_out.get());
  const auto out = d_out.download();
  for (int b = 0; b < kBlocks; ++b)
    for (int t = 0; t < kBlock; ++t)
      ASSERT_EQ(out[b * kBlock + t], in[b * kBlock + (t + 37) % kBlock]) << "block " << b << " thread " << t;
}

__global__ void dynamic_shared_transpose_kernel(const float* in, float* out, int n) {
  GG_DYNAMIC_SHARED(float, tile);
  const int x = threadIdx.x, y = threadIdx.y;
  const float* src = in + std::size_t(blockIdx.x) * n * n;
  tile[y * n + x] = src[y * n + x];
  __syncthreads();
  out[std::size_t(blockIdx.x) * n * n + y * n + x] = tile[x * n + y];
}

TEST(CudasimShared, DynamicSharedTranspose) {
  constexpr int kN = 13, kBlocks = 5;
  std::vector<float> in(kBlocks * kN * kN);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = float(i) * 0.5f - 7.0f;
  DeviceArray<float> d_in(in);
  DeviceArray<float> d_out(in.size(), 0.0f);
  cudasim::launch<dynamic_shared_transpose_kernel>(dim3(kBlocks), dim3(kN, kN), kN * kN * sizeof(float), nullptr,
                                                   d_in.get(), d_out.get(), kN);
  const auto out = d_out.download();
  for (int b = 0; b < kBlocks; ++b)
    for (int y = 0; y < kN; ++y)
      for (int x = 0; x < kN; ++x)
        ASSERT_EQ(out[(b * kN + y) * kN + x], in[(b * kN + x) * kN + y]) << b << " " << y << " " << x;
}

// Thread 0 of every block reads before anyone writes: it must see the NaN fill, in every block (the fill is
// redone per block, so a block never sees what the previous block on the same OS thread left).
__global__ void dynamic_shared_fill_kernel(int* nan_float, int* nan_double, int n_floats) {
  GG_DYNAMIC_SHARED(float, f);
  double* d = reinterpret_cast<double*>(f);
  if (threadIdx.x == 0) {
    int all_nan = 1;
    for (int i = 0; i < n_floats; ++i) all_nan &= std::isnan(f[i]) ? 1 : 0;
    nan_float[blockIdx.x] = all_nan;
    all_nan = 1;
    for (int i = 0; i < n_floats / 2; ++i) all_nan &= std::isnan(d[i]) ? 1 : 0;
    nan_double[blockIdx.x] = all_nan;
  }
  __syncthreads();
  for (int i = threadIdx.x; i < n_floats; i += blockDim.x) f[i] = float(blockIdx.x);
}

TEST(CudasimShared, DynamicSharedStartsAsNaNInEveryBlock) {
  constexpr int kBlocks = 40, kFloats = 1000;
  DeviceArray<int> nan_float(kBlocks, 0), nan_double(kBlocks, 0);
  {
    // One worker: consecutive blocks reuse the same OS thread's shared buffer.
    ScopedWorkers workers(1);
    cudasim::launch<dynamic_shared_fill_kernel>(dim3(kBlocks), dim3(64), kFloats * sizeof(float), nullptr,
                                                nan_float.get(), nan_double.get(), kFloats);
  }
  const auto nf = nan_float.download(), nd = nan_double.download();
  for (int b = 0; b < kBlocks; ++b) {
    EXPECT_EQ(nf[b], 1) << "block " << b << " saw a non-NaN float before any write";
    EXPECT_EQ(nd[b], 1) << "block " << b << " saw a non-NaN double before any write";
  }
}

__global__ void dynamic_shared_alignment_kernel(std::uintptr_t* address) {
  GG_DYNAMIC_SHARED(float4, v);
  if (threadIdx.x == 0) address[blockIdx.x] = reinterpret_cast<std::uintptr_t>(v);
}

TEST(CudasimShared, DynamicSharedIsAlignedForVectorTypes) {
  DeviceArray<std::uintptr_t> address(4, 0);
  cudasim::launch<dynamic_shared_alignment_kernel>(dim3(4), dim3(32), 256, nullptr, address.get());
  for (auto a : address.download()) {
    EXPECT_NE(a, 0u);
    EXPECT_EQ(a % 16, 0u) << "dynamic shared base not 16-byte aligned";
  }
}

// Every block fills its tile with its own id, waits, and checks the whole tile: a tile shared between blocks
// running at the same time (several workers) would show another block's id.
__global__ void shared_isolation_kernel(int* mismatches) {
  GG_SHARED(int[256], tile);
  GG_DYNAMIC_SHARED(int, dyn);
  const int t = threadIdx.x;
  for (int round = 0; round < 4; ++round) {
    tile[t] = blockIdx.x * 1000 + round;
    dyn[t] = -int(blockIdx.x) * 1000 - round;
    __syncthreads();
    for (int i = 0; i < int(blockDim.x); ++i) {
      if (tile[i] != int(blockIdx.x) * 1000 + round) atomicAdd(mismatches, 1);
      if (dyn[i] != -int(blockIdx.x) * 1000 - round) atomicAdd(mismatches, 1);
    }
    __syncthreads();
  }
}

TEST(CudasimShared, BlocksDoNotSeeEachOthersShared) {
  for (int workers : {1, 4}) {
    ScopedWorkers scoped(workers);
    DeviceArray<int> mismatches(1, 0);
    cudasim::launch<shared_isolation_kernel>(dim3(64), dim3(256), 256 * sizeof(int), nullptr, mismatches.get());
    EXPECT_EQ(mismatches.download()[0], 0) << "with " << workers << " workers";
  }
}

__device__ void sum_through_dynamic_shared(int* out, int n) {
  GG_DYNAMIC_SHARED(int, s);
  for (int i = threadIdx.x; i < n; i += blockDim.x) s[i] = i;
  __syncthreads();
  int sum = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) sum += s[n - 1 - i];
  atomicAdd(out, sum);
}
__global__ void big_dynamic_shared_kernel(int* out, int n) { sum_through_dynamic_shared(out, n); }
// A distinct kernel so that the opt-in of the test below cannot leak into the without-opt-in case.
__global__ void big_dynamic_shared_no_opt_in_kernel(int* out, int n) { sum_through_dynamic_shared(out, n); }

TEST(CudasimShared, Over48KiBDynamicSharedNeedsOptIn) {
  constexpr std::size_t kBytes = 64 * 1024;
  constexpr int kInts = kBytes / sizeof(int);
  DeviceArray<int> out(1, 0);
  const std::string message = launch_failure([&] {
    cudasim::launch<big_dynamic_shared_no_opt_in_kernel>(dim3(2), dim3(128), kBytes, nullptr, out.get(), kInts);
  });
  GG_EXPECT_CONTAINS(message, "big_dynamic_shared_no_opt_in_kernel");
  GG_EXPECT_CONTAINS(message, "shared");
  EXPECT_NE(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);

  // Exactly the default limit needs no opt-in.
  out.upload({0});
  cudasim::launch<big_dynamic_shared_no_opt_in_kernel>(dim3(1), dim3(128), cudasim::kDefaultSharedBytes, nullptr,
                                                       out.get(), int(cudasim::kDefaultSharedBytes / 4));
  const long long n48 = cudasim::kDefaultSharedBytes / 4;
  EXPECT_EQ(out.download()[0], n48 * (n48 - 1) / 2);

  ASSERT_EQ(cudaFuncSetAttribute(big_dynamic_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kBytes)),
            cudaSuccess);
  out.upload({0});
  cudasim::launch<big_dynamic_shared_kernel>(dim3(2), dim3(128), kBytes, nullptr, out.get(), kInts);
  EXPECT_EQ(out.download()[0], 2LL * kInts * (kInts - 1) / 2);

  // Beyond the opt-in size (but under the hardware ceiling) still fails.
  const std::string beyond = launch_failure([&] {
    cudasim::launch<big_dynamic_shared_kernel>(dim3(1), dim3(128), kBytes + 1024, nullptr, out.get(), kInts);
  });
  GG_EXPECT_CONTAINS(beyond, "big_dynamic_shared_kernel");
  cudaGetLastError();

  // The opt-in itself is capped at the device's maximum.
  EXPECT_EQ(cudaFuncSetAttribute(big_dynamic_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 int(cudasim::max_shared_bytes_opt_in() + 1)),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaFuncSetAttribute(big_dynamic_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, -1),
            cudaErrorInvalidValue);
}

// Thread 0 reads the tile before anyone writes it, then every thread writes its block's id: a tile that started
// zeroed, or kept the previous block's values, would show in `first`.
__global__ void static_shared_first_read_kernel(unsigned* first) {
  GG_SHARED(unsigned[64], tile);
  if (threadIdx.x == 0) first[blockIdx.x] = tile[63];
  __syncthreads();
  tile[threadIdx.x] = blockIdx.x;
}

TEST(CudasimShared, StaticSharedStartsEveryBlockAsGarbage) {
  ScopedWorkers one(1);  // every block reuses the tile of the one worker
  constexpr int kBlocks = 4;
  DeviceArray<unsigned> first(kBlocks, 0u);
  for (int launch = 0; launch < 2; ++launch) {
    cudasim::launch<static_shared_first_read_kernel>(dim3(kBlocks), dim3(64), 0, nullptr, first.get());
    for (unsigned value : first.download()) EXPECT_EQ(value, 0xffffffffu) << "launch " << launch;
  }
}

constexpr std::size_t kStaticBytes = 40 * 1024;

__device__ void touch_static_and_dynamic(int* out) {
  GG_SHARED(unsigned char[kStaticBytes], tile);
  GG_DYNAMIC_SHARED(unsigned char, dyn);
  tile[threadIdx.x] = 1;
  dyn[threadIdx.x] = 2;
  __syncthreads();
  if (threadIdx.x == 0) atomicAdd(out, tile[5] + dyn[5]);
}
// One kernel per case: the simulator remembers each kernel's static bytes and opt-in.
__global__ void static_plus_dynamic_kernel(int* out) { touch_static_and_dynamic(out); }
__global__ void static_plus_opt_in_kernel(int* out) { touch_static_and_dynamic(out); }
__global__ void static_plus_dynamic_first_launch_kernel(int* out) { touch_static_and_dynamic(out); }

TEST(CudasimShared, StaticAndDynamicSharedShareTheDefaultLimit) {
  DeviceArray<int> out(1, 0);
  // 40 KiB static + 8 KiB dynamic is exactly the 48 KiB default.
  cudasim::launch<static_plus_dynamic_kernel>(dim3(2), dim3(64), 8 * 1024, nullptr, out.get());
  EXPECT_EQ(out.download()[0], 6);
  // 40 + 16 KiB is over it: the dynamic bytes alone would pass.
  const std::string message = launch_failure(
      [&] { cudasim::launch<static_plus_dynamic_kernel>(dim3(2), dim3(64), 16 * 1024, nullptr, out.get()); });
  GG_EXPECT_CONTAINS(message, "static_plus_dynamic_kernel");
  GG_EXPECT_CONTAINS(message, std::to_string(kStaticBytes) + " bytes of static shared memory plus 16384 dynamic");
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  // A kernel's first launch is checked as its threads reach the declaration.
  const std::string first = launch_failure([&] {
    cudasim::launch<static_plus_dynamic_first_launch_kernel>(dim3(2), dim3(64), 16 * 1024, nullptr, out.get());
  });
  GG_EXPECT_CONTAINS(first, "GG_SHARED at ");
  GG_EXPECT_CONTAINS(first, "exceed the limit of 49152 per block");
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
}

TEST(CudasimShared, OptInCeilingFollowsTheArchitectureAndCountsStaticShared) {
  EXPECT_THROW(cudasim::set_architecture(75), cudasim::Error);
  DeviceArray<int> out(1, 0);
  cudasim::launch<static_plus_opt_in_kernel>(dim3(1), dim3(64), 64, nullptr, out.get());  // learns the 40 KiB
  constexpr int kDynamic = 80 * 1024;
  {
    ScopedArchitecture sm86(86);  // 99 KiB: 40 + 80 does not fit
    EXPECT_EQ(cudasim::max_shared_bytes_opt_in(), 99u * 1024);
    EXPECT_EQ(cudaFuncSetAttribute(static_plus_opt_in_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kDynamic),
              cudaErrorInvalidValue);
  }
  {
    ScopedArchitecture sm80(80);  // 163 KiB
    ASSERT_EQ(cudaFuncSetAttribute(static_plus_opt_in_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kDynamic),
              cudaSuccess);
    out.upload({0});
    cudasim::launch<static_plus_opt_in_kernel>(dim3(2), dim3(64), kDynamic, nullptr, out.get());
    EXPECT_EQ(out.download()[0], 6);
  }
  ScopedArchitecture sm89(89);  // the opt-in stands, but 40 + 80 KiB exceed this architecture's 99 KiB
  const std::string message = launch_failure(
      [&] { cudasim::launch<static_plus_opt_in_kernel>(dim3(1), dim3(64), kDynamic, nullptr, out.get()); });
  GG_EXPECT_CONTAINS(message, "exceed the limit of " + std::to_string(99 * 1024) + " per block on sm_89");
  cudaGetLastError();
}

}  // namespace
