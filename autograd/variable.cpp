#include "autograd/variable.h"

#include <atomic>
#include <cmath>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "engine/error.h"
#include "engine/memory.h"
#include "engine/ops.h"

namespace gramgan::autograd {
namespace {

thread_local bool grad_mode = true;
std::atomic<bool> anomaly_mode{false};
thread_local std::vector<std::string> layer_stack;

std::size_t count_nonfinite(const Tensor& t) {
  if (t.numel() == 0 || (t.dtype() != DType::float32 && t.dtype() != DType::float64)) return 0;
  return std::size_t(ops::reduce(Reduction::count_nonfinite, t).item());
}

std::string input_label(const std::vector<Variable>& inputs, std::size_t i) {
  const std::string name = inputs[i].defined() ? inputs[i].name() : std::string();
  return std::to_string(i) + (name.empty() ? std::string() : " '" + name + "'");
}

const Tensor kUndefined;

}  // namespace

bool grad_enabled() { return grad_mode; }

NoGradGuard::NoGradGuard() : previous_(grad_mode) { grad_mode = false; }
NoGradGuard::~NoGradGuard() { grad_mode = previous_; }

// ---- anomaly detection -------------------------------------------------------------------------------------------

bool anomaly_detection_enabled() { return anomaly_mode.load(std::memory_order_relaxed); }
DetectAnomalyGuard::DetectAnomalyGuard() : previous_(anomaly_mode.exchange(true)) {}
DetectAnomalyGuard::~DetectAnomalyGuard() { anomaly_mode.store(previous_); }

LayerScope::LayerScope(const std::string& name) : active_(anomaly_detection_enabled()) {
  if (active_) layer_stack.push_back(layer_stack.empty() ? name : layer_stack.back() + "." + name);
}
LayerScope::~LayerScope() {
  if (active_ && !layer_stack.empty()) layer_stack.pop_back();
}
std::string current_layer() { return layer_stack.empty() ? std::string() : layer_stack.back(); }

void check_finite(const Tensor& t, const std::string& op, const char* pass, const std::string& layer,
                  const std::string& detail) {
  if (count_nonfinite(t) == 0) return;
  // The error path only: which of the two it is tells overflow (Inf) from 0/0 or Inf - Inf (NaN).
  std::size_t nan = 0, inf = 0;
  auto tally = [&](const auto& values) {
    for (double v : values) {
      nan += std::isnan(v) ? 1 : 0;
      inf += std::isinf(v) ? 1 : 0;
    }
  };
  if (t.dtype() == DType::float32)
    tally(t.to_host<float>());
  else
    tally(t.to_host<double>());
  throw Error("detect-anomaly: " + op + " " + pass + " produced " +
              (nan > 0 ? "NaN" + std::string(inf > 0 ? " and Inf" : "") : std::string("Inf")) + " (" +
              std::to_string(nan) + " NaN, " + std::to_string(inf) + " Inf of " + std::to_string(t.numel()) +
              " values; " + (layer.empty() ? std::string("outside the named layers") : "layer " + layer) + detail +
              "). Earlier ops were finite, so this is the first; try a lower learning rate or smaller lambdas");
}

// ---- Variable ----------------------------------------------------------------------------------------------------

Variable::Variable(Tensor value, bool requires_grad, std::string name) : impl_(std::make_shared<Impl>()) {
  if (!value.defined()) throw Error("Variable: the value is an undefined tensor");
  impl_->value = std::move(value);
  impl_->requires_grad = requires_grad;
  impl_->name = std::move(name);
}

Variable::Impl& Variable::impl() const {
  if (!impl_) throw Error("use of an undefined Variable");
  return *impl_;
}

const Tensor& Variable::value() const { return impl().value; }
const Tensor& Variable::grad() const { return impl().grad; }
bool Variable::requires_grad() const { return impl().requires_grad; }
const std::string& Variable::name() const { return impl().name; }
const std::shared_ptr<Node>& Variable::grad_fn() const { return impl().grad_fn; }

bool Variable::sole_owner() const {
  return impl_ != nullptr && impl_.use_count() == 1 && impl_->grad_fn == nullptr && !impl_->requires_grad &&
         impl_->value.defined() && impl_->value.storage().use_count() == 1;
}

void Variable::set_requires_grad(bool requires_grad) {
  if (!is_leaf())
    throw Error("set_requires_grad: '" + name() + "' is the output of " + grad_fn()->name() +
                "; only leaves (parameters, inputs) can be frozen or unfrozen");
  impl().requires_grad = requires_grad;
}

void Variable::zero_grad() const {
  impl().grad = Tensor();
  impl().grad_owned = false;
}

// ---- the backward pass -------------------------------------------------------------------------------------------

class BackwardPass {
 public:
  using Impl = Variable::Impl;

