// What device memory is for, and how much a computation would need without running it.
//
//   AllocationScope  labels the allocations made on this thread while it lives ("activations: G"); the innermost
//                    scope wins. On cuda an out-of-memory error names the label; a MemoryPlan sums bytes by label.
//   MemoryPlan       while alive on this thread, new tensors get no memory (a distinct fake address that is never
//                    dereferenced), kernels are not launched, host copies are skipped and reads give zeros. Every
//                    allocation and free is still made, in the same order and with the same sizes, so running the
//                    real code under a plan gives the peak it would reach: `gramgan train --dry-run`.
//
// Kernel workspaces count: ops allocate them under the label "workspaces" (engine/ops.cpp).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include "engine/allocator.h"
#include "engine/device.h"

namespace gramgan {

class Tensor;

// The allocator's counters of `device`; reset_peak makes peak_in_use the current in_use, so a later peak is that
// of what runs after it.
AllocatorStats device_memory_stats(const Device& device);
void reset_peak(const Device& device);

class AllocationScope {
 public:
  explicit AllocationScope(const char* label);  // a string that outlives the scope (a literal)
  ~AllocationScope();
  AllocationScope(const AllocationScope&) = delete;
  AllocationScope& operator=(const AllocationScope&) = delete;

 private:
  const char* previous_;
};
// The innermost scope's label on this thread; "unlabelled" outside every scope.
const char* current_allocation_label();

namespace detail {
struct PlanState;
}

class MemoryPlan {
 public:
  // `round_to_cuda_blocks`: count each allocation as the cuda caching allocator would (CachingAllocator::round_size).
  explicit MemoryPlan(bool round_to_cuda_blocks = false);
  ~MemoryPlan();
  MemoryPlan(const MemoryPlan&) = delete;
  MemoryPlan& operator=(const MemoryPlan&) = delete;

  std::size_t in_use() const;
  std::size_t peak() const;
  // Bytes in use per label at the moment of the peak; they sum to peak().
  std::map<std::string, std::size_t> at_peak() const;
  // The first launcher argument error met under the plan ("" if none): the dispatch notes it instead of throwing,
  // so an estimate is still made for sizes a real run would refuse (beyond the kernels' 32-bit indexing, ...).
  // That op's workspaces are then missing from the estimate.
  const std::string& refusal() const;

 private:
  std::shared_ptr<detail::PlanState> state_;
  std::shared_ptr<detail::PlanState> previous_;
};

// Whether a MemoryPlan is alive on this thread.
bool memory_planning();
// Whether `t` was created under a MemoryPlan (it has no memory).
bool is_planned(const Tensor& t);
// Moves a planned tensor's bytes to another label (autograd: a gradient that becomes a parameter's); a no-op for a
// real tensor.
void relabel_allocation(const Tensor& t, const char* label);

namespace detail {
// For Storage: a fake address and the bookkeeping of a planned allocation, or null when no plan is active.
std::shared_ptr<PlanState> active_plan();
void* plan_allocate(PlanState& plan, std::size_t bytes);
void plan_free(PlanState& plan, void* ptr);
void note_plan_refusal(const std::string& what);  // see MemoryPlan::refusal
}  // namespace detail

}  // namespace gramgan
