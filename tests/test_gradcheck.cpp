// autograd/gradcheck: a wrong gradient is reported as a failure in double and in float (by a test-only op whose
// backward is off, and by perturbed analytic gradients), real ops pass, and a kink within the step is handled.
#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <string>

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

gc::Options options_of(DType dtype) {
  gc::Options options;
  options.dtype = dtype;
  return options;
}

gc::Case case_of(std::function<Variable(const Variable&)> f, DType dtype) {
  Tensor x = Tensor::empty({1, 2, 3, 3}, dtype);
  x.uniform_(5, 0, -1.0, 1.0);
  return {"test", "x 1x2x3x3", {Variable(x, true, "x")}, [f](const std::vector<Variable>& l, gc::Branches*) {
            return f(l[0]);
          }};
}

class GradcheckDtype : public ::testing::TestWithParam<DType> {};

TEST_P(GradcheckDtype, WrongBackwardFails) {
  const gc::CaseResult r = gc::check(case_of(wrong_double, GetParam()), options_of(GetParam()));
  EXPECT_FALSE(r.pass);
  EXPECT_GT(r.max_rel_error, 0.1);
  EXPECT_EQ(r.checked, 18);
}

// A gradient off by 1% in one element, or scaled by 1.01 throughout, fails in either dtype: the float tolerance
// (the finite-difference noise floor) stays well below a percent.
TEST_P(GradcheckDtype, PerturbedAnalyticGradientFails) {
  const gc::Options options = options_of(GetParam());
  const auto real = [](const Variable& x) { return scale(x, 2.0); };
  EXPECT_TRUE(gc::check(case_of(real, GetParam()), options).pass);
  const auto one = [](std::vector<std::vector<double>>& g) { g[0][7] *= 1.01; };
  EXPECT_FALSE(gc::check(case_of(real, GetParam()), options, one).pass);
  const auto all = [](std::vector<std::vector<double>>& g) {
    for (auto& leaf : g)
      for (double& a : leaf) a *= 1.01;
  };
  for (const char* op : {"conv2d", "instance_norm", "relu", "max_pool", "gram", "tv_sqrt", "gram_mse", "lsgan_d"})
    for (const gc::Case& c : gc::make_cases(op, options)) {
      const gc::CaseResult r = gc::check(c, options, all);
      EXPECT_FALSE(r.pass) << r.op << " " << r.shape << " " << r.max_rel_error << " rtol " << r.rtol;
    }
}

TEST_P(GradcheckDtype, RealOpsPass) {
  for (const char* op : {"scale", "tanh", "conv2d", "max_pool", "gram_mse"})
    for (const gc::CaseResult& r : gc::run(op, options_of(GetParam())))
      EXPECT_TRUE(r.pass) << r.op << " " << r.shape << " " << r.max_rel_error << " rtol " << r.rtol;
}

INSTANTIATE_TEST_SUITE_P(Dtypes, GradcheckDtype, ::testing::Values(DType::float64, DType::float32),
                         [](const auto& info) {
                           return std::string(info.param == DType::float64 ? "double" : "float");
                         });

// relu at x with one element inside the step (1e-5 < h = 1e-4): the branch decisions differ within the stencil, the
// step shrinks until they do not, and the gradient checks. One element exactly at the kink can never be checked: it
// is dropped (the leaf has no spare coordinates), and counted.
TEST(Gradcheck, KinkWithinStepShrinksOrDrops) {
  const auto relu_case = [](double at) {
    std::vector<double> v(18);
    for (std::size_t k = 0; k < v.size(); ++k) v[k] = (k % 2 ? -0.5 : 0.5) + 0.01 * double(k);
    v[4] = at;
    const Tensor x = Tensor::from_host(std::span<const double>(v), {1, 2, 3, 3});
    return gc::Case{"relu", "x 1x2x3x3", {Variable(x, true, "x")}, [](const std::vector<Variable>& l, gc::Branches* b) {
                      if (b) b->relu_input(l[0]);
                      return activation(gramgan::Activation::relu, l[0]);
                    }};
  };
  gc::CaseResult r = gc::check(relu_case(1e-5), {});
  EXPECT_TRUE(r.pass) << r.max_rel_error;
  EXPECT_EQ(r.shrunk, 1);
  EXPECT_EQ(r.resampled, 0);
  EXPECT_EQ(r.checked, 18);
  r = gc::check(relu_case(0.0), {});
  EXPECT_TRUE(r.pass) << r.max_rel_error;
  EXPECT_EQ(r.shrunk, 1);
  EXPECT_EQ(r.resampled, 1);
  EXPECT_EQ(r.checked, 17);
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
