// The host memory API and error reporting: cudaMalloc/Memcpy (every kind)/Memset/Free, the async and stream
// forms (synchronous here), and the last-error bookkeeping that launch checks rely on.
#include <cstdint>
#include <cstring>
#include <thread>

#include "tests/cudasim/sim_test.h"

namespace {

using namespace gramgan_simtest;

TEST(CudasimMemory, MallocMemcpyAllKindsFree) {
  constexpr int kN = 1000;
  std::vector<int> host(kN), back(kN, 0), copy(kN, 0);
  for (int i = 0; i < kN; ++i) host[i] = i * i - 17;
  int* a = nullptr;
  int* b = nullptr;
  GG_SIM_CHECK(cudaMalloc(&a, kN * sizeof(int)));
  GG_SIM_CHECK(cudaMalloc(reinterpret_cast<void**>(&b), kN * sizeof(int)));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(a, b);
  // Device memory must be aligned at least as CUDA's (256 bytes) for vectorised and texture-style access.
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a) % 256, 0u);
  GG_SIM_CHECK(cudaMemcpy(a, host.data(), kN * sizeof(int), cudaMemcpyHostToDevice));
  GG_SIM_CHECK(cudaMemcpy(b, a, kN * sizeof(int), cudaMemcpyDeviceToDevice));
  GG_SIM_CHECK(cudaMemcpy(back.data(), b, kN * sizeof(int), cudaMemcpyDeviceToHost));
  EXPECT_EQ(back, host);
  GG_SIM_CHECK(cudaMemcpy(copy.data(), host.data(), kN * sizeof(int), cudaMemcpyHostToHost));
  EXPECT_EQ(copy, host);
  std::fill(back.begin(), back.end(), 0);
  GG_SIM_CHECK(cudaMemcpy(b + 10, a, 5 * sizeof(int), cudaMemcpyDefault));
  GG_SIM_CHECK(cudaMemcpy(back.data(), b, kN * sizeof(int), cudaMemcpyDefault));
  for (int i = 0; i < kN; ++i) ASSERT_EQ(back[i], i >= 10 && i < 15 ? host[i - 10] : host[i]) << i;
  GG_SIM_CHECK(cudaMemcpy(back.data(), b, 0, cudaMemcpyDeviceToHost));  // zero bytes is a no-op
  GG_SIM_CHECK(cudaFree(a));
  GG_SIM_CHECK(cudaFree(b));
  GG_SIM_CHECK(cudaFree(nullptr));
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

TEST(CudasimMemory, Memset) {
  constexpr int kBytes = 77;
  unsigned char* p = nullptr;
  GG_SIM_CHECK(cudaMalloc(&p, kBytes));
  GG_SIM_CHECK(cudaMemset(p, 0xab, kBytes));
  // Only the low byte of the value is used, as in CUDA.
  GG_SIM_CHECK(cudaMemset(p + 20, 0x1234, 10));
  std::vector<unsigned char> h(kBytes);
  GG_SIM_CHECK(cudaMemcpy(h.data(), p, kBytes, cudaMemcpyDeviceToHost));
  for (int i = 0; i < kBytes; ++i) ASSERT_EQ(h[i], i >= 20 && i < 30 ? 0x34 : 0xab) << i;
  GG_SIM_CHECK(cudaMemset(p, 0, kBytes));
  GG_SIM_CHECK(cudaMemcpy(h.data(), p, kBytes, cudaMemcpyDeviceToHost));
  for (int i = 0; i < kBytes; ++i) ASSERT_EQ(h[i], 0) << i;
  GG_SIM_CHECK(cudaFree(p));
}

__global__ void scale_kernel(float* x, int n, float s) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= s;
}

