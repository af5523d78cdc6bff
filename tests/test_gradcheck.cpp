// autograd/gradcheck: a wrong gradient is reported as a failure (by a test-only op whose backward is off, and by a
// perturbed analytic gradient), and real ops pass.
#include <gtest/gtest.h>

#include <memory>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "engine/error.h"

namespace {

using gramgan::DType;
using gramgan::Tensor;
using namespace gramgan::autograd;
namespace gc = gramgan::autograd::gradcheck;

// y = 2 x forward, but backward claims dy/dx = 3.
struct WrongDouble : Node {
  std::vector<Tensor> backward(const Tensor& dy) override { return {gramgan::ops::scale(dy, 3.0)}; }
  void release_saved() override {}
  const char* name() const override { return "wrong_double"; }
};

Variable wrong_double(const Variable& x) {
  return Node::record(gramgan::ops::scale(x.value(), 2.0), std::make_shared<WrongDouble>(), {x});
}

gc::Case case_of(std::function<Variable(const Variable&)> f) {
  Tensor x = Tensor::empty({1, 2, 3, 3}, DType::float64);
  x.uniform_(5, 0, -1.0, 1.0);
  Tensor t = Tensor::empty({1, 2, 3, 3}, DType::float64);
  t.uniform_(6, 0, -1.0, 1.0);
  return {"test", "x 1x2x3x3", {Variable(x, true, "x")}, [f, t](const std::vector<Variable>& l) {
            return mse_loss(f(l[0]), t);
          }};
}

TEST(Gradcheck, WrongBackwardFails) {
  const gc::CaseResult r = gc::check(case_of(wrong_double), {});
  EXPECT_FALSE(r.pass);
  EXPECT_GT(r.max_rel_error, 0.1);
  EXPECT_EQ(r.checked, 18);
}

TEST(Gradcheck, PerturbedAnalyticGradientFails) {
  const auto real = [](const Variable& x) { return scale(x, 2.0); };
  EXPECT_TRUE(gc::check(case_of(real), {}).pass);
  const gc::CaseResult r = gc::check(case_of(real), {}, [](std::vector<std::vector<double>>& g) { g[0][7] *= 1.0001; });
  EXPECT_FALSE(r.pass);
}

TEST(Gradcheck, RealOpsPass) {
  for (const char* op : {"scale", "tanh", "conv2d"})
    for (const gc::CaseResult& r : gc::run(op, {}))
      EXPECT_TRUE(r.pass) << r.op << " " << r.shape << " " << r.max_rel_error;
}

TEST(Gradcheck, UnknownOpThrowsListingNames) {
  try {
    gc::make_cases("nope", {});
    ADD_FAILURE();
  } catch (const gramgan::Error& e) {
    EXPECT_NE(std::string(e.what()).find("gram_mse"), std::string::npos);
  }
}

}  // namespace
