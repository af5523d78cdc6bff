// Tensor: creation, host round trips, copies between and on devices, reshape, fill, and the errors a user sees.
// Every device-facing case runs on cpu and on cuda (skipped without a GPU). Sizes avoid multiples of the fill
// kernels' 256-thread blocks.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/tensor.h"
#include "tests/expect_error.h"

namespace gramgan {
namespace {

std::vector<float> iota_floats(std::size_t n) {
  std::vector<float> values(n);
  for (std::size_t i = 0; i < n; ++i) values[i] = 0.5f * float(i) - 7.0f;
  return values;
}

std::vector<double> iota_doubles(std::size_t n) {
  std::vector<double> values(n);
  for (std::size_t i = 0; i < n; ++i) values[i] = 1.0 / double(i + 3);
  return values;
}

// ---- cases that do not depend on the device -------------------------------------------------------------------

TEST(Tensor, ShapeAccessors) {
  const Tensor t = Tensor::empty({2, 3, 5, 7});
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.dims(), 4);
  EXPECT_EQ(t.shape(), Shape({2, 3, 5, 7}));
  EXPECT_EQ(t.size(0), 2);
  EXPECT_EQ(t.size(3), 7);
  EXPECT_EQ(t.size(-1), 7);
  EXPECT_EQ(t.size(-4), 2);
  EXPECT_EQ(t.numel(), 210);
  EXPECT_EQ(t.nbytes(), 840u);
  EXPECT_EQ(t.dtype(), DType::float32);
  EXPECT_EQ(t.device(), Device::cpu());
  EXPECT_EQ(t.to_string(), "float32 tensor of shape (2, 3, 5, 7) on cpu");
  EXPECT_EQ(Tensor::empty({4}, DType::float64).nbytes(), 32u);
  EXPECT_EQ(Tensor::empty({4}).shape().to_string(), "(4,)");
}

TEST(Tensor, ScalarAndEmptyShapes) {
  const Tensor scalar = Tensor::full({}, 2.5, DType::float64);
  EXPECT_EQ(scalar.dims(), 0);
  EXPECT_EQ(scalar.numel(), 1);
  EXPECT_EQ(scalar.to_host<double>(), std::vector<double>{2.5});
  Tensor none = Tensor::zeros({3, 0, 2});
  EXPECT_EQ(none.numel(), 0);
  EXPECT_EQ(none.nbytes(), 0u);
  EXPECT_TRUE(none.to_host<float>().empty());
  EXPECT_NO_THROW(none.uniform_(1, 0));
  EXPECT_NO_THROW(none.clone());
}

TEST(Tensor, BadShapesAreRejected) {
  EXPECT_ERROR_MENTIONS(Tensor::empty({1, 2, 3, 4, 5}), "at most 4 dimensions");
  EXPECT_ERROR_MENTIONS(Tensor::empty({2, -3}), "sizes must be >= 0");
  EXPECT_ERROR_MENTIONS(Tensor::empty({1 << 20, 1 << 20, 1 << 20}), "too many elements");
  const Tensor t = Tensor::empty({2, 3});
  EXPECT_ERROR_MENTIONS(t.size(2), "dimension out of range");
  EXPECT_ERROR_MENTIONS(t.size(-3), "dimension out of range");
}

TEST(Tensor, FromHostNeedsOneValuePerElement) {
  const std::vector<float> five(5, 1.0f);
  EXPECT_ERROR_MENTIONS(Tensor::from_host(five, {2, 3}), "5 values given for shape (2, 3), which holds 6");
}

TEST(Tensor, TypedAccessNeedsTheTensorsDtype) {
  const Tensor f = Tensor::zeros({3});
  EXPECT_ERROR_MENTIONS(f.to_host<double>(), "use to_host<float>()");
  EXPECT_ERROR_MENTIONS(f.data<double>(), "data<double>() on a float32 tensor of shape (3,) on cpu");
  const Tensor d = Tensor::zeros({3}, DType::float64);
  EXPECT_ERROR_MENTIONS(d.to_host<float>(), "use to_host<double>()");
  EXPECT_NE(d.data<double>(), nullptr);
}

TEST(Tensor, UndefinedTensorThrows) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_EQ(t.to_string(), "undefined tensor");
  EXPECT_ERROR_MENTIONS(t.numel(), "undefined (default-constructed) Tensor");
  EXPECT_ERROR_MENTIONS(t.shape(), "undefined");
  EXPECT_ERROR_MENTIONS(t.to_host<float>(), "undefined");
  EXPECT_ERROR_MENTIONS(t.fill_(1.0), "undefined");
  EXPECT_ERROR_MENTIONS(t.clone(), "undefined");
  EXPECT_ERROR_MENTIONS(t.to(Device::cpu()), "undefined");
  EXPECT_ERROR_MENTIONS(t.reshape({1}), "undefined");
  EXPECT_ERROR_MENTIONS(t.uniform_(0, 0), "undefined");
  EXPECT_ERROR_MENTIONS(t.data<float>(), "undefined");
}

TEST(Tensor, RandomFillArgumentsAreChecked) {
  Tensor t = Tensor::empty({8});
  EXPECT_ERROR_MENTIONS(t.uniform_(1, 0, 2.0, 1.0), "low <= high");
  EXPECT_ERROR_MENTIONS(t.normal_(1, 0, 0.0, -1.0), "stddev >= 0");
}

