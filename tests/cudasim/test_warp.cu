// Warp-level builtins: __syncwarp, the four shuffles with widths 32/16/8 and several value types, partial masks,
// votes, and warps cut short by a block size that is not a multiple of 32. Expected values follow the PTX
// shfl.sync definition (segments of `width` lanes; a source outside the caller's segment leaves the caller's
// own value, except that xor may read an earlier segment) and are computed on the host from that rule.
#include <cstdint>
#include <limits>

#include "tests/cudasim/sim_test.h"

namespace {

using namespace gramgan_simtest;

enum ShuffleOp : int { kIdx, kUp, kDown, kXor };

__device__ int linear_thread() { return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z); }

// Lanes that exist in the calling thread's warp (the last warp of a block may be partial).
__device__ unsigned existing_lanes() {
  const int n = blockDim.x * blockDim.y * blockDim.z;
  const int base = linear_thread() / 32 * 32;
  const int lanes = n - base < 32 ? n - base : 32;
  return lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
}

// Lanes outside `mask` return at once (legal: the mask does not name them); the rest shuffle.
template <class T>
__global__ void shuffle_kernel(const T* in, T* out, int op, unsigned mask, int param, int width) {
  const int t = linear_thread();
  const int lane = t % 32;
  const unsigned m = mask & existing_lanes();
  const T v = in[blockIdx.x * (blockDim.x * blockDim.y * blockDim.z) + t];
  T r = v;
  if ((m >> lane & 1u) == 0) return;
  switch (op) {
    case kIdx: r = __shfl_sync(m, v, param, width); break;
    case kUp: r = __shfl_up_sync(m, v, unsigned(param), width); break;
    case kDown: r = __shfl_down_sync(m, v, unsigned(param), width); break;
    case kXor: r = __shfl_xor_sync(m, v, param, width); break;
  }
  out[blockIdx.x * (blockDim.x * blockDim.y * blockDim.z) + t] = r;
}

// Source lane of `lane` under the PTX rule, or `lane` itself when the caller keeps its own value.
int source_lane(int op, int lane, int param, int width) {
  const int seg = lane / width * width;
  switch (op) {
    case kIdx: return seg + param % width;
    case kUp: return lane - seg >= param ? lane - param : lane;
    case kDown: return lane - seg + param < width ? lane + param : lane;
    case kXor: {
      const int src = lane ^ param;
      return src >= seg + width ? lane : src;
    }
  }
  return lane;
}

template <class T>
T value_for(int i);
template <>
int value_for<int>(int i) {
  return -1000 * i - 7;
}
template <>
unsigned value_for<unsigned>(int i) {
  return 0x80000000u + 3u * unsigned(i);
}
template <>
float value_for<float>(int i) {
  return float(i) + 0.25f;
}
template <>
double value_for<double>(int i) {
  return 1e10 + i * 1.5;
}  // needs the upper 32 bits to travel
template <>
long long value_for<long long>(int i) {
  return (1LL << 40) + static_cast<long long>(i) * (1LL << 33) - i;
}

// One launch of shuffle_kernel<T>; checks every thread against the host rule. Threads outside the mask
// must keep the sentinel the output was filled with.
template <class T>
void check_shuffle(int op, unsigned mask, int param, int width, dim3 block, int blocks = 2) {
  const int n = int(volume(block));
  std::vector<T> in(blocks * n);
  for (int i = 0; i < blocks * n; ++i) in[i] = value_for<T>(i);
  const T sentinel = value_for<T>(-12345);
  DeviceArray<T> d_in(in), d_out(blocks * n, sentinel);
  cudasim::launch<shuffle_kernel<T>>(dim3(blocks), block, 0, nullptr, d_in.get(), d_out.get(), op, mask, param, width);
  const auto out = d_out.download();
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < n; ++t) {
      const int lane = t % 32, base = t - lane;
      const int lanes = std::min(32, n - base);
      const unsigned m = mask & (lanes == 32 ? 0xffffffffu : (1u << lanes) - 1);
      const T expected = (m >> lane & 1u) ? in[b * n + base + source_lane(op, lane, param, width)] : sentinel;
      ASSERT_EQ(out[b * n + t], expected) << "op " << op << " mask " << std::hex << mask << std::dec << " param "
                                          << param << " width " << width << " block " << b << " thread " << t;
    }
}

