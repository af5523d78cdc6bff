// Layers with named parameters over autograd/functions.h, and Adam over a parameter list with the fused kernel.
//
// A Module maps one Variable to one; parameters() lists its trainable leaves with dotted names ("0.weight",
// "res1.norm.gamma") in a fixed order, which is what checkpoints and optimizers key on. Initial values come from
// a RandomStream, so a (seed, offset) pair reproduces a model on every device.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "autograd/functions.h"
#include "engine/rng.h"

namespace gramgan::autograd::nn {

struct NamedParameter {
  std::string name;
  Variable variable;
};

class Module {
 public:
  virtual ~Module() = default;
  virtual Variable forward(const Variable& x) = 0;
  Variable operator()(const Variable& x) { return forward(x); }

  std::vector<NamedParameter> named_parameters() const;
  std::vector<Variable> parameters() const;
  // Freezes (false) or unfreezes every parameter: a frozen module still passes gradients to its input.
  void set_requires_grad(bool requires_grad);
  // The activation that produces this module's output, when one does (an ActivationLayer, or a Sequential whose
  // last child has one): what tells a ReLU's zeros from a layer's values that happen to be 0.
  virtual std::optional<Activation> output_activation() const { return std::nullopt; }
  // The arithmetic of every float convolution in this module (Precision in kernels/shapes.h): the one setting a
  // model passes down to its layers, so that the launchers pick the kernels.
  virtual void set_precision(Precision) {}
  // Inference only: overwrites x's values with this layer's output and returns true, or returns false where the
  // layer has no in-place form (the default). nn::Sequential calls it with grad mode off, for a value nothing else
  // holds (Variable::sole_owner), so that a normalisation or an activation needs no second full-size tensor.
  virtual bool forward_in_place(Tensor& /*x*/) { return false; }

 protected:
  // Appends this module's parameters, names prefixed by `prefix` ("" or "name.").
  virtual void collect(const std::string& prefix, std::vector<NamedParameter>& out) const;
  friend class Sequential;
};

// What an nn::Conv2d layer is built with: the geometry of ops::Conv2dGeometry and whether it has a bias.
struct Conv2dOptions {
  int stride = 1, pad = 0;
  Padding padding = Padding::zeros;
  bool bias = true;
  bool upsample = false;  // convolve the nearest 2x upsampling of the input, never stored (ops::Conv2dGeometry)
};

// weight (out, in, k, k) and bias (out) uniform in +-1/sqrt(in k k) (PyTorch's default).
class Conv2d : public Module {
 public:
  Conv2d(int in_channels, int out_channels, int kernel, const Conv2dOptions& options, RandomStream& rng,
         DType dtype = DType::float32, const Device& device = Device::cpu());
  Variable forward(const Variable& x) override;

  void set_precision(Precision precision) override { geometry.precision = precision; }

  Variable weight, bias;  // bias undefined without options.bias
  ops::Conv2dGeometry geometry;

 protected:
  void collect(const std::string& prefix, std::vector<NamedParameter>& out) const override;
};

// Affine instance norm: gamma = 1, beta = 0 initially.
class InstanceNorm2d : public Module {
 public:
  explicit InstanceNorm2d(int channels, double eps = 1e-5, DType dtype = DType::float32,
                          const Device& device = Device::cpu());
  Variable forward(const Variable& x) override;
  bool forward_in_place(Tensor& x) override;

  Variable gamma, beta;
  double eps;

 protected:
  void collect(const std::string& prefix, std::vector<NamedParameter>& out) const override;
};

class ActivationLayer : public Module {
 public:
  explicit ActivationLayer(Activation activation, double slope = 0.2) : activation_(activation), slope_(slope) {}
  Variable forward(const Variable& x) override { return activation(activation_, x, slope_); }
  bool forward_in_place(Tensor& x) override;
  std::optional<Activation> output_activation() const override { return activation_; }

 private:
  Activation activation_;
  double slope_;
};

class Pool2x2 : public Module {
 public:
  explicit Pool2x2(Pool pool = Pool::max) : pool_(pool) {}
  Variable forward(const Variable& x) override { return pool2x2(pool_, x); }

 private:
  Pool pool_;
};

class Upsample2x : public Module {
 public:
  Variable forward(const Variable& x) override { return upsample2x(x); }
};

// Runs its children in order; a child's parameters are named "<name>.<parameter>".
class Sequential : public Module {
 public:
  // Returns the added module; `name` defaults to its index.
  template <class M>
  M& add(std::shared_ptr<M> module, std::string name = {}) {
    M& ref = *module;
    children_.emplace_back(name.empty() ? std::to_string(children_.size()) : std::move(name), std::move(module));
    return ref;
  }
  Variable forward(const Variable& x) override;
  // Called after each child module with the number done and the total: progress for long passes on the cpu device,
  // where each layer has finished when its forward returns.
  using LayerDone = std::function<void(std::size_t done, std::size_t total)>;
  Variable forward(const Variable& x, const LayerDone& on_layer_done);
  // Also called after each child, with its name, the child and its output (activation statistics read them).
  using LayerOutput = std::function<void(const std::string& name, const Module& layer, const Variable& output)>;
  Variable forward(const Variable& x, const LayerDone& on_layer_done, const LayerOutput& on_layer_output);
  std::size_t size() const { return children_.size(); }
  std::optional<Activation> output_activation() const override;
  void set_precision(Precision precision) override {
    for (auto& child : children_) child.second->set_precision(precision);
  }

 protected:
  void collect(const std::string& prefix, std::vector<NamedParameter>& out) const override;

 private:
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// Adam (optionally AdamW) over a fixed parameter list; one fused adam_step launch per parameter. Parameters whose
// grad is undefined at step() (frozen, or not reached) are left alone; the bias-correction step counts calls.
class Adam {
 public:
  // config.step is ignored: the optimizer counts its own steps.
  Adam(std::vector<Variable> parameters, const AdamConfig& config);
  void step();
  void zero_grad();
  long long steps() const { return steps_; }
  AdamConfig& config() { return config_; }  // e.g. a learning-rate schedule

  // The state a checkpoint saves, in parameter order: restoring both moments of every parameter and the step
  // count makes the next step() identical to the one an uninterrupted run would take.
  std::size_t size() const { return states_.size(); }
  Tensor& first_moment(std::size_t i) { return states_.at(i).m; }
  Tensor& second_moment(std::size_t i) { return states_.at(i).v; }
  void set_steps(long long steps) { steps_ = steps; }

 private:
  struct State {
    Variable parameter;
    Tensor m, v;
  };
  std::vector<State> states_;
  AdamConfig config_;
  long long steps_ = 0;
};

}  // namespace gramgan::autograd::nn
