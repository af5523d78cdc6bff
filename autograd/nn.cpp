#include "autograd/nn.h"

#include <cmath>

#include "engine/error.h"

namespace gramgan::autograd::nn {

// ---- Module ------------------------------------------------------------------------------------------------------

void Module::collect(const std::string&, std::vector<NamedParameter>&) const {}

std::vector<NamedParameter> Module::named_parameters() const {
  std::vector<NamedParameter> out;
  collect("", out);
  return out;
}

std::vector<Variable> Module::parameters() const {
  std::vector<Variable> out;
  for (NamedParameter& p : named_parameters()) out.push_back(std::move(p.variable));
  return out;
}

void Module::set_requires_grad(bool requires_grad) {
  for (NamedParameter& p : named_parameters()) p.variable.set_requires_grad(requires_grad);
}

// ---- Conv2d ------------------------------------------------------------------------------------------------------

Conv2d::Conv2d(int in_channels, int out_channels, int kernel, const Conv2dOptions& options, RandomStream& rng,
               DType dtype, const Device& device)
    : geometry{options.stride, options.pad, options.padding, Precision::fp32, options.upsample} {
  if (in_channels < 1 || out_channels < 1 || kernel < 1)
    throw Error("Conv2d: channels and kernel must be positive; got in " + std::to_string(in_channels) + ", out " +
                std::to_string(out_channels) + ", kernel " + std::to_string(kernel));
  const double bound = 1.0 / std::sqrt(double(in_channels) * kernel * kernel);
  Tensor w = Tensor::empty({out_channels, in_channels, kernel, kernel}, dtype, device);
  weight = Variable(rng.uniform_(w, -bound, bound), true, "weight");
  if (options.bias) {
    Tensor b = Tensor::empty({out_channels}, dtype, device);
    bias = Variable(rng.uniform_(b, -bound, bound), true, "bias");
  }
}

Variable Conv2d::forward(const Variable& x) { return conv2d(x, weight, bias, geometry); }

void Conv2d::collect(const std::string& prefix, std::vector<NamedParameter>& out) const {
  out.push_back({prefix + "weight", weight});
  if (bias.defined()) out.push_back({prefix + "bias", bias});
}

// ---- InstanceNorm2d ----------------------------------------------------------------------------------------------

InstanceNorm2d::InstanceNorm2d(int channels, double epsilon, DType dtype, const Device& device)
    : gamma(Tensor::full({channels}, 1.0, dtype, device), true, "gamma"),
      beta(Tensor::zeros({channels}, dtype, device), true, "beta"),
      eps(epsilon) {}

Variable InstanceNorm2d::forward(const Variable& x) { return instance_norm(x, gamma, beta, eps); }

bool InstanceNorm2d::forward_in_place(Tensor& x) {
  ops::instance_norm_forward_in_place(x, gamma.value(), beta.value(), eps);
  return true;
}

void InstanceNorm2d::collect(const std::string& prefix, std::vector<NamedParameter>& out) const {
  out.push_back({prefix + "gamma", gamma});
  out.push_back({prefix + "beta", beta});
}

bool ActivationLayer::forward_in_place(Tensor& x) {
  ops::activation_forward_in_place(activation_, x, slope_);
  return true;
}

// ---- Sequential --------------------------------------------------------------------------------------------------

Variable Sequential::forward(const Variable& x) { return forward(x, {}); }

Variable Sequential::forward(const Variable& x, const LayerDone& on_layer_done) {
  return forward(x, on_layer_done, {});
}

Variable Sequential::forward(const Variable& x, const LayerDone& on_layer_done, const LayerOutput& on_layer_output) {
  Variable y = x;
  std::size_t done = 0;
  // With grad mode off, a child's output that nothing else holds goes through the next child in place where it can.
  // Never the caller's x (y shares its node until the first child returns), and not under anomaly detection, which
  // checks each op's output as the op returns it.
  const bool in_place = !grad_enabled() && !anomaly_detection_enabled();
  for (auto& [name, module] : children_) {
    const LayerScope scope(name);
    Tensor values = in_place && y.sole_owner() ? y.value() : Tensor();
    if (!(values.defined() && module->forward_in_place(values))) y = module->forward(y);
    if (on_layer_output) on_layer_output(name, *module, y);
    if (on_layer_done) on_layer_done(++done, children_.size());
  }
  return y;
}

std::optional<Activation> Sequential::output_activation() const {
  return children_.empty() ? std::nullopt : children_.back().second->output_activation();
}

void Sequential::collect(const std::string& prefix, std::vector<NamedParameter>& out) const {
  for (const auto& [name, module] : children_) module->collect(prefix + name + ".", out);
}

// ---- Adam --------------------------------------------------------------------------------------------------------

Adam::Adam(std::vector<Variable> parameters, const AdamConfig& config) : config_(config) {
  for (Variable& p : parameters) {
    if (!p.defined() || !p.is_leaf())
      throw Error("Adam: parameters must be defined leaf variables; '" + (p.defined() ? p.name() : std::string()) +
                  "' is not");
    const Tensor& value = p.value();
    states_.push_back({std::move(p), Tensor::zeros(value.shape(), value.dtype(), value.device()),
                       Tensor::zeros(value.shape(), value.dtype(), value.device())});
  }
}

void Adam::step() {
  AdamConfig config = config_;
  config.step = ++steps_;
  for (State& s : states_) {
    const Tensor& grad = s.parameter.grad();
    if (!grad.defined()) continue;
    Tensor value = s.parameter.value();  // shares storage: updated in place
    ops::adam_step(config, value, grad, s.m, s.v);
    if (anomaly_detection_enabled())
      check_finite(value, "adam_step", "update", current_layer(), ", parameter '" + s.parameter.name() + "'");
  }
}

void Adam::zero_grad() {
  for (State& s : states_) s.parameter.zero_grad();
}

}  // namespace gramgan::autograd::nn
