// Shared helpers for the op tests (test_gram.cpp, test_losses.cpp, test_reduce_adam.cpp): device buffers on the
// cpu backend (simulator memory) and, in a CUDA build, on the GPU; random inputs; tolerance and byte checks.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "engine/cudasim/runtime.h"
#include "kernels/check.h"
#include "kernels/launchers.h"

#if GRAMGAN_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace gramgan::op_tests {

struct SimMemory {
  static void* allocate(std::size_t bytes) {
    void* p = nullptr;
    GG_CUDA_CHECK(cudasim::cudaMalloc(&p, bytes));
    return p;
  }
  static void release(void* p) { cudasim::cudaFree(p); }
  static void upload(void* dst, const void* src, std::size_t bytes) {
    GG_CUDA_CHECK(cudasim::cudaMemcpy(dst, src, bytes, cudasim::cudaMemcpyHostToDevice));
  }
  static void download(void* dst, const void* src, std::size_t bytes) {
    GG_CUDA_CHECK(cudasim::cudaMemcpy(dst, src, bytes, cudasim::cudaMemcpyDeviceToHost));
  }
};

#if GRAMGAN_HAVE_CUDA
struct CudaMemory {
  static void* allocate(std::size_t bytes) {
    void* p = nullptr;
    GG_CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
  }
  static void release(void* p) { cudaFree(p); }
  static void upload(void* dst, const void* src, std::size_t bytes) {
    GG_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
  }
  static void download(void* dst, const void* src, std::size_t bytes) {
    GG_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
  }
};

inline bool cuda_device_present() {
  static const bool present = [] {
    int devices = 0;
    const bool ok = cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0;
    cudaGetLastError();  // a failed query must not look like a later launch's error
    return ok;
  }();
  return present;
}
#endif

// `count` elements of T in a backend's device memory (at least one element is allocated).
template <class T, class Memory = SimMemory>
class Buffer {
 public:
  explicit Buffer(std::size_t count)
      : count_(count), data_(static_cast<T*>(Memory::allocate(sizeof(T) * (count > 0 ? count : 1)))) {}
  explicit Buffer(const std::vector<T>& host) : Buffer(host.size()) {
    Memory::upload(data_, host.data(), sizeof(T) * count_);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { Memory::release(data_); }

  T* get() const { return data_; }
  std::vector<T> to_host() const {
    std::vector<T> host(count_);
    Memory::download(host.data(), data_, sizeof(T) * count_);
    return host;
  }
  T scalar() const { return to_host().at(0); }

 private:
  std::size_t count_;
  T* data_;
};

template <class T>
std::vector<T> random_vector(std::size_t count, std::uint32_t seed, double low = -1.0, double high = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(low, high);
  std::vector<T> v(count);
  for (auto& x : v) x = T(dist(rng));
  return v;
}

template <class T>
std::vector<double> to_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// Every |actual - expected| <= atol + rtol |expected|; reports the first few misses with their index.
template <class T>
void expect_close(const std::vector<T>& actual, const std::vector<double>& expected, double atol, double rtol) {
  ASSERT_EQ(actual.size(), expected.size());
  int misses = 0;
  for (std::size_t i = 0; i < actual.size() && misses < 5; ++i) {
    const double tolerance = atol + rtol * std::abs(expected[i]);
    if (!(std::abs(double(actual[i]) - expected[i]) <= tolerance)) {
      ADD_FAILURE() << "element " << i << ": got " << double(actual[i]) << ", expected " << expected[i]
                    << " (tolerance " << tolerance << ")";
      ++misses;
    }
  }
}

inline void expect_close(double actual, double expected, double atol, double rtol) {
  EXPECT_LE(std::abs(actual - expected), atol + rtol * std::abs(expected))
      << "got " << actual << ", expected " << expected;
}

template <class T>
bool same_bytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(T) * a.size()) == 0;
}

}  // namespace gramgan::op_tests
