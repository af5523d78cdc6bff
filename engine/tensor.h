// Tensor: a dense, contiguous, device-resident array of up to 4 dimensions (N, C, H, W; fewer allowed) of
// float32 or float64, with reference-counted storage. Copies of a Tensor share storage; clone() and to() copy
// data. A default-constructed Tensor is undefined: every operation on it throws gramgan::Error.
//
// Kernels on a tensor's data are queued on its device's one stream (engine/stream.h); reading values back
// (to_host) waits for them.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/device.h"

namespace gramgan {

class Allocator;
namespace detail {
struct PlanState;
}

enum class DType { float32, float64 };

std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // "float32", "float64"

template <class T>
constexpr DType dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "tensors hold float or double");
  return std::is_same_v<T, float> ? DType::float32 : DType::float64;
}

class Shape {
 public:
  static constexpr int kMaxDims = 4;

  Shape() = default;  // 0-d: a single element
  // Throws gramgan::Error for more than kMaxDims dimensions. Sizes are checked where a tensor is made.
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(std::span<const std::int64_t> dims);

  int ndim() const { return ndim_; }
  std::int64_t operator[](int i) const { return dims_[i]; }
  const std::int64_t* begin() const { return dims_.data(); }
  const std::int64_t* end() const { return dims_.data() + ndim_; }
  std::int64_t numel() const;
  std::string to_string() const;  // "(2, 3, 4)"

  friend bool operator==(const Shape& a, const Shape& b) {
    return a.ndim_ == b.ndim_ && std::equal(a.begin(), a.end(), b.begin());
  }

 private:
  std::array<std::int64_t, kMaxDims> dims_{};
  int ndim_ = 0;
};

// Device memory that returns itself to its device's allocator when the last tensor using it goes.
class Storage {
 public:
  Storage(const Device& device, std::size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }  // nullptr for 0 bytes; a fake address when planned()
  std::size_t nbytes() const { return nbytes_; }
  const Device& device() const { return device_; }
  // Made under a MemoryPlan (engine/memory.h): no memory behind data().
  bool planned() const { return plan_ != nullptr; }
  const std::shared_ptr<detail::PlanState>& plan() const { return plan_; }

 private:
  Device device_;
  std::shared_ptr<detail::PlanState> plan_;
  Allocator* allocator_;
  std::size_t nbytes_;
  void* data_;
};

class Tensor {
 public:
  Tensor() = default;

  // Uninitialised contents (NaN bytes are not promised).
  static Tensor empty(const Shape& shape, DType dtype = DType::float32, const Device& device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::float32, const Device& device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::float32,
                     const Device& device = Device::cpu());
  // Copies `values` (row-major, values.size() == shape.numel()) to a new tensor; dtype follows the span.
  static Tensor from_host(std::span<const float> values, const Shape& shape, const Device& device = Device::cpu());
  static Tensor from_host(std::span<const double> values, const Shape& shape, const Device& device = Device::cpu());

  // Row-major copy of the values; T must match dtype() (no silent conversion).
  template <class T>
  std::vector<T> to_host() const {
    check_dtype(dtype_of<T>(), "to_host");
    std::vector<T> values(static_cast<std::size_t>(numel()));
    copy_to_host(values.data());
    return values;
  }
  // A copy on `device`; on the same device, a tensor sharing this one's storage.
  Tensor to(const Device& device) const;
  // A copy with storage of its own, on the same device.
  Tensor clone() const;
  // The value of a 1-element tensor (a loss, a reduction) as double; copies it to the host.
  double item() const;
  // Overwrites this tensor's values with `source`'s (same shape and dtype, any device); returns *this. How a
  // checkpoint's values go into parameters that optimizers and modules already hold.
  Tensor& copy_(const Tensor& source);

  // In-place fills; they return *this. `value` and the bounds are rounded to dtype first.
  Tensor& fill_(double value);
  // Philox4x32-10 stream (seed, offset), the same numbers on every device (kernels/philox.h). A fill uses
  // rng_counters(numel(), dtype()) counters (engine/rng.h): a later fill at offset + that many is independent.
  Tensor& uniform_(std::uint64_t seed, std::uint64_t offset, double low = 0.0, double high = 1.0);
  Tensor& normal_(std::uint64_t seed, std::uint64_t offset, double mean = 0.0, double stddev = 1.0);

  // Same storage, new shape of the same element count; one dimension may be -1 (inferred).
  Tensor reshape(const Shape& shape) const;

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const;
  int dims() const { return shape().ndim(); }
  std::int64_t size(int dim) const;  // dim < 0 counts from the end
  std::int64_t numel() const { return shape().numel(); }
  std::size_t nbytes() const { return std::size_t(numel()) * dtype_size(dtype()); }
  DType dtype() const;
  const Device& device() const;
  const std::shared_ptr<Storage>& storage() const;
  // "float32 tensor of shape (2, 3) on cpu"; "undefined tensor" when !defined().
  std::string to_string() const;

  // Device pointers, for launchers. T must match dtype().
  template <class T>
  T* data() {
    check_dtype(dtype_of<T>(), "data");
    return static_cast<T*>(storage_->data());
  }
  template <class T>
  const T* data() const {
    check_dtype(dtype_of<T>(), "data");
    return static_cast<const T*>(storage_->data());
  }
  void* data_ptr();
  const void* data_ptr() const;

 private:
  Tensor(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype);
  void check_defined(const char* operation) const;
  void check_dtype(DType expected, const char* operation) const;
  void copy_to_host(void* values) const;

  std::shared_ptr<Storage> storage_;
  Shape shape_;
  DType dtype_ = DType::float32;
};

}  // namespace gramgan