TEST(Tensor, ReshapeErrors) {
  const Tensor t = Tensor::empty({2, 3});
  EXPECT_ERROR_MENTIONS(t.reshape({4, 2}), "cannot reshape float32 tensor of shape (2, 3) on cpu to (4, 2)");
  EXPECT_ERROR_MENTIONS(t.reshape({-1, -1}), "only one size may be -1");
  EXPECT_ERROR_MENTIONS(t.reshape({4, -1}), "no size for the -1");
  EXPECT_ERROR_MENTIONS(t.reshape({-2, 3}), "sizes must be >= 0");
}

// ---- the same cases on each device ----------------------------------------------------------------------------

class TensorOnDevice : public testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    device_ = Device::parse(GetParam());
    if (device_.is_cuda() && !cuda_available()) GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
  }
  Device device_;
};

TEST_P(TensorOnDevice, FromHostToHostRoundTrips) {
  const std::vector<float> floats = iota_floats(1003);
  const Tensor f = Tensor::from_host(floats, {17, 59}, device_);
  EXPECT_EQ(f.device(), device_);
  EXPECT_EQ(f.dtype(), DType::float32);
  EXPECT_EQ(f.to_host<float>(), floats);
  const std::vector<double> doubles = iota_doubles(2 * 3 * 5 * 7);
  const Tensor d = Tensor::from_host(doubles, {2, 3, 5, 7}, device_);
  EXPECT_EQ(d.dtype(), DType::float64);
  EXPECT_EQ(d.to_host<double>(), doubles);
}

TEST_P(TensorOnDevice, ZerosAndFull) {
  EXPECT_EQ(Tensor::zeros({3, 337}, DType::float32, device_).to_host<float>(), std::vector<float>(1011, 0.0f));
  EXPECT_EQ(Tensor::full({515}, -1.25, DType::float64, device_).to_host<double>(), std::vector<double>(515, -1.25));
  // The value is rounded to the dtype once.
  EXPECT_EQ(Tensor::full({2}, 0.1, DType::float32, device_).to_host<float>(), std::vector<float>(2, 0.1f));
}

TEST_P(TensorOnDevice, FillOverwritesEveryElement) {
  Tensor t = Tensor::from_host(iota_doubles(777), {777}, device_);
  EXPECT_EQ(&t.fill_(3.5), &t);
  EXPECT_EQ(t.to_host<double>(), std::vector<double>(777, 3.5));
}

TEST_P(TensorOnDevice, ToSameDeviceSharesStorage) {
  const Tensor t = Tensor::from_host(iota_floats(10), {10}, device_);
  const Tensor same = t.to(device_);
  EXPECT_EQ(same.storage(), t.storage());
  EXPECT_EQ(same.data_ptr(), t.data_ptr());
}

TEST_P(TensorOnDevice, ToOtherDeviceAndBackCopies) {
  const std::vector<float> values = iota_floats(1025);
  const Tensor t = Tensor::from_host(values, {5, 205}, device_);
  const Device other = device_.is_cpu() ? (cuda_available() ? Device::cuda() : Device::cpu()) : Device::cpu();
  if (other == device_) GTEST_SKIP() << "needs a second device kind (no GPU: " << cuda_unavailable_reason() << ")";
  const Tensor moved = t.to(other);
  EXPECT_EQ(moved.device(), other);
  EXPECT_EQ(moved.shape(), t.shape());
  EXPECT_NE(moved.storage(), t.storage());
  EXPECT_EQ(moved.to_host<float>(), values);
  const Tensor back = moved.to(device_);
  EXPECT_EQ(back.to_host<float>(), values);
}

TEST_P(TensorOnDevice, CloneIsDeep) {
  const std::vector<double> values = iota_doubles(300);
  const Tensor t = Tensor::from_host(values, {3, 100}, device_);
  Tensor copy = t.clone();
  EXPECT_NE(copy.storage(), t.storage());
  EXPECT_EQ(copy.shape(), t.shape());
  EXPECT_EQ(copy.to_host<double>(), values);
  copy.fill_(0.0);
  EXPECT_EQ(t.to_host<double>(), values);
}

TEST_P(TensorOnDevice, CopiesShareStorageAndOutliveTheOriginal) {
  Tensor alias;
  {
    Tensor t = Tensor::full({64}, 9.0, DType::float32, device_);
    alias = t;
    t.fill_(4.0);
  }
  EXPECT_EQ(alias.storage().use_count(), 1);
  EXPECT_EQ(alias.to_host<float>(), std::vector<float>(64, 4.0f));
}

TEST_P(TensorOnDevice, ReshapeSharesStorage) {
  const std::vector<float> values = iota_floats(24);
  const Tensor t = Tensor::from_host(values, {2, 3, 4}, device_);
  Tensor r = t.reshape({4, -1});
  EXPECT_EQ(r.shape(), Shape({4, 6}));
  EXPECT_EQ(r.storage(), t.storage());
  EXPECT_EQ(r.to_host<float>(), values);
  EXPECT_EQ(t.reshape({24}).shape(), Shape({24}));
  EXPECT_EQ(t.reshape({1, 2, 3, 4}).dims(), 4);
  r.fill_(1.0);  // writes through to t
  EXPECT_EQ(t.to_host<float>(), std::vector<float>(24, 1.0f));
}

INSTANTIATE_TEST_SUITE_P(Tensor, TensorOnDevice, testing::Values("cpu", "cuda"),
                         [](const testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

}  // namespace
}  // namespace gramgan
