#include "engine/memory.h"

#include <cstdint>
#include <unordered_map>

#include "engine/error.h"
#include "engine/tensor.h"

namespace gramgan {
namespace detail {

struct PlanState {
  struct Block {
    std::size_t bytes;
    const char* label;
  };
  bool round = false;
  std::uintptr_t next_address = 0x100000;  // never dereferenced; distinct so that no two tensors look aliased
  std::unordered_map<void*, Block> live;
  std::map<std::string, std::size_t> by_label, peak_by_label;
  std::size_t in_use = 0, peak = 0;
  std::string refusal;  // the first launcher argument error seen under the plan

  void add(const char* label, std::size_t bytes) {
    by_label[label] += bytes;
    in_use += bytes;
    if (in_use > peak) {
      peak = in_use;
      peak_by_label = by_label;
    }
  }
  void remove(const char* label, std::size_t bytes) {
    in_use -= bytes;
    if ((by_label[label] -= bytes) == 0) by_label.erase(label);
  }
};

namespace {
thread_local std::shared_ptr<PlanState> plan_on_thread;
}  // namespace

std::shared_ptr<PlanState> active_plan() { return plan_on_thread; }

void* plan_allocate(PlanState& plan, std::size_t bytes) {
  if (bytes == 0) return nullptr;
  const std::size_t counted = plan.round ? CachingAllocator::round_size(bytes) : bytes;
  void* ptr = reinterpret_cast<void*>(plan.next_address);
  plan.next_address += (bytes + 255) / 256 * 256;
  const char* label = current_allocation_label();
  plan.live[ptr] = {counted, label};
  plan.add(label, counted);
  return ptr;
}

void plan_free(PlanState& plan, void* ptr) {
  const auto it = plan.live.find(ptr);
  if (it == plan.live.end()) return;
  plan.remove(it->second.label, it->second.bytes);
  plan.live.erase(it);
}

}  // namespace detail

namespace {
thread_local const char* allocation_label = nullptr;
}  // namespace

AllocatorStats device_memory_stats(const Device& device) { return allocator(device).stats(); }
void reset_peak(const Device& device) { allocator(device).reset_peak(); }

AllocationScope::AllocationScope(const char* label) : previous_(allocation_label) { allocation_label = label; }
AllocationScope::~AllocationScope() { allocation_label = previous_; }
const char* current_allocation_label() { return allocation_label != nullptr ? allocation_label : "unlabelled"; }

MemoryPlan::MemoryPlan(bool round_to_cuda_blocks)
    : state_(std::make_shared<detail::PlanState>()), previous_(detail::plan_on_thread) {
  state_->round = round_to_cuda_blocks;
  detail::plan_on_thread = state_;
}
MemoryPlan::~MemoryPlan() { detail::plan_on_thread = previous_; }

std::size_t MemoryPlan::in_use() const { return state_->in_use; }
std::size_t MemoryPlan::peak() const { return state_->peak; }
std::map<std::string, std::size_t> MemoryPlan::at_peak() const { return state_->peak_by_label; }
const std::string& MemoryPlan::refusal() const { return state_->refusal; }

namespace detail {
void note_plan_refusal(const std::string& what) {
  const std::shared_ptr<PlanState> plan = active_plan();
  if (plan && plan->refusal.empty()) plan->refusal = what;
}
}  // namespace detail

bool memory_planning() { return detail::plan_on_thread != nullptr; }

bool is_planned(const Tensor& t) { return t.defined() && t.storage()->planned(); }

void relabel_allocation(const Tensor& t, const char* label) {
  if (!is_planned(t)) return;
  detail::PlanState& plan = *t.storage()->plan();
  const auto it = plan.live.find(t.storage()->data());
  if (it == plan.live.end() || it->second.label == label) return;
  plan.remove(it->second.label, it->second.bytes);
  it->second.label = label;
  plan.add(label, it->second.bytes);
}

}  // namespace gramgan