template <class T>
void check_full_mask_shuffles(int width) {
  const dim3 block(64);
  for (int src : {0, 3, width - 1, width + 5, 37}) check_shuffle<T>(kIdx, ~0u, src, width, block);
  for (int delta : {1, 3, width - 1, width}) check_shuffle<T>(kUp, ~0u, delta, width, block);
  for (int delta : {1, 5, width - 1, width}) check_shuffle<T>(kDown, ~0u, delta, width, block);
  for (int lane_mask : {1, 2, 4, 8, 16, 31}) check_shuffle<T>(kXor, ~0u, lane_mask, width, block);
}

template <class T>
class CudasimShuffleTyped : public ::testing::Test {};
using ShuffleTypes = ::testing::Types<int, unsigned, float, double, long long>;
TYPED_TEST_SUITE(CudasimShuffleTyped, ShuffleTypes);

TYPED_TEST(CudasimShuffleTyped, Width32) { check_full_mask_shuffles<TypeParam>(32); }
TYPED_TEST(CudasimShuffleTyped, Width16) { check_full_mask_shuffles<TypeParam>(16); }
TYPED_TEST(CudasimShuffleTyped, Width8) { check_full_mask_shuffles<TypeParam>(8); }

TEST(CudasimShuffle, RuleSanity) {
  // The host rule itself, on the cases the CUDA programming guide spells out.
  EXPECT_EQ(source_lane(kIdx, 20, 40, 32), 8);   // srcLane wraps modulo width
  EXPECT_EQ(source_lane(kIdx, 20, 3, 16), 19);   // ... within the caller's segment
  EXPECT_EQ(source_lane(kUp, 17, 2, 16), 17);    // below the segment start: own value
  EXPECT_EQ(source_lane(kDown, 14, 2, 16), 14);  // past the segment end: own value
  EXPECT_EQ(source_lane(kXor, 9, 8, 8), 1);      // xor may read an earlier segment
  EXPECT_EQ(source_lane(kXor, 1, 8, 8), 1);      // but not a later one
}

TEST(CudasimShuffle, PartialMaskLowerHalf) {
  const unsigned lower = 0x0000ffffu;
  const dim3 block(64);
  for (int src : {0, 5, 15}) check_shuffle<int>(kIdx, lower, src, 32, block);
  for (int src : {0, 7, 21}) check_shuffle<float>(kIdx, lower, src, 16, block);  // 21 wraps to 5
  for (int delta : {1, 4, 15}) check_shuffle<int>(kUp, lower, delta, 32, block);
  for (int delta : {1, 4, 15}) check_shuffle<double>(kDown, lower, delta, 16, block);
  for (int lane_mask : {1, 2, 4, 8}) check_shuffle<long long>(kXor, lower, lane_mask, 32, block);
  for (int delta : {1, 2}) check_shuffle<unsigned>(kDown, lower, delta, 8, block);
}

TEST(CudasimShuffle, PartialMaskOddLanes) {
  const unsigned odd = 0xaaaaaaaau;
  const dim3 block(96);
  check_shuffle<int>(kIdx, odd, 1, 32, block);
  check_shuffle<int>(kIdx, odd, 31, 32, block);
  for (int lane_mask : {2, 4, 8, 16, 30}) check_shuffle<int>(kXor, odd, lane_mask, 32, block);
  for (int delta : {2, 4}) check_shuffle<float>(kUp, odd, delta, 32, block);
  for (int delta : {2, 6}) check_shuffle<double>(kDown, odd, delta, 8, block);
}

TEST(CudasimShuffle, MultiDimensionalBlockWarpsAreLinear) {
  // Warps are formed from the linear thread index (x fastest), whatever the block's shape.
  for (dim3 block : {dim3(8, 8), dim3(4, 4, 4), dim3(16, 2, 3), dim3(2, 4, 12)}) {
    check_shuffle<int>(kIdx, ~0u, 0, 32, block, 1);
    check_shuffle<int>(kXor, ~0u, 17, 32, block, 1);
    check_shuffle<int>(kDown, ~0u, 3, 32, block, 1);
  }
  check_shuffle<int>(kIdx, ~0u, 0, 32, dim3(5, 7, 3), 1);  // 105 threads: a 9-lane last warp
}

TEST(CudasimShuffle, PartialLastWarp) {
  // 40 threads: the second warp has lanes 0..7 only; the kernel masks to the lanes that exist.
  const dim3 block(40);
  for (int src : {0, 7, 39}) check_shuffle<int>(kIdx, ~0u, src, 8, block);
  for (int lane_mask : {1, 2, 4}) check_shuffle<double>(kXor, ~0u, lane_mask, 32, block);
  for (int delta : {1, 7}) check_shuffle<float>(kUp, ~0u, delta, 32, block);
  for (int delta : {1, 3}) check_shuffle<long long>(kDown, ~0u, delta, 8, block);
  check_shuffle<unsigned>(kIdx, ~0u, 0, 32, dim3(1));  // a one-thread block: a one-lane warp
}

