// __syncthreads and its reducing forms. The patterns are chosen so that a barrier that does not really wait
// for every thread gives a wrong answer in at least one thread order (ctest runs both).
#include <array>
#include <numeric>

#include "tests/cudasim/sim_test.h"

namespace {

using namespace gramgan_simtest;

// Thread t reads the slot of thread blockDim-1-t: in forward order that thread has not run yet when t
// arrives, in reverse order it ran long before, so only a working barrier makes both orders agree.
__global__ void reverse_dependency_kernel(int* out) {
  GG_SHARED(int[1024], s);
  const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const int n = blockDim.x * blockDim.y * blockDim.z;
  s[t] = t * 7 + int(blockIdx.x) * 100000 + 1;
  __syncthreads();
  out[blockIdx.x * n + t] = s[n - 1 - t];
}

TEST(CudasimBarriers, ReverseDependency) {
  for (dim3 block : {dim3(64), dim3(1024), dim3(7, 5, 3), dim3(33)}) {
    const int n = int(volume(block));
    constexpr int kBlocks = 6;
    DeviceArray<int> out(kBlocks * n, -1);
    cudasim::launch<reverse_dependency_kernel>(dim3(kBlocks), block, 0, nullptr, out.get());
    const auto h = out.download();
    for (int b = 0; b < kBlocks; ++b)
      for (int t = 0; t < n; ++t)
        ASSERT_EQ(h[b * n + t], (n - 1 - t) * 7 + b * 100000 + 1) << "block size " << n << " block " << b << " t " << t;
  }
}

// A 1-D stencil iterated in shared memory, two barriers per step (read phase / write phase), for many steps.
__global__ void iterated_stencil_kernel(const int* in, int* out, int steps) {
  GG_SHARED(int[256], s);
  const int t = threadIdx.x, n = blockDim.x;
  s[t] = in[blockIdx.x * n + t];
  __syncthreads();
  for (int step = 0; step < steps; ++step) {
    const int left = s[(t + n - 1) % n], right = s[(t + 1) % n];
    __syncthreads();
    s[t] = (left * 3 + s[t] + right * 5 + step) % 1000003;
    __syncthreads();
  }
  out[blockIdx.x * n + t] = s[t];
}

TEST(CudasimBarriers, ManyBarriersInALoop) {
  constexpr int kN = 96, kBlocks = 3, kSteps = 25;
  std::vector<int> in(kBlocks * kN);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = int((i * 7919) % 1009);
  DeviceArray<int> d_in(in), d_out(in.size(), 0);
  cudasim::launch<iterated_stencil_kernel>(dim3(kBlocks), dim3(kN), 0, nullptr, d_in.get(), d_out.get(), kSteps);
  std::vector<int> expected = in;
  for (int b = 0; b < kBlocks; ++b) {
    std::array<long long, kN> s, next;
    for (int t = 0; t < kN; ++t) s[t] = in[b * kN + t];
    for (int step = 0; step < kSteps; ++step) {
      for (int t = 0; t < kN; ++t) next[t] = (s[(t + kN - 1) % kN] * 3 + s[t] + s[(t + 1) % kN] * 5 + step) % 1000003;
      s = next;
    }
    for (int t = 0; t < kN; ++t) expected[b * kN + t] = int(s[t]);
  }
  EXPECT_EQ(d_out.download(), expected);
}

// Shared-memory tree reduction: log2(n) barriers, each halving the active threads (the inactive ones still
// reach every barrier).
__global__ void tree_sum_kernel(const int* in, int* out) {
  GG_SHARED(int[512], s);
  const int t = threadIdx.x;
  s[t] = in[blockIdx.x * blockDim.x + t];
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (t < stride) s[t] += s[t + stride];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = s[0];
}

TEST(CudasimBarriers, TreeReduction) {
  constexpr int kN = 512, kBlocks = 7;
  std::vector<int> in(kN * kBlocks);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = int(i % 97) - 40;
  DeviceArray<int> d_in(in), d_out(kBlocks, 0);
  cudasim::launch<tree_sum_kernel>(dim3(kBlocks), dim3(kN), 0, nullptr, d_in.get(), d_out.get());
  const auto out = d_out.download();
  for (int b = 0; b < kBlocks; ++b)
    EXPECT_EQ(out[b], std::accumulate(in.begin() + b * kN, in.begin() + (b + 1) * kN, 0)) << "block " << b;
}

__global__ void syncthreads_reductions_kernel(const int* pred, int* count, int* all, int* any) {
  const int t = threadIdx.x, n = blockDim.x;
  const int p = pred[blockIdx.x * n + t];
  // Several rounds in a row: each barrier's result must be its own, not the previous round's.
  const int c = __syncthreads_count(p);
  const int a = __syncthreads_and(p);
  const int o = __syncthreads_or(p);
  const int c_not = __syncthreads_count(!p);
  count[blockIdx.x * n + t] = c;
  all[blockIdx.x * n + t] = a;
  any[blockIdx.x * n + t] = o;
  if (c_not != n - c) count[blockIdx.x * n + t] = -1000;
}

TEST(CudasimBarriers, SyncthreadsCountAndOr) {
  constexpr int kN = 100;
  // Block 0: mixed; block 1: all true (nonzero values other than 1); block 2: all false; block 3: one true.
  constexpr int kBlocks = 4;
  std::vector<int> pred(kBlocks * kN, 0);
  for (int t = 0; t < kN; ++t) {
    pred[0 * kN + t] = (t % 3 == 0) ? 1 : 0;
    pred[1 * kN + t] = t - 1000;
    pred[2 * kN + t] = 0;
    pred[3 * kN + t] = (t == 57) ? -5 : 0;
  }
  DeviceArray<int> d_pred(pred), count(kBlocks * kN, -1), all(kBlocks * kN, -1), any(kBlocks * kN, -1);
  cudasim::launch<syncthreads_reductions_kernel>(dim3(kBlocks), dim3(kN), 0, nullptr, d_pred.get(), count.get(),
                                                 all.get(), any.get());
  const auto c = count.download(), a = all.download(), o = any.download();
  const int expected_count[kBlocks] = {34, kN, 0, 1};
  const int expected_all[kBlocks] = {0, 1, 0, 0};
  const int expected_any[kBlocks] = {1, 1, 0, 1};
  for (int b = 0; b < kBlocks; ++b)
    for (int t = 0; t < kN; ++t) {
      ASSERT_EQ(c[b * kN + t], expected_count[b]) << "block " << b << " thread " << t;
      // CUDA only promises nonzero for true; compare truth values.
      ASSERT_EQ(a[b * kN + t] != 0, expected_all[b] != 0) << "block " << b << " thread " << t;
      ASSERT_EQ(o[b * kN + t] != 0, expected_any[b] != 0) << "block " << b << " thread " << t;
    }
}

// Threads that finished their work early still reach the same barrier; a barrier inside a uniform branch and
// a loop with a block-uniform trip count are legal.
__global__ void uniform_control_flow_kernel(const int* trips, int* out) {
  GG_SHARED(int[128], s);
  const int t = threadIdx.x;
  int acc = 0;
  for (int i = 0; i < trips[blockIdx.x]; ++i) {
    s[t] = t + i;
    __syncthreads();
    acc += s[(t + i) % blockDim.x];
    __syncthreads();
  }
  if (trips[blockIdx.x] % 2 == 0) {
    s[t] = acc;
    __syncthreads();
    acc = s[blockDim.x - 1 - t];
  }
  out[blockIdx.x * blockDim.x + t] = acc;
}

TEST(CudasimBarriers, BlockUniformLoopsAndBranches) {
  constexpr int kN = 128;
  const std::vector<int> trips = {0, 1, 2, 5, 6};
  const int blocks = int(trips.size());
  DeviceArray<int> d_trips(trips), out(blocks * kN, -1);
  cudasim::launch<uniform_control_flow_kernel>(dim3(blocks), dim3(kN), 0, nullptr, d_trips.get(), out.get());
  const auto h = out.download();
  for (int b = 0; b < blocks; ++b) {
    std::vector<int> acc(kN, 0);
    for (int i = 0; i < trips[b]; ++i)
      for (int t = 0; t < kN; ++t) acc[t] += (t + i) % kN + i;
    for (int t = 0; t < kN; ++t) {
      const int expected = trips[b] % 2 == 0 ? acc[kN - 1 - t] : acc[t];
      ASSERT_EQ(h[b * kN + t], expected) << "block " << b << " thread " << t;
    }
  }
}

}  // namespace
