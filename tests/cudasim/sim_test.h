// Helpers shared by the simulator semantics tests (tests/cudasim/*.cu): device buffers, launch-failure capture,
// scoped simulator settings. Compiled with cudasim.h force-included, like the tests.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace gramgan_simtest {

#define GG_SIM_CHECK(expr) ASSERT_EQ((expr), ::cudasim::cudaSuccess) << #expr

#define GG_EXPECT_CONTAINS(text, needle)                                                                          \
  EXPECT_NE(std::string(text).find(needle), std::string::npos) << "expected to find \"" << (needle) << "\" in:\n" \
                                                               << (text)

// Simulated device memory holding n elements of T; freed on scope exit so ASan sees no leaks.
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(std::size_t n) : n_(n) {
    if (::cudasim::cudaMalloc(&ptr_, bytes()) != ::cudasim::cudaSuccess || ptr_ == nullptr)
      throw std::runtime_error("cudaMalloc failed");
  }
  DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) { upload(host); }
  DeviceArray(std::size_t n, const T& value) : DeviceArray(std::vector<T>(n, value)) {}
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() { ::cudasim::cudaFree(ptr_); }

  T* get() const { return ptr_; }
  std::size_t size() const { return n_; }
  std::size_t bytes() const { return n_ * sizeof(T); }
  void upload(const std::vector<T>& host) {
    if (host.size() != n_) throw std::runtime_error("DeviceArray::upload: size mismatch");
    ::cudasim::cudaMemcpy(ptr_, host.data(), bytes(), ::cudasim::cudaMemcpyHostToDevice);
  }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    ::cudasim::cudaMemcpy(host.data(), ptr_, bytes(), ::cudasim::cudaMemcpyDeviceToHost);
    return host;
  }

 private:
  T* ptr_ = nullptr;
  std::size_t n_;
};

// Runs a launch expected to fail and returns the diagnostic; records a test failure when it does not throw.
inline std::string launch_failure(const std::function<void()>& launch) {
  try {
    launch();
  } catch (const ::cudasim::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "launch did not throw cudasim::Error";
  return {};
}

class ScopedThreadOrder {
 public:
  explicit ScopedThreadOrder(::cudasim::ThreadOrder order) : saved_(::cudasim::thread_order()) {
    ::cudasim::set_thread_order(order);
  }
  ~ScopedThreadOrder() { ::cudasim::set_thread_order(saved_); }
  ScopedThreadOrder(const ScopedThreadOrder&) = delete;
  ScopedThreadOrder& operator=(const ScopedThreadOrder&) = delete;

 private:
  ::cudasim::ThreadOrder saved_;
};

class ScopedWorkers {
 public:
  explicit ScopedWorkers(int workers) : saved_(::cudasim::worker_count()) { ::cudasim::set_worker_count(workers); }
  ~ScopedWorkers() { ::cudasim::set_worker_count(saved_); }
  ScopedWorkers(const ScopedWorkers&) = delete;
  ScopedWorkers& operator=(const ScopedWorkers&) = delete;

 private:
  int saved_;
};

class ScopedArchitecture {
 public:
  explicit ScopedArchitecture(int sm) : saved_(::cudasim::architecture()) { ::cudasim::set_architecture(sm); }
  ~ScopedArchitecture() { ::cudasim::set_architecture(saved_); }
  ScopedArchitecture(const ScopedArchitecture&) = delete;
  ScopedArchitecture& operator=(const ScopedArchitecture&) = delete;

 private:
  int saved_;
};

inline std::size_t volume(const ::cudasim::dim3& d) { return std::size_t(d.x) * d.y * d.z; }

}  // namespace gramgan_simtest
