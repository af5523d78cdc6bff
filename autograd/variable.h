// Reverse-mode autograd: a Variable is a shared node holding a value Tensor, its gradient, whether it requires
// one, and the op (Node) that produced it. Copies of a Variable share that node.
//
// backward() walks the graph in topological order (iteratively: deep graphs cannot overflow the stack), calls each
// op's backward once, adds the contributions to a variable used more than once into one tensor (the accumulate
// kernel; the only place gradients are accumulated), and releases every op's saved tensors as it goes, so a graph
// can be backpropagated once. Leaves that require grad accumulate into grad() across backward() calls until
// zero_grad().
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace gramgan::autograd {

struct Node;

class Variable {
 public:
  Variable() = default;  // undefined
  explicit Variable(Tensor value, bool requires_grad = false, std::string name = {});

  bool defined() const { return impl_ != nullptr; }
  const Tensor& value() const;
  // Undefined until a backward() reaches this leaf (or for an intermediate: always; only leaves keep grads).
  const Tensor& grad() const;
  bool requires_grad() const;
  // Leaves only: frozen parameters (false) still pass gradients to their inputs' producers but get none.
  void set_requires_grad(bool requires_grad);
  void zero_grad() const;  // grad() becomes undefined (the handle is const, the shared node is not)
  const std::string& name() const;
  // The op that produced this variable; null for a leaf or when no graph was recorded.
  const std::shared_ptr<Node>& grad_fn() const;
  bool is_leaf() const { return grad_fn() == nullptr; }
  // A leaf sharing this value, outside any graph (D's input G(x) in the discriminator step).
  Variable detach() const { return Variable(value(), false, name()); }

  // d(this)/d(leaves) for a 1-element variable (seed 1), or with an explicit seed of the value's shape.
  void backward() const;
  void backward(const Tensor& seed) const;

  // Identity of the shared node, for maps and tests.
  const void* id() const { return impl_.get(); }
  // Whether this handle is the only one to its node, the node is outside any graph, and its value is the only
  // tensor on that storage: then nothing else can read the values, and an inference pass may overwrite them
  // (nn::Sequential's in-place layers).
  bool sole_owner() const;

 private:
  friend struct Node;
  friend class BackwardPass;
  struct Impl {
    Tensor value, grad;
    bool grad_owned = false;  // grad has storage of its own (may be accumulated into in place)
    bool requires_grad = false;
    std::shared_ptr<Node> grad_fn;
    std::string name;
  };
  std::shared_ptr<Impl> impl_;
  Impl& impl() const;
};

// An op recorded in the graph. An op struct derives from Node, saves what its backward needs in named members,
// and implements backward(): one gradient per input (undefined where needs_input_grad(i) is false or the input gets
// nothing), each a fresh tensor or one it does not write again.
struct Node {
  virtual ~Node() = default;
  virtual const char* name() const = 0;
  virtual std::vector<Tensor> backward(const Tensor& dy) = 0;
  // Drops the saved tensors; called once backward() has run.
  virtual void release_saved() = 0;

  bool needs_input_grad(std::size_t i) const {
    return i < inputs.size() && inputs[i].defined() && inputs[i].requires_grad();
  }

  std::vector<Variable> inputs;
  bool released = false;
  std::string layer;  // the LayerScope it was recorded in; only set while anomaly detection is on

  // Wraps `value` as the output of `node` over `inputs`: recorded (node kept, output requires grad) when grad mode
  // is on and some input requires grad; otherwise a plain variable, and the node with its saved tensors goes.
  static Variable record(Tensor value, std::shared_ptr<Node> node, std::vector<Variable> inputs);
};

// Whether ops record graphs on this thread (true unless a NoGradGuard is alive).
bool grad_enabled();

// Ops run inside the guard's scope record nothing (inference, target features, finite differences).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Anomaly detection (gramgan train --detect-anomaly, like torch.autograd.set_detect_anomaly): while a
// DetectAnomalyGuard is alive, every op's forward output, every gradient a backward produces and every Adam update
// is counted for Inf/NaN (one count_nonfinite reduction each), and the first non-finite one throws an Error naming
// the op, the pass and the layer. Off, each op pays one flag test. The mode is process-wide (set by the CLI's
// thread before training); layer names are per thread.
bool anomaly_detection_enabled();
class DetectAnomalyGuard {
 public:
  DetectAnomalyGuard();
  ~DetectAnomalyGuard();
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool previous_;
};

// Names the layer the ops run inside it belong to, for anomaly messages; scopes nest into "G.res1.0.conv".
// Does nothing (no string is built) while anomaly detection is off.
class LayerScope {
 public:
  explicit LayerScope(const std::string& name);
  ~LayerScope();
  LayerScope(const LayerScope&) = delete;
  LayerScope& operator=(const LayerScope&) = delete;

 private:
  bool active_;
};
std::string current_layer();  // "" outside every scope

// Throws the detect-anomaly Error if `t` holds Inf or NaN: "<op> <pass> produced ... (layer ...)<detail>".
void check_finite(const Tensor& t, const std::string& op, const char* pass, const std::string& layer,
                  const std::string& detail = {});

}  // namespace gramgan::autograd
