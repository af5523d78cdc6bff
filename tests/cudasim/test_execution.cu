// How blocks and threads are scheduled: the thread-order switch that exposes missing-barrier races, and the
// worker pool (results independent of the number of OS threads, blocks really spread over them).
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include "tests/cudasim/sim_test.h"

namespace {

using namespace gramgan_simtest;

// Thread t publishes s[t], then reads its right neighbour's slot. Without the barrier the read happens before
// the neighbour has written in forward order (it sees the NaN fill) and after it in reverse order.
template <bool kBarrier>
__global__ void neighbour_read_kernel(float* out) {
  GG_DYNAMIC_SHARED(float, s);
  const int t = threadIdx.x;
  s[t] = float(t);
  if (kBarrier) __syncthreads();
  out[blockIdx.x * blockDim.x + t] = t + 1 < int(blockDim.x) ? s[t + 1] : -1.0f;
}

template <bool kBarrier>
std::vector<float> run_neighbour_read(ThreadOrder order) {
  ScopedThreadOrder scoped(order);
  constexpr int kBlocks = 3, kN = 64;
  DeviceArray<float> out(kBlocks * kN, 0.0f);
  cudasim::launch<neighbour_read_kernel<kBarrier>>(dim3(kBlocks), dim3(kN), kN * sizeof(float), nullptr, out.get());
  return out.download();
}

// NaN never compares equal, so compare bit patterns.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(CudasimThreadOrder, MissingBarrierRaceShowsInOneOrder) {
  const auto forward = run_neighbour_read<false>(ThreadOrder::forward);
  const auto reverse = run_neighbour_read<false>(ThreadOrder::reverse);
  EXPECT_FALSE(same_bits(forward, reverse)) << "the race is invisible: both orders agree";
  constexpr int kN = 64;
  for (std::size_t i = 0; i < forward.size(); ++i) {
    const int t = int(i % kN);
    if (t + 1 == kN) continue;
    EXPECT_TRUE(std::isnan(forward[i])) << "forward, thread " << t << " saw " << forward[i];
    EXPECT_EQ(reverse[i], float(t + 1)) << "reverse, thread " << t;
  }
}

TEST(CudasimThreadOrder, WithBarrierBothOrdersAgree) {
  const auto forward = run_neighbour_read<true>(ThreadOrder::forward);
  const auto reverse = run_neighbour_read<true>(ThreadOrder::reverse);
  EXPECT_TRUE(same_bits(forward, reverse));
  constexpr int kN = 64;
  for (std::size_t i = 0; i < forward.size(); ++i)
    EXPECT_EQ(forward[i], i % kN + 1 == kN ? -1.0f : float(i % kN + 1)) << i;
}

// The order in which a block's threads start, recorded through a shared counter: forward is the linear index
// order (x fastest), reverse its mirror. Also checked after a barrier, where the runtime resumes threads.
__global__ void start_order_kernel(int* before, int* after) {
  GG_SHARED(int, counter);
  const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const int n = blockDim.x * blockDim.y * blockDim.z;
  if (t == 0) counter = 0;
  __syncthreads();
  // Nothing between the barrier and this increment can suspend: the count is the resumption order.
  before[t] = counter++;
  __syncthreads();
  after[t] = counter++ - n;
}

TEST(CudasimThreadOrder, SetThreadOrderControlsStartOrder) {
  const dim3 block(5, 3, 2);
  const int n = int(volume(block));
  for (ThreadOrder order : {ThreadOrder::forward, ThreadOrder::reverse}) {
    ScopedThreadOrder scoped(order);
    EXPECT_EQ(cudasim::thread_order(), order);
    DeviceArray<int> before(n, -1), after(n, -1);
    cudasim::launch<start_order_kernel>(dim3(1), block, 0, nullptr, before.get(), after.get());
    const auto b = before.download(), a = after.download();
    for (int t = 0; t < n; ++t) {
      const int expected = order == ThreadOrder::forward ? t : n - 1 - t;
      EXPECT_EQ(b[t], expected) << "thread " << t;
      EXPECT_EQ(a[t], expected) << "thread " << t;
    }
  }
}

