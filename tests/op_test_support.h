// Shared pieces of the op tests (test_conv2d, test_sample_kernels, test_norm, test_elementwise, test_pool, test_gram,
// test_losses, test_reduce_adam): device buffers on either backend, seeded inputs, tolerance checks, central
// differences and byte comparison. Oracles stay in the test files themselves.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cudasim/runtime.h"
#include "kernels/check.h"
#include "kernels/launchers.h"

#if GRAMGAN_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace gramgan::test {

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

// The architecture of device 0 if the simulator's tensor-core model covers it (cudasim/mma_model.h), else 0.
inline int modelled_device_architecture() {
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return 0;
  const int sm = prop.major * 10 + prop.minor;
  return sm == 80 || sm == 86 || sm == 89 || sm == 90 ? sm : 0;
}
#endif

// `count` elements of device memory (at least one allocated), `offset` elements into the allocation so tests can
// hand kernels pointers that are not 16-byte aligned.
template <class T, class Memory = SimMemory>
class Buffer {
 public:
  explicit Buffer(std::size_t count, std::size_t offset = 0)
      : count_(count),
        base_(static_cast<T*>(Memory::allocate(sizeof(T) * std::max<std::size_t>(count + offset, 1)))),
        data_(base_ + offset) {}
  explicit Buffer(const std::vector<T>& host, std::size_t offset = 0) : Buffer(host.size(), offset) { set(host); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { Memory::release(base_); }

  T* get() const { return data_; }
  void set(const std::vector<T>& host) { Memory::upload(data_, host.data(), sizeof(T) * count_); }
  std::vector<T> to_host() const {
    std::vector<T> out(count_);
    Memory::download(out.data(), data_, sizeof(T) * count_);
    return out;
  }
  T scalar() const { return to_host().at(0); }

 private:
  std::size_t count_;
  T* base_;
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

// Every |got - ref| <= atol + rtol |ref|; reports the first few misses by index.
template <class T>
void expect_close(const std::vector<T>& got, const std::vector<double>& ref, double atol, double rtol,
                  const std::string& what = "values") {
  ASSERT_EQ(got.size(), ref.size()) << what;
  int failures = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double tolerance = atol + rtol * std::abs(ref[i]);
    const double g = double(got[i]);
    const bool ok = std::isnan(ref[i]) ? std::isnan(g) : std::abs(g - ref[i]) <= tolerance;
    if (!ok && ++failures <= 5)
      ADD_FAILURE() << what << "[" << i << "] = " << g << ", reference " << ref[i] << ", tolerance " << tolerance;
  }
  EXPECT_EQ(failures, 0) << what;
}

inline void expect_close(double got, double ref, double atol, double rtol) {
  EXPECT_LE(std::abs(got - ref), atol + rtol * std::abs(ref)) << "got " << got << ", reference " << ref;
}

// Central differences (f(x + h e_i) - f(x - h e_i)) / 2h of a scalar function of x, in double.
template <class F>
std::vector<double> numeric_gradient(F f, const std::vector<double>& x, double h = 1e-6) {
  std::vector<double> g(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    auto plus = x, minus = x;
    plus[i] += h;
    minus[i] -= h;
    g[i] = (f(plus) - f(minus)) / (2 * h);
  }
  return g;
}

template <class T>
bool same_bytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(T) * a.size()) == 0;
}

}  // namespace gramgan::test
