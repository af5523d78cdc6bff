// Atomics on global and shared memory, from many blocks (several OS threads) and many threads of a block.
// Integer results are exact; float/double sums use values whose every partial sum is exact in binary, so the
// result does not depend on the order the additions happen in.
#include <algorithm>
#include <map>

#include "tests/cudasim/sim_test.h"

namespace {

using namespace gramgan_simtest;

constexpr int kBlocks = 96, kThreads = 128, kTotal = kBlocks * kThreads;

__global__ void add_all_types_kernel(int* i32, unsigned* u32, unsigned long long* u64, float* f32, double* f64) {
  const int g = blockIdx.x * blockDim.x + threadIdx.x;
  atomicAdd(i32, (g % 7) - 3);
  atomicAdd(u32, unsigned(g));
  atomicAdd(u64, (1ULL << 36) + unsigned(g));
  atomicAdd(f32, 0.5f);
  atomicAdd(f64, 0.25);
}

TEST(CudasimAtomics, AddFromManyBlocksAndThreads) {
  for (int workers : {1, 4}) {
    ScopedWorkers scoped(workers);
    DeviceArray<int> i32(1, 0);
    DeviceArray<unsigned> u32(1, 0);
    DeviceArray<unsigned long long> u64(1, 0);
    DeviceArray<float> f32(1, 0.0f);
    DeviceArray<double> f64(1, 1.0);
    cudasim::launch<add_all_types_kernel>(dim3(kBlocks), dim3(kThreads), 0, nullptr, i32.get(), u32.get(), u64.get(),
                                          f32.get(), f64.get());
    long long i_expected = 0;
    unsigned long long u_expected = 0, u64_expected = 0;
    for (int g = 0; g < kTotal; ++g) {
      i_expected += g % 7 - 3;
      u_expected += unsigned(g);
      u64_expected += (1ULL << 36) + unsigned(g);
    }
    EXPECT_EQ(i32.download()[0], i_expected);
    EXPECT_EQ(u32.download()[0], unsigned(u_expected));
    EXPECT_EQ(u64.download()[0], u64_expected);
    EXPECT_EQ(f32.download()[0], 0.5f * kTotal);
    EXPECT_EQ(f64.download()[0], 1.0 + 0.25 * kTotal);
  }
}

// Every atomic's return value is the old value: the returned values of a counter's increments are exactly
// 0..n-1, each once (a lost update or a torn read would duplicate one).
__global__ void ticket_kernel(unsigned* counter, unsigned* tickets) {
  const int g = blockIdx.x * blockDim.x + threadIdx.x;
  tickets[g] = atomicAdd(counter, 1u);
}

TEST(CudasimAtomics, AddReturnsOldValue) {
  DeviceArray<unsigned> counter(1, 0), tickets(kTotal, 0);
  cudasim::launch<ticket_kernel>(dim3(kBlocks), dim3(kThreads), 0, nullptr, counter.get(), tickets.get());
  auto t = tickets.download();
  std::sort(t.begin(), t.end());
  for (int i = 0; i < kTotal; ++i) ASSERT_EQ(t[i], unsigned(i));
  EXPECT_EQ(counter.download()[0], unsigned(kTotal));
}

// Single-thread kernel: each atomic's result and returned old value, against CUDA's definitions.
__global__ void atomic_semantics_kernel(int* i, unsigned* u, unsigned long long* ull, float* f, int* old) {
  int k = 0;
  i[0] = 10;
  old[k++] = atomicSub(&i[0], 3);       // 10 -> 7
  old[k++] = atomicExch(&i[0], -4);     // 7 -> -4
  old[k++] = atomicMin(&i[0], -9);      // -4 -> -9
  old[k++] = atomicMin(&i[0], 5);       // stays -9
  old[k++] = atomicMax(&i[0], -20);     // stays -9
  old[k++] = atomicMax(&i[0], 12);      // -9 -> 12
  old[k++] = atomicCAS(&i[0], 11, 99);  // no swap
  old[k++] = atomicCAS(&i[0], 12, 99);  // swap -> 99
  old[k++] = atomicAnd(&i[0], 0x0f);    // 99 & 15 = 3
  old[k++] = atomicOr(&i[0], 0x30);     // 0x33
  old[k++] = atomicXor(&i[0], 0x11);    // 0x22
  old[k++] = i[0];
  // Unsigned min/max compare as unsigned: 0x80000000 is larger than 1.
  u[0] = 0x80000000u;
  old[k++] = int(atomicMin(&u[0], 1u) == 0x80000000u);
  old[k++] = int(u[0] == 1u);
  old[k++] = int(atomicMax(&u[0], 0xfffffff0u) == 1u);
  old[k++] = int(u[0] == 0xfffffff0u);
  // atomicInc wraps to 0 once old >= limit; atomicDec wraps to limit when old is 0 or above limit.
  u[1] = 2;
  old[k++] = int(atomicInc(&u[1], 3));  // 2 -> 3
  old[k++] = int(atomicInc(&u[1], 3));  // 3 -> 0
  old[k++] = int(u[1]);
  u[1] = 10;
  old[k++] = int(atomicInc(&u[1], 3));  // 10 >= 3 -> 0
  old[k++] = int(u[1]);
  u[1] = 0;
  old[k++] = int(atomicDec(&u[1], 5));  // 0 -> 5
  old[k++] = int(atomicDec(&u[1], 5));  // 5 -> 4
  old[k++] = int(u[1]);
  u[1] = 9;
  old[k++] = int(atomicDec(&u[1], 5));  // 9 > 5 -> 5
  old[k++] = int(u[1]);
  ull[0] = 1ULL << 40;
  old[k++] = int(atomicCAS(&ull[0], 1ULL << 40, (1ULL << 41) + 5) == (1ULL << 40));
  old[k++] = int(atomicExch(&ull[0], 7ULL) == (1ULL << 41) + 5);
  old[k++] = int(atomicMax(&ull[0], 1ULL << 63) == 7ULL);
  old[k++] = int(ull[0] == (1ULL << 63));
  f[0] = 1.5f;
  old[k++] = int(atomicExch(&f[0], -2.25f) == 1.5f);
  old[k++] = int(atomicAdd(&f[0], 0.25f) == -2.25f);
  old[k++] = int(f[0] == -2.0f);
}

TEST(CudasimAtomics, Semantics) {
  DeviceArray<int> i(1, 0), old(64, -12345);
  DeviceArray<unsigned> u(2, 0);
  DeviceArray<unsigned long long> ull(1, 0);
  DeviceArray<float> f(1, 0.0f);
  cudasim::launch<atomic_semantics_kernel>(dim3(1), dim3(1), 0, nullptr, i.get(), u.get(), ull.get(), f.get(),
                                           old.get());
  const auto o = old.download();
  const std::vector<int> expected = {10, 7, -4, -9, -9, -9, 12, 12, 99, 3, 0x33, 0x22,  // int
                                     1,  1, 1,  1,                                      // unsigned min/max
                                     2,  3, 0,  10, 0,                                  // inc
                                     0,  5, 4,  9,  5,                                  // dec
                                     1,  1, 1,  1,                                      // unsigned long long
                                     1,  1, 1};                                         // float
  for (std::size_t k = 0; k < expected.size(); ++k) EXPECT_EQ(o[k], expected[k]) << "step " << k;
  EXPECT_EQ(o[expected.size()], -12345);
}

__global__ void contended_kernel(int* min_max, unsigned* bits, unsigned* inc, unsigned* dec, int* cas_counter,
                                 int* first, int* exch, int* exch_old) {
  const int g = blockIdx.x * blockDim.x + threadIdx.x;
  const int key = int((unsigned(g) * 2654435761u) % 1000003u) - 500000;
  atomicMin(&min_max[0], key);
  atomicMax(&min_max[1], key);
  atomicOr(&bits[0], 1u << (g % 32));
  atomicAnd(&bits[1], ~(1u << (g % 29)));
  atomicXor(&bits[2], 1u << (g % 32));  // every bit flipped kTotal/32 times (an even count)
  atomicXor(&bits[3], g == 77 ? 0x5a5a5a5au : 0u);
  atomicInc(inc, 16);  // cycles through 0..16
  atomicDec(dec, 16);
  // Increment through a CAS loop, the pattern kernels use for atomics the hardware lacks.
  int seen = *reinterpret_cast<volatile int*>(cas_counter), assumed;
  do {
    assumed = seen;
    seen = atomicCAS(cas_counter, assumed, assumed + 2);
  } while (seen != assumed);
  // Exactly one thread wins the flag.
  if (atomicCAS(first, -1, g) == -1) atomicAdd(&first[1], 1);
  exch_old[g] = atomicExch(exch, g);
}

TEST(CudasimAtomics, ContendedMinMaxBitsIncDecCasExch) {
  DeviceArray<int> min_max(std::vector<int>{1 << 30, -(1 << 30)});
  DeviceArray<unsigned> bits(std::vector<unsigned>{0u, ~0u, 0u, 0u});
  DeviceArray<unsigned> inc(1, 0), dec(1, 0);
  DeviceArray<int> cas_counter(1, 0), first(std::vector<int>{-1, 0}), exch(1, -7), exch_old(kTotal, 0);
  cudasim::launch<contended_kernel>(dim3(kBlocks), dim3(kThreads), 0, nullptr, min_max.get(), bits.get(), inc.get(),
                                    dec.get(), cas_counter.get(), first.get(), exch.get(), exch_old.get());
  int lo = 1 << 30, hi = -(1 << 30);
  for (int g = 0; g < kTotal; ++g) {
    const int key = int((unsigned(g) * 2654435761u) % 1000003u) - 500000;
    lo = std::min(lo, key), hi = std::max(hi, key);
  }
  EXPECT_EQ(min_max.download(), (std::vector<int>{lo, hi}));
  const auto b = bits.download();
  EXPECT_EQ(b[0], ~0u);
  EXPECT_EQ(b[1], ~((1u << 29) - 1));
  EXPECT_EQ(b[2], 0u);
  EXPECT_EQ(b[3], 0x5a5a5a5au);
  EXPECT_EQ(inc.download()[0], unsigned(kTotal % 17));
  EXPECT_EQ(dec.download()[0], unsigned((17 - kTotal % 17) % 17));
  EXPECT_EQ(cas_counter.download()[0], 2 * kTotal);
  const auto f = first.download();
  EXPECT_GE(f[0], 0);
  EXPECT_LT(f[0], kTotal);
  EXPECT_EQ(f[1], 1);
  // The exchanged-out values plus the final value are the initial value and every thread id, each once.
  auto chain = exch_old.download();
  chain.push_back(exch.download()[0]);
  std::sort(chain.begin(), chain.end());
  ASSERT_EQ(chain[0], -7);
  for (int g = 0; g < kTotal; ++g) ASSERT_EQ(chain[g + 1], g);
}

// Block-local histogram in shared memory, merged into global memory by one atomicAdd per bin and block.
__global__ void shared_histogram_kernel(const int* values, int n, int* hist, int bins) {
  GG_SHARED(int[64], local);
  GG_SHARED(float, fsum);
  GG_SHARED(unsigned long long, usum);
  const int t = threadIdx.x;
  for (int b = t; b < bins; b += blockDim.x) local[b] = 0;
  if (t == 0) fsum = 0.0f, usum = 0;
  __syncthreads();
  for (int i = blockIdx.x * blockDim.x + t; i < n; i += gridDim.x * blockDim.x) {
    atomicAdd(&local[values[i]], 1);
    atomicAdd(&fsum, 1.0f);
    atomicAdd(&usum, 3ULL);
  }
  __syncthreads();
  for (int b = t; b < bins; b += blockDim.x) atomicAdd(&hist[b], local[b]);
  if (t == 0) {
    atomicAdd(&hist[bins], int(fsum));
    atomicAdd(&hist[bins + 1], int(usum));
  }
}

TEST(CudasimAtomics, SharedMemoryHistogram) {
  constexpr int kN = 20011, kBins = 61;
  std::vector<int> values(kN);
  std::vector<int> expected(kBins + 2, 0);
  for (int i = 0; i < kN; ++i) {
    values[i] = int((unsigned(i) * 40503u >> 3) % kBins);
    ++expected[values[i]];
  }
  expected[kBins] = kN;
  expected[kBins + 1] = 3 * kN;
  DeviceArray<int> d_values(values), hist(kBins + 2, 0);
  cudasim::launch<shared_histogram_kernel>(dim3(13), dim3(96), 0, nullptr, d_values.get(), kN, hist.get(), kBins);
  EXPECT_EQ(hist.download(), expected);
}

}  // namespace
