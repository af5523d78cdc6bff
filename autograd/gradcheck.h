// Gradient checks: the analytic gradients autograd computes for each differentiable op (and for a small composed
// generator -> VGG -> losses graph) against central finite differences of the same scalar.
//
// The checked scalar is L = sum(y * R) over the case's output y with a fixed random R in [-1, 1] (rounded to the
// dtype); a loss (a 1-element y) is checked on its own value (R = 1). The analytic gradient is y.backward(R). For
// the finite differences y is copied to the host and L summed there in double, so only the op's own rounding enters
// and the many outputs a shifted element does not touch cancel exactly. Every differentiable input is checked: all
// of its elements when it has at most kMaxSamples, otherwise a fixed random sample of kMaxSamples (16 per leaf for
// "composed").
//
// Numeric derivatives are fourth-order central differences (-L(x+2h) + 8 L(x+h) - 8 L(x-h) + L(x-2h)) / 12h with
// h = h0 max(1, |x|); h0 is per case and dtype (Case::step, Case::float_step): in double 1e-2 where the scalar is
// a polynomial of degree <= 4 in one element, else 1e-4; in float 2e-2, 5e-3 for "composed" (fewer kinks in reach).
// Kinks are tracked, not guessed: a case's forward reports its branch decisions (the sign of every relu / leaky_relu
// input, the winner of every max-pool window) to a Branches; when any of them differs between x and one of x +- h, x +-
// 2h, the stencil straddles a kink and the step shrinks tenfold, up to kMaxShrinks times (kMaxFloatShrinks in float); a
// coordinate still straddling one is replaced by another random coordinate of the same leaf, at most as many
// replacements as samples per leaf, or dropped when none is left (a leaf checked whole has none). Both counts are
// reported. The per-op inputs are drawn away from kinks; "composed" has relus, a leaky relu and a max pool on
// unconstrained values.
//
// Criterion, per compared element with analytic a and numeric n: |a - n| <= max(atol, rtol max(|a|, |n|)), i.e.
// the relative error |a - n| / max(|a|, |n|, atol / rtol) is below rtol; g is the largest |a| of the case.
//   double: rtol 1e-6, atol 1e-9 g (and >= 1e-14): an element whose gradient cancels to nearly zero is judged
//           against 1e-3 of its case's scale rather than against itself.
//   float:  rtol 1e-4 (the float analytic gradient's own rounding) and, per coordinate, atol its finite-difference
//           noise floor kNoiseFactor * eps_float * 1.5 sqrt(S) / h, never below 1e-7 g: S sums (max(|y_j|, rms y)
//           R_j)^2 over the outputs the shift changed (the largest of the four evaluations; a loss always counts),
//           whose rounding of about eps |y_j R_j| each (no less than at the rms output: cancellation) adds up like a
//           random walk, and 1.5 = (1 + 8 + 8 + 1) / 12 weighs the
//           stencil. Shifted inputs are rounded to float first and the derivative taken through the offsets as
//           stored (stencil_derivative), so input rounding adds nothing. Truncation is negligible next to the
//           noise at the float steps: the scalar is a polynomial of degree <= 4 in one element (exact), or smooth
//           on a scale much larger than h (sqrt TV gets non-flat inputs for that).
// CaseResult reports rtol and the largest atol applied; kNoiseFactor leaves a margin of about 3 over the largest
// error seen on seeds 0..9, while a gradient 1% off still fails every case (tests/test_gradcheck.cpp).
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
// Tenfold step shrinks before a coordinate with a kink in reach is replaced: in float each shrink multiplies the
// noise floor by ten, so one at most.
inline constexpr int kMaxShrinks = 3, kMaxFloatShrinks = 1;
inline constexpr double kNoiseFactor = 4;

struct Options {
  Device device = Device::cpu();
  DType dtype = DType::float64;
  std::uint64_t seed = 0;
};

// The branch decisions of one forward pass, in the order the forward makes them.
class Branches {
 public:
  void relu_input(const Variable& x);      // x > 0 per element (relu and leaky_relu)
  void max_pool_input(const Variable& x);  // the first maximum of each 2x2 window, as pool2x2 picks it
  const std::vector<std::uint8_t>& taken() const { return taken_; }

 private:
  std::vector<std::uint8_t> taken_;
};

// One check: the leaves whose gradients are compared and the function over them. `forward` is called once with
// grad mode on (for the analytic gradients) and then under a NoGradGuard with one leaf element shifted at a time;
// when given a Branches it reports every kinked decision it takes into it.
struct Case {
  std::string op;     // an op_names() entry
  std::string shape;  // a description of the inputs, for the report
  std::vector<Variable> leaves;
  std::function<Variable(const std::vector<Variable>&, Branches*)> forward;
  int max_samples = kMaxSamples;  // per leaf
  double step = 1e-4;             // h0 in double
  double float_step = 2e-2;       // h0 in float
};

struct CaseResult {
  std::string op, shape;
  double max_abs_error = 0, max_rel_error = 0;
  double atol = 0, rtol = 0;  // as applied (atol: the largest); pass when max_rel_error < rtol (see above)
  long checked = 0;           // elements compared, over all leaves
  long shrunk = 0;            // coordinates whose step shrank because a kink lay within it
  long resampled = 0;         // coordinates replaced (or dropped) because a kink stayed within the smallest step
  bool pass = false;
};

// The checkable names, in report order: the ops, then "composed".
const std::vector<std::string>& op_names();

// rtol of the criterion above.
double relative_tolerance(DType dtype);
// In double, atol is this fraction of g (the case's largest analytic gradient).
inline constexpr double kDoubleAtolOfLargest = 1e-9;

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