// ---- votes ------------------------------------------------------------------------------------------------------

__global__ void vote_kernel(const int* pred, unsigned mask, unsigned* ballot, int* any, int* all) {
  const int t = linear_thread();
  const int lane = t % 32;
  const unsigned m = mask & existing_lanes();
  const int i = blockIdx.x * blockDim.x + t;
  if ((m >> lane & 1u) == 0) return;
  ballot[i] = __ballot_sync(m, pred[i]);
  any[i] = __any_sync(m, pred[i]);
  all[i] = __all_sync(m, pred[i]);
}

void check_votes(const std::vector<int>& pred, unsigned mask, int block) {
  const int blocks = int(pred.size()) / block;
  DeviceArray<int> d_pred(pred), any(pred.size(), -7), all(pred.size(), -7);
  DeviceArray<unsigned> ballot(pred.size(), 0xdeadbeefu);
  cudasim::launch<vote_kernel>(dim3(blocks), dim3(block), 0, nullptr, d_pred.get(), mask, ballot.get(), any.get(),
                               all.get());
  const auto b = ballot.download();
  const auto an = any.download(), al = all.download();
  for (int blk = 0; blk < blocks; ++blk)
    for (int t = 0; t < block; ++t) {
      const int lane = t % 32, base = t - lane, lanes = std::min(32, block - base);
      const unsigned m = mask & (lanes == 32 ? 0xffffffffu : (1u << lanes) - 1);
      const int i = blk * block + t;
      if ((m >> lane & 1u) == 0) {
        ASSERT_EQ(b[i], 0xdeadbeefu);
        continue;
      }
      unsigned expected = 0;
      for (int l = 0; l < lanes; ++l)
        if ((m >> l & 1u) && pred[blk * block + base + l] != 0) expected |= 1u << l;
      ASSERT_EQ(b[i], expected) << "block " << blk << " thread " << t;
      ASSERT_EQ(an[i] != 0, expected != 0) << "block " << blk << " thread " << t;
      ASSERT_EQ(al[i] != 0, expected == m) << "block " << blk << " thread " << t;
    }
}

TEST(CudasimVotes, BallotAnyAll) {
  constexpr int kBlock = 128;
  std::vector<int> pred(2 * kBlock, 0);
  // Warp 0: every third lane; warp 1: all (values other than 1); warp 2: none; warp 3: lane 31 only;
  // block 1: lanes where the low bit of a hash is set.
  for (int t = 0; t < kBlock; ++t) {
    const int warp = t / 32, lane = t % 32;
    pred[t] = warp == 0 ? lane % 3 == 0 : warp == 1 ? -lane - 1 : warp == 2 ? 0 : lane == 31 ? 42 : 0;
    pred[kBlock + t] = int((unsigned(t) * 2654435761u >> 7) & 1u);
  }
  check_votes(pred, ~0u, kBlock);
  check_votes(pred, 0x0000ffffu, kBlock);
  check_votes(pred, 0xaaaaaaaau, kBlock);
  check_votes(pred, 0x80000001u, kBlock);
}

TEST(CudasimVotes, PartialLastWarp) {
  constexpr int kBlock = 45;  // last warp: 13 lanes
  std::vector<int> pred(3 * kBlock);
  for (std::size_t i = 0; i < pred.size(); ++i) pred[i] = int(i % 5 != 1);
  check_votes(pred, ~0u, kBlock);
  std::vector<int> all_true(3 * kBlock, 1);
  check_votes(all_true, ~0u, kBlock);
}

// ---- reductions and __syncwarp ---------------------------------------------------------------------------------

