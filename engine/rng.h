// Counter-based random numbers for tensors. A fill is fully described by (seed, offset): the same pair gives
// the same bits on every device and launch shape (kernels/philox.h has the mapping). Independent draws need
// disjoint counter ranges: a fill of n elements uses rng_counters(n, dtype) counters from its offset on.
// RandomStream keeps that bookkeeping for a sequence of draws.
#pragma once

#include <cstdint>

#include "engine/tensor.h"
#include "kernels/philox.h"

namespace gramgan {

inline std::uint64_t rng_counters(std::int64_t numel, DType dtype) {
  return philox::groups(std::uint64_t(numel), dtype == DType::float32 ? 4 : 2);
}

class RandomStream {
 public:
  explicit RandomStream(std::uint64_t seed, std::uint64_t offset = 0) : seed_(seed), offset_(offset) {}

  std::uint64_t seed() const { return seed_; }
  // Where the next draw starts; save it with the seed to resume a run.
  std::uint64_t offset() const { return offset_; }

  Tensor& uniform_(Tensor& tensor, double low = 0.0, double high = 1.0) {
    tensor.uniform_(seed_, offset_, low, high);
    offset_ += rng_counters(tensor.numel(), tensor.dtype());
    return tensor;
  }
  Tensor& normal_(Tensor& tensor, double mean = 0.0, double stddev = 1.0) {
    tensor.normal_(seed_, offset_, mean, stddev);
    offset_ += rng_counters(tensor.numel(), tensor.dtype());
    return tensor;
  }

 private:
  std::uint64_t seed_;
  std::uint64_t offset_;
};

}  // namespace gramgan
