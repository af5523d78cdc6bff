#include "engine/tensor.h"

#include <cmath>
#include <cstring>

#include "cudasim/runtime.h"
#include "engine/allocator.h"
#include "engine/device_cuda.h"
#include "engine/dispatch.h"
#include "engine/error.h"
#include "engine/memory.h"

namespace gramgan {
namespace {

// Byte copies between a device and host memory or another device. The cpu device's memory is host memory
// (the simulator allocates it with posix_memalign), so a GPU copy can read or write it directly.
void upload(const Device& device, void* dst, const void* host, std::size_t bytes) {
  if (bytes == 0) return;
  if (device.is_cpu())
    GG_CUDA_CHECK(cudasim::cudaMemcpy(dst, host, bytes, cudasim::cudaMemcpyHostToDevice));
  else
    detail::gpu::copy(device.index(), dst, host, bytes, detail::gpu::CopyKind::host_to_device);
}

void download(const Device& device, void* host, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  if (device.is_cpu())
    GG_CUDA_CHECK(cudasim::cudaMemcpy(host, src, bytes, cudasim::cudaMemcpyDeviceToHost));
  else
    detail::gpu::copy(device.index(), host, src, bytes, detail::gpu::CopyKind::device_to_host);
}

void copy_between(const Device& dst_device, void* dst, const Device& src_device, const void* src, std::size_t bytes) {
  if (bytes == 0) return;
  if (src_device.is_cpu() && dst_device.is_cpu()) {
    GG_CUDA_CHECK(cudasim::cudaMemcpy(dst, src, bytes, cudasim::cudaMemcpyDeviceToDevice));
  } else if (src_device.is_cpu()) {
    upload(dst_device, dst, src, bytes);
  } else if (dst_device.is_cpu()) {
    download(src_device, dst, src, bytes);
  } else if (dst_device == src_device) {
    detail::gpu::copy(src_device.index(), dst, src, bytes, detail::gpu::CopyKind::device_to_device);
  } else {
    // GPU to GPU through the host: rare here, and it needs no peer-access setup.
    std::vector<unsigned char> staging(bytes);
    download(src_device, staging.data(), src, bytes);
    upload(dst_device, dst, staging.data(), bytes);
  }
}

void check_shape(const Shape& shape) {
  constexpr std::int64_t kMaxBytes = std::int64_t(1) << 48;
  std::int64_t numel = 1;
  for (const std::int64_t size : shape) {
    if (size < 0) throw Error("invalid tensor shape " + shape.to_string() + ": sizes must be >= 0");
    if (size > 0 && numel > kMaxBytes / size)
      throw Error("invalid tensor shape " + shape.to_string() + ": too many elements");
    numel *= size;
  }
  if (numel > kMaxBytes / 8) throw Error("invalid tensor shape " + shape.to_string() + ": too many elements");
}

template <class T>
Tensor tensor_from_host(std::span<const T> values, const Shape& shape, const Device& device) {
  Tensor tensor = Tensor::empty(shape, dtype_of<T>(), device);
  if (values.size() != std::size_t(tensor.numel()))
    throw Error("from_host: " + std::to_string(values.size()) + " values given for shape " + shape.to_string() +
                ", which holds " + std::to_string(tensor.numel()));
  if (!is_planned(tensor)) upload(device, tensor.data_ptr(), values.data(), tensor.nbytes());
  return tensor;
}

}  // namespace

std::size_t dtype_size(DType dtype) { return dtype == DType::float32 ? 4 : 8; }

const char* dtype_name(DType dtype) { return dtype == DType::float32 ? "float32" : "float64"; }

// ---- Shape -----------------------------------------------------------------------------------------------------

Shape::Shape(std::initializer_list<std::int64_t> dims)
    : Shape(std::span<const std::int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const std::int64_t> dims) {
  if (dims.size() > std::size_t(kMaxDims))
    throw Error("tensors have at most " + std::to_string(kMaxDims) + " dimensions (N, C, H, W); got " +
                std::to_string(dims.size()));
  ndim_ = int(dims.size());
  std::copy(dims.begin(), dims.end(), dims_.begin());
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (const std::int64_t size : *this) n *= size;
  return n;
}

std::string Shape::to_string() const {
  std::string text = "(";
  for (int i = 0; i < ndim_; ++i) text += (i > 0 ? ", " : "") + std::to_string(dims_[i]);
  return text + (ndim_ == 1 ? ",)" : ")");
}

// ---- Storage ---------------------------------------------------------------------------------------------------

Storage::Storage(const Device& device, std::size_t nbytes)
    : device_(device),
      plan_(detail::active_plan()),
      allocator_(plan_ ? nullptr : &allocator(device)),
      nbytes_(nbytes),
      data_(plan_ ? detail::plan_allocate(*plan_, nbytes) : allocator_->allocate(nbytes)) {}

Storage::~Storage() {
  if (plan_)
    detail::plan_free(*plan_, data_);
  else
    allocator_->deallocate(data_, nbytes_);
}

// ---- Tensor ----------------------------------------------------------------------------------------------------

Tensor::Tensor(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype)
    : storage_(std::move(storage)), shape_(shape), dtype_(dtype) {}

Tensor Tensor::empty(const Shape& shape, DType dtype, const Device& device) {
  check_shape(shape);
  const std::size_t bytes = std::size_t(shape.numel()) * dtype_size(dtype);
  return Tensor(std::make_shared<Storage>(device, bytes), shape, dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, const Device& device) { return full(shape, 0.0, dtype, device); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, const Device& device) {
  Tensor tensor = empty(shape, dtype, device);
  tensor.fill_(value);
  return tensor;
}

Tensor Tensor::from_host(std::span<const float> values, const Shape& shape, const Device& device) {
  return tensor_from_host(values, shape, device);
}

Tensor Tensor::from_host(std::span<const double> values, const Shape& shape, const Device& device) {
  return tensor_from_host(values, shape, device);
}

Tensor Tensor::to(const Device& device) const {
  check_defined("to");
  if (device == this->device()) return *this;
  Tensor copy = empty(shape_, dtype_, device);
  if (!is_planned(copy) && !is_planned(*this))
    copy_between(device, copy.data_ptr(), this->device(), data_ptr(), nbytes());
  return copy;
}

Tensor Tensor::clone() const {
  check_defined("clone");
  Tensor copy = empty(shape_, dtype_, device());
  if (!is_planned(copy) && !is_planned(*this)) copy_between(device(), copy.data_ptr(), device(), data_ptr(), nbytes());
  return copy;
}

double Tensor::item() const {
  check_defined("item");
  if (numel() != 1) throw Error("item: needs a 1-element tensor, got " + to_string());
  return dtype_ == DType::float32 ? double(to_host<float>()[0]) : to_host<double>()[0];
}

Tensor& Tensor::copy_(const Tensor& source) {
  check_defined("copy_");
  source.check_defined("copy_");
  if (source.shape() != shape_ || source.dtype() != dtype_)
    throw Error("copy_: source " + source.to_string() + " does not match destination " + to_string());
  if (is_planned(*this) || is_planned(source)) return *this;
  copy_between(device(), data_ptr(), source.device(), source.data_ptr(), nbytes());
  return *this;
}

Tensor& Tensor::fill_(double value) {
  check_defined("fill_");
  if (is_planned(*this)) return *this;
  detail::dispatch(device(), dtype_,
                   [&]<class T>(auto stream) { fill(detail::ptr<T>(*this), std::size_t(numel()), T(value), stream); });
  return *this;
}

Tensor& Tensor::uniform_(std::uint64_t seed, std::uint64_t offset, double low, double high) {
  check_defined("uniform_");
  if (is_planned(*this)) return *this;
  if (!(std::isfinite(low) && std::isfinite(high) && low <= high))
    throw Error("uniform_: need finite bounds with low <= high; got low = " + std::to_string(low) +
                ", high = " + std::to_string(high));
  detail::dispatch(device(), dtype_, [&]<class T>(auto stream) {
    fill_uniform(detail::ptr<T>(*this), std::size_t(numel()), seed, offset, T(low), T(high), stream);
  });
  return *this;
}

Tensor& Tensor::normal_(std::uint64_t seed, std::uint64_t offset, double mean, double stddev) {
  check_defined("normal_");
  if (is_planned(*this)) return *this;
  if (!(std::isfinite(mean) && std::isfinite(stddev) && stddev >= 0.0))
    throw Error("normal_: need a finite mean and a finite stddev >= 0; got mean = " + std::to_string(mean) +
                ", stddev = " + std::to_string(stddev));
  detail::dispatch(device(), dtype_, [&]<class T>(auto stream) {
    fill_normal(detail::ptr<T>(*this), std::size_t(numel()), seed, offset, T(mean), T(stddev), stream);
  });
  return *this;
}

Tensor Tensor::reshape(const Shape& shape) const {
  check_defined("reshape");
  const auto fail = [&](const std::string& why) {
    throw Error("cannot reshape " + to_string() + " to " + shape.to_string() + ": " + why);
  };
  std::array<std::int64_t, Shape::kMaxDims> dims{};
  int inferred = -1;
  std::int64_t known = 1;
  for (int i = 0; i < shape.ndim(); ++i) {
    dims[i] = shape[i];
    if (shape[i] == -1) {
      if (inferred >= 0) fail("only one size may be -1");
      inferred = i;
    } else if (shape[i] < 0) {
      fail("sizes must be >= 0, or -1 for the one to infer");
    } else {
      known *= shape[i];
    }
  }
  if (inferred >= 0) {
    if (known == 0 || numel() % known != 0) fail("no size for the -1 gives " + std::to_string(numel()) + " elements");
    dims[inferred] = numel() / known;
  } else if (known != numel()) {
    fail(std::to_string(numel()) + " elements cannot become " + std::to_string(known));
  }
  return Tensor(storage_, Shape(std::span<const std::int64_t>(dims.data(), std::size_t(shape.ndim()))), dtype_);
}

const Shape& Tensor::shape() const {
  check_defined("shape");
  return shape_;
}

std::int64_t Tensor::size(int dim) const {
  const int n = dims();
  if (dim < -n || dim >= n) throw Error("size(" + std::to_string(dim) + "): dimension out of range for " + to_string());
  return shape_[dim < 0 ? dim + n : dim];
}

DType Tensor::dtype() const {
  check_defined("dtype");
  return dtype_;
}

const Device& Tensor::device() const {
  check_defined("device");
  return storage_->device();
}

const std::shared_ptr<Storage>& Tensor::storage() const {
  check_defined("storage");
  return storage_;
}

std::string Tensor::to_string() const {
  if (!defined()) return "undefined tensor";
  return std::string(dtype_name(dtype_)) + " tensor of shape " + shape_.to_string() + " on " +
         storage_->device().to_string();
}

void* Tensor::data_ptr() {
  check_defined("data_ptr");
  return storage_->data();
}

const void* Tensor::data_ptr() const {
  check_defined("data_ptr");
  return storage_->data();
}

void Tensor::check_defined(const char* operation) const {
  if (!defined())
    throw Error(std::string(operation) +
                "() on an undefined (default-constructed) Tensor; create one with Tensor::empty, zeros, full or "
                "from_host");
}

void Tensor::check_dtype(DType expected, const char* operation) const {
  check_defined(operation);
  if (dtype_ != expected)
    throw Error(std::string(operation) + "<" + (expected == DType::float32 ? "float" : "double") + ">() on a " +
                to_string() + "; use " + operation + "<" + (dtype_ == DType::float32 ? "float" : "double") + ">()");
}

void Tensor::copy_to_host(void* values) const {
  if (is_planned(*this))
    std::memset(values, 0, nbytes());  // a plan has no values: reads give zeros
  else
    download(device(), values, data_ptr(), nbytes());
}

}  // namespace gramgan