// Butterfly sum: after log2(lanes) xor steps every lane holds the total of its warp (or 8-lane tail).
__global__ void warp_sum_kernel(const int* in, int* out) {
  const int t = threadIdx.x;
  const unsigned m = existing_lanes();
  int v = in[blockIdx.x * blockDim.x + t];
  const int lanes = __popc(m);
  for (int offset = lanes / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(m, v, offset);
  out[blockIdx.x * blockDim.x + t] = v;
}

TEST(CudasimWarpReduce, XorButterflySum) {
  for (int block : {256, 40, 8}) {  // 40 = one full warp and an 8-lane tail (a power of two, as the loop needs)
    constexpr int kBlocks = 3;
    std::vector<int> in(kBlocks * block);
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = int(i * 37 % 101) - 50;
    DeviceArray<int> d_in(in), d_out(in.size(), 0);
    cudasim::launch<warp_sum_kernel>(dim3(kBlocks), dim3(block), 0, nullptr, d_in.get(), d_out.get());
    const auto out = d_out.download();
    for (int b = 0; b < kBlocks; ++b)
      for (int t = 0; t < block; ++t) {
        const int base = t / 32 * 32, lanes = std::min(32, block - base);
        int sum = 0;
        for (int l = 0; l < lanes; ++l) sum += in[b * block + base + l];
        ASSERT_EQ(out[b * block + t], sum) << "block size " << block << " block " << b << " thread " << t;
      }
  }
}

__global__ void warp_float_sum_kernel(const float* in, float* out) {
  float v = in[threadIdx.x];
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  if (threadIdx.x % 32 == 0) out[threadIdx.x / 32] = v;
}

TEST(CudasimWarpReduce, FloatShuffleDownSumMatchesTreeOrder) {
  // Reference: the same pairwise tree as shfl_down with offsets 16..1, evaluated in float on the host, so the
  // comparison is exact.
  std::vector<float> in(64);
  for (int i = 0; i < 64; ++i) in[i] = 1.0f / float(i + 3);
  std::vector<float> expected(2);
  for (int w = 0; w < 2; ++w) {
    std::vector<float> v(in.begin() + 32 * w, in.begin() + 32 * (w + 1));
    for (int offset = 16; offset > 0; offset /= 2) {
      std::vector<float> next = v;
      for (int l = 0; l < 32; ++l)
        if (l + offset < 32)
          next[l] = v[l] + v[l + offset];
        else
          next[l] = v[l] + v[l];  // own value returned past the end
      v = next;
    }
    expected[w] = v[0];
  }
  DeviceArray<float> d_in(in), d_out(2, 0.0f);
  cudasim::launch<warp_float_sum_kernel>(dim3(1), dim3(64), 0, nullptr, d_in.get(), d_out.get());
  EXPECT_EQ(d_out.download(), expected);
}

// Lanes exchange through shared memory with only __syncwarp between the write and the read; each lane reads
// a slot written by a lane that runs after it in forward order and before it in reverse order.
__global__ void syncwarp_exchange_kernel(int* out, int rounds) {
  GG_SHARED(int[128], s);
  const int t = threadIdx.x, lane = t % 32, base = t - lane;
  int v = t * 3 + 1;
  for (int r = 0; r < rounds; ++r) {
    s[t] = v;
    __syncwarp();
    v = s[base + (lane + 1 + r) % 32] + 1;
    __syncwarp();
  }
  out[blockIdx.x * blockDim.x + t] = v;
}

TEST(CudasimSyncwarp, SharedMemoryExchange) {
  constexpr int kBlock = 128, kRounds = 6;
  DeviceArray<int> out(2 * kBlock, 0);
  cudasim::launch<syncwarp_exchange_kernel>(dim3(2), dim3(kBlock), 0, nullptr, out.get(), kRounds);
  std::vector<int> v(kBlock);
  for (int t = 0; t < kBlock; ++t) v[t] = t * 3 + 1;
  for (int r = 0; r < kRounds; ++r) {
    std::vector<int> next(kBlock);
    for (int t = 0; t < kBlock; ++t) next[t] = v[t - t % 32 + (t % 32 + 1 + r) % 32] + 1;
    v = next;
  }
  const auto h = out.download();
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < kBlock; ++t) ASSERT_EQ(h[b * kBlock + t], v[t]) << "block " << b << " thread " << t;
}

// Two independent half-warps, each synchronising only its own 16 lanes.
__global__ void syncwarp_halves_kernel(int* out) {
  GG_SHARED(int[32], s);
  const int lane = threadIdx.x;
  const unsigned half = lane < 16 ? 0x0000ffffu : 0xffff0000u;
  s[lane] = lane * lane;
  __syncwarp(half);
  const int base = lane & 16;
  out[lane] = s[base + (15 - (lane - base))];
}

TEST(CudasimSyncwarp, PartialMasks) {
  DeviceArray<int> out(32, -1);
  cudasim::launch<syncwarp_halves_kernel>(dim3(1), dim3(32), 0, nullptr, out.get());
  const auto h = out.download();
  for (int lane = 0; lane < 32; ++lane) {
    const int base = lane & 16, src = base + 15 - (lane - base);
    EXPECT_EQ(h[lane], src * src) << "lane " << lane;
  }
}

}  // namespace