TEST(CudasimThreadOrder, EnvironmentSetsTheDefault) {
  // ctest runs this binary with GRAMGAN_SIM_THREAD_ORDER=forward and =reverse; the default must follow it.
  const char* env = std::getenv("GRAMGAN_SIM_THREAD_ORDER");
  if (env == nullptr) GTEST_SKIP() << "GRAMGAN_SIM_THREAD_ORDER not set";
  EXPECT_EQ(cudasim::thread_order(), std::string(env) == "reverse" ? ThreadOrder::reverse : ThreadOrder::forward);
}

// ---- worker pool ------------------------------------------------------------------------------------------------

__global__ void many_blocks_kernel(const int* in, long long* out, int* visits) {
  GG_SHARED(int[32], s);
  const int b = blockIdx.x + gridDim.x * blockIdx.y;
  const int t = threadIdx.x;
  s[t] = in[(b * 31 + t) % 4099] * (t + 1);
  __syncthreads();
  if (t == 0) {
    long long sum = 0;
    for (int i = 0; i < 32; ++i) sum += s[i];
    out[b] = sum + b;
    atomicAdd(&visits[b], 1);
  }
}

TEST(CudasimWorkers, ManyBlocksWithOneAndSeveralWorkers) {
  constexpr int kBlocksX = 2500, kBlocksY = 4, kBlocks = kBlocksX * kBlocksY;
  std::vector<int> in(4099);
  for (int i = 0; i < 4099; ++i) in[i] = (i * 7) % 113 - 50;
  std::vector<long long> expected(kBlocks);
  for (int b = 0; b < kBlocks; ++b) {
    long long sum = 0;
    for (int t = 0; t < 32; ++t) sum += (long long)in[(b * 31 + t) % 4099] * (t + 1);
    expected[b] = sum + b;
  }
  DeviceArray<int> d_in(in);
  for (int workers : {1, 2, 5}) {
    ScopedWorkers scoped(workers);
#if !defined(__SANITIZE_ADDRESS__)
    EXPECT_EQ(cudasim::worker_count(), workers);
#else
    EXPECT_EQ(cudasim::worker_count(), 1);  // shared memory is process-static under ASan
#endif
    DeviceArray<long long> out(kBlocks, 0);
    DeviceArray<int> visits(kBlocks, 0);
    cudasim::launch<many_blocks_kernel>(dim3(kBlocksX, kBlocksY), dim3(32), 0, nullptr, d_in.get(), out.get(),
                                        visits.get());
    EXPECT_EQ(out.download(), expected) << workers << " workers";
    EXPECT_EQ(visits.download(), std::vector<int>(kBlocks, 1)) << workers << " workers";
  }
}

std::mutex g_ids_mutex;
std::set<std::thread::id> g_ids;

// Host code inside a kernel (legal only in the simulator): record which OS thread ran each block.
__global__ void record_os_thread_kernel() {
  if (threadIdx.x == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::lock_guard lock(g_ids_mutex);
    g_ids.insert(std::this_thread::get_id());
  }
}

TEST(CudasimWorkers, BlocksSpreadOverWorkers) {
  ScopedWorkers scoped(4);
  if (cudasim::worker_count() < 2) GTEST_SKIP() << "one worker (AddressSanitizer build)";
  g_ids.clear();
  cudasim::launch<record_os_thread_kernel>(dim3(64), dim3(8), 0, nullptr);
  // 64 blocks of 2 ms: the helpers have ample time to join in; one OS thread alone would mean no pool.
  EXPECT_GE(g_ids.size(), 2u);
  EXPECT_LE(g_ids.size(), 4u);
}

TEST(CudasimWorkers, InvalidWorkerCountThrows) {
  const int before = cudasim::worker_count();
  EXPECT_THROW(cudasim::set_worker_count(0), cudasim::Error);
  EXPECT_EQ(cudasim::worker_count(), before);
}

}  // namespace
