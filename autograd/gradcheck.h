// Gradient checks: the analytic gradients autograd computes for each differentiable op (and for a small composed
// generator -> VGG -> losses graph) against central finite differences of the same scalar loss.
//
// For an op that is not a loss the checked scalar is L = mse_loss(op(inputs), R) for a fixed random R (a
// documented variant of sum(op * R): mean((y - R)^2), whose gradient 2 (y - R) / n weights every output
// differently); a loss op is checked on its own value. Every differentiable input is checked: all of its elements
// when it has at most kMaxSamples, otherwise a fixed random sample of kMaxSamples (16 per leaf for "composed").
//
// Numeric derivatives are fourth-order central differences (-L(x+2h) + 8 L(x+h) - 8 L(x-h) + L(x-2h)) / 12h with
// h = h0 max(1, |x|). In double h0 is 1e-2 where the loss is a polynomial of degree <= 4 in one element (exact
// there but for rounding), 1e-4 for tanh, tanh_unit, instance_norm and sqrt TV, 1e-5 for "composed"; in float it
// is 1e-2. Where the second-order estimates at h and 2h disagree (a kink within 2h) the step shrinks tenfold, up
// to three times. Inputs are drawn away from kinks (|x| >= 0.05 for relu and leaky_relu, max_pool windows of
// values 0.1 apart, non-flat images for the sqrt TV with eps 1e-8); "composed" has relus and a max pool on
// unconstrained values, so a rare seed may still put a kink within reach of the step (seed 0 does not).
//
// Relative error per element: |a - n| / max(|a|, |n|, 1e-3 g, 1e-8), where a is the analytic and n the numeric
// derivative and g the largest |a| over all elements of the case's leaves: an element whose gradient cancels to
// nearly zero is judged against the scale of its case rather than against itself. A case passes when its largest
// relative error is below the tolerance: 1e-6 in double, 5e-2 in float (float differences are rough).
//
// Nothing here prints or exits; bad requests throw gramgan::Error.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autograd/variable.h"
#include "engine/device.h"
#include "engine/tensor.h"

namespace gramgan::autograd::gradcheck {

inline constexpr int kMaxSamples = 64;

struct Options {
  Device device = Device::cpu();
  DType dtype = DType::float64;
  std::uint64_t seed = 0;
};

// One check: the leaves whose gradients are compared and the scalar loss over them. `loss` is called once with
// grad mode on (for the analytic gradients) and then under a NoGradGuard with one leaf element shifted at a time.
struct Case {
  std::string op;     // an op_names() entry
  std::string shape;  // a description of the inputs, for the report
  std::vector<Variable> leaves;
  std::function<Variable(const std::vector<Variable>&)> loss;
  int max_samples = kMaxSamples;  // per leaf
  double step = 0;                // h0 in double; 0: default_step(float64)
};

struct CaseResult {
  std::string op, shape;
  double max_abs_error = 0, max_rel_error = 0, tolerance = 0;
  long checked = 0;  // elements compared, over all leaves
  bool pass = false;
};

// The checkable names, in report order: the ops, then "composed".
const std::vector<std::string>& op_names();

double default_tolerance(DType dtype);
double default_step(DType dtype);

// Runs one case. `perturb_analytic`, when given, may alter the analytic gradients (one host vector per leaf) before
// the comparison: how tests prove a wrong gradient is reported.
CaseResult check(const Case& c, const Options& options,
                 const std::function<void(std::vector<std::vector<double>>&)>& perturb_analytic = {});

// The cases of `op` (an op_names() entry, or "all" for every one); throws gramgan::Error for another name, listing
// the valid ones.
std::vector<Case> make_cases(const std::string& op, const Options& options);

// make_cases then check, in order; `on_result` (optional) sees each result as it is produced.
std::vector<CaseResult> run(const std::string& op, const Options& options,
                            const std::function<void(const CaseResult&)>& on_result = {});

}  // namespace gramgan::autograd::gradcheck