  static void run(const Variable& root, const Tensor& seed) {
    Impl& r = root.impl();
    if (!r.requires_grad)
      throw Error("backward: '" + r.name + "' does not require grad (no input of its graph requires grad, or it " +
                  "was computed under NoGradGuard)");
    if (!seed.defined() || !(seed.shape() == r.value.shape()) || seed.dtype() != r.value.dtype() ||
        seed.device() != r.value.device())
      throw Error("backward: the seed must be a tensor like the value (" + r.value.to_string() + "); got " +
                  seed.to_string());

    std::unordered_map<Impl*, Slot> pending;
    add_to(pending[&r], seed);
    // The order holds the variables: releasing a consumer drops its inputs, often their last other owner.
    std::vector<std::shared_ptr<Impl>> order = topological_order(root.impl_);
    for (std::shared_ptr<Impl>& held : order) {
      const std::shared_ptr<Impl> v = std::move(held);
      Node& node = *v->grad_fn;
      if (node.released)
        throw Error(std::string("backward: the graph through ") + node.name() +
                    " was already backpropagated and its saved tensors released; run the forward pass again");
      const auto it = pending.find(v.get());
      if (it == pending.end()) {  // every path to it gave undefined gradients
        release(node);
        continue;
      }
      const Tensor dy = std::move(it->second.grad);
      pending.erase(it);
      std::vector<Tensor> dx = node.backward(dy);
      if (dx.size() != node.inputs.size())
        throw Error(std::string("backward: ") + node.name() + " returned " + std::to_string(dx.size()) +
                    " gradients for " + std::to_string(node.inputs.size()) + " inputs");
      if (anomaly_detection_enabled())
        for (std::size_t i = 0; i < dx.size(); ++i)
          if (dx[i].defined() && node.needs_input_grad(i))
            check_finite(dx[i], node.name(), "backward", node.layer,
                         ", gradient of input " + input_label(node.inputs, i));
      for (std::size_t i = 0; i < dx.size(); ++i) {
        if (!dx[i].defined() || !node.needs_input_grad(i)) continue;
        Impl& input = node.inputs[i].impl();
        if (input.grad_fn)
          add_to(pending[&input], std::move(dx[i]));
        else
          accumulate_leaf(input, std::move(dx[i]));
      }
      release(node);
    }
    if (!r.grad_fn) accumulate_leaf(r, seed);
  }

 private:
  static void release(Node& node) {
    node.release_saved();
    node.released = true;
    node.inputs.clear();  // intermediates nobody else holds go now
  }

  struct Slot {
    Tensor grad;
    bool owned = false;
  };

  // The single place gradients are summed. A first contribution is kept as is (it may be shared with the graph:
  // add's backward passes dy to both inputs); it is copied before the first in-place add.
  static void add(Tensor& grad, bool& owned, Tensor contribution) {
    if (!grad.defined()) {
      grad = std::move(contribution);
      owned = false;
      return;
    }
    if (!owned) {
      grad = grad.clone();
      owned = true;
    }
    ops::accumulate(grad, contribution);
  }
  static void add_to(Slot& slot, Tensor contribution) { add(slot.grad, slot.owned, std::move(contribution)); }
  static void accumulate_leaf(Impl& leaf, Tensor contribution) {
    if (!leaf.requires_grad) return;
    add(leaf.grad, leaf.grad_owned, std::move(contribution));
    relabel_allocation(leaf.grad, "gradients");  // for a MemoryPlan's breakdown; nothing otherwise
  }

  // Variables with a producing op, consumers before producers: the reverse of an iterative depth-first post-order.
  static std::vector<std::shared_ptr<Impl>> topological_order(const std::shared_ptr<Impl>& root) {
    std::vector<std::shared_ptr<Impl>> post_order;
    if (!root->grad_fn) return post_order;
    std::unordered_set<Impl*> visited{root.get()};
    std::vector<std::pair<std::shared_ptr<Impl>, std::size_t>> stack{{root, 0}};
    while (!stack.empty()) {
      auto& [v, next] = stack.back();
      const std::vector<Variable>& inputs = v->grad_fn->inputs;
      if (next < inputs.size()) {
        const std::shared_ptr<Impl> input = inputs[next++].impl_;
        if (input && input->grad_fn && input->requires_grad && visited.insert(input.get()).second)
          stack.push_back({input, 0});
      } else {
        post_order.push_back(v);
        stack.pop_back();
      }
    }
    return {post_order.rbegin(), post_order.rend()};
  }
};

void Variable::backward() const {
  const Tensor& v = value();
  if (v.numel() != 1)
    throw Error("backward: '" + name() + "' is " + v.to_string() +
                "; without a seed only a 1-element variable (a loss) can start backward");
  backward(Tensor::full(v.shape(), 1.0, v.dtype(), v.device()));
}

void Variable::backward(const Tensor& seed) const { BackwardPass::run(*this, seed); }

// ---- Node --------------------------------------------------------------------------------------------------------

Variable Node::record(Tensor value, std::shared_ptr<Node> node, std::vector<Variable> inputs) {
  if (anomaly_detection_enabled()) {
    node->layer = current_layer();
    if (count_nonfinite(value) > 0) {
      std::string detail;  // a non-finite input can only be a leaf (a parameter): earlier outputs were checked
      for (std::size_t i = 0; i < inputs.size(); ++i)
        if (inputs[i].defined() && count_nonfinite(inputs[i].value()) > 0)
          detail += ", input " + input_label(inputs, i) + " was already non-finite";
      check_finite(value, node->name(), "forward", node->layer, detail);
    }
  }
  Variable out(std::move(value));
  if (!grad_enabled()) return out;
  bool any = false;
  for (const Variable& input : inputs) any = any || (input.defined() && input.requires_grad());
  if (!any) return out;
  node->inputs = std::move(inputs);
  out.impl_->requires_grad = true;
  out.impl_->grad_fn = std::move(node);
  return out;
}

}  // namespace gramgan::autograd