TEST(CudasimMemory, StreamsAndAsyncCallsAreOrdered) {
  cudaStream_t stream;
  GG_SIM_CHECK(cudaStreamCreate(&stream));
  constexpr int kN = 300;
  std::vector<float> h(kN), back(kN);
  for (int i = 0; i < kN; ++i) h[i] = float(i);
  float* d = nullptr;
  GG_SIM_CHECK(cudaMalloc(&d, kN * sizeof(float)));
  GG_SIM_CHECK(cudaMemsetAsync(d, 0, kN * sizeof(float), stream));
  GG_SIM_CHECK(cudaMemcpyAsync(d, h.data(), kN * sizeof(float), cudaMemcpyHostToDevice, stream));
  cudasim::launch<scale_kernel>(dim3((kN + 127) / 128), dim3(128), 0, stream, d, kN, 2.0f);
  GG_SIM_CHECK(cudaMemcpyAsync(back.data(), d, kN * sizeof(float), cudaMemcpyDeviceToHost, stream));
  GG_SIM_CHECK(cudaStreamSynchronize(stream));
  GG_SIM_CHECK(cudaDeviceSynchronize());
  for (int i = 0; i < kN; ++i) ASSERT_EQ(back[i], 2.0f * i);
  GG_SIM_CHECK(cudaFree(d));
  GG_SIM_CHECK(cudaStreamDestroy(stream));
}

TEST(CudasimMemory, InvalidArgumentsSetTheLastError) {
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaMalloc(static_cast<void**>(nullptr), 16), cudaErrorInvalidValue);
  EXPECT_EQ(cudaPeekAtLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaPeekAtLastError(), cudaErrorInvalidValue);  // peeking does not clear
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // getting does
  int x = 0;
  EXPECT_EQ(cudaMemcpy(nullptr, &x, 4, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(&x, &x, 4, static_cast<cudaMemcpyKind>(42)), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemset(nullptr, 0, 4), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
#if !defined(__SANITIZE_ADDRESS__)
  // ASan aborts on an impossible allocation instead of returning null, so this case runs without it.
  void* huge = nullptr;
  EXPECT_EQ(cudaMalloc(&huge, std::size_t(1) << 62), cudaErrorMemoryAllocation);
  EXPECT_EQ(huge, nullptr);
  EXPECT_EQ(cudaGetLastError(), cudaErrorMemoryAllocation);
#endif
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

TEST(CudasimMemory, ErrorNamesAndStrings) {
  EXPECT_STREQ(cudaGetErrorName(cudaSuccess), "cudaSuccess");
  EXPECT_STREQ(cudaGetErrorName(cudaErrorInvalidValue), "cudaErrorInvalidValue");
  EXPECT_STREQ(cudaGetErrorName(cudaErrorMemoryAllocation), "cudaErrorMemoryAllocation");
  EXPECT_STREQ(cudaGetErrorName(cudaErrorInvalidConfiguration), "cudaErrorInvalidConfiguration");
  EXPECT_STREQ(cudaGetErrorName(cudaErrorLaunchFailure), "cudaErrorLaunchFailure");
  EXPECT_STREQ(cudaGetErrorName(cudaErrorNoDevice), "cudaErrorNoDevice");
  // The CUDA runtime's own strings for the codes that have fixed text.
  EXPECT_STREQ(cudaGetErrorString(cudaSuccess), "no error");
  EXPECT_STREQ(cudaGetErrorString(cudaErrorInvalidValue), "invalid argument");
  EXPECT_STREQ(cudaGetErrorString(cudaErrorMemoryAllocation), "out of memory");
  for (cudaError_t e : {cudaErrorInvalidConfiguration, cudaErrorLaunchFailure, cudaErrorNoDevice}) {
    ASSERT_NE(cudaGetErrorString(e), nullptr);
    EXPECT_GT(std::strlen(cudaGetErrorString(e)), 0u);
  }
}

TEST(CudasimMemory, LastErrorIsPerHostThread) {
  EXPECT_EQ(cudaMalloc(static_cast<void**>(nullptr), 16), cudaErrorInvalidValue);
  cudaError_t other = cudaErrorNoDevice;
  std::thread([&] { other = cudaGetLastError(); }).join();
  EXPECT_EQ(other, cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
}

}  // namespace
