// One struct per differentiable op: what forward saves, forward, backward. Inputs are numbered as in `record`.
#include "autograd/functions.h"

#include <atomic>
#include <memory>

namespace gramgan::autograd {
namespace {

std::atomic<std::uint64_t> weight_gradient_launches{0};

struct Conv2d final : Node {
  Tensor x, weight;
  bool has_bias = false;
  ops::Conv2dGeometry geometry;

  static Variable forward(const Variable& x, const Variable& weight, const Variable& bias,
                          const ops::Conv2dGeometry& geometry) {
    auto node = std::make_shared<Conv2d>();
    node->x = x.value();
    node->weight = weight.value();
    node->has_bias = bias.defined();
    node->geometry = geometry;
    Tensor y = ops::conv2d_forward(x.value(), weight.value(), bias.defined() ? &bias.value() : nullptr, geometry);
    return record(std::move(y), node, {x, weight, bias});
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> grads(3);
    if (needs_input_grad(0)) grads[0] = ops::conv2d_backward_data(dy, weight, x.shape(), geometry);
    if (needs_input_grad(1) || needs_input_grad(2)) {
      ++weight_gradient_launches;
      auto dw = ops::conv2d_backward_weight(x, dy, weight.shape(), needs_input_grad(2), geometry);
      grads[1] = std::move(dw.dweight);
      grads[2] = std::move(dw.dbias);
    }
    return grads;
  }
  void release_saved() override { x = weight = Tensor(); }
  const char* name() const override { return "conv2d"; }
};

struct InstanceNorm final : Node {
  Tensor x, gamma, mean, inv_std;

  static Variable forward(const Variable& x, const Variable& gamma, const Variable& beta, double eps) {
    auto out = ops::instance_norm_forward(x.value(), gamma.value(), beta.value(), eps);
    auto node = std::make_shared<InstanceNorm>();
    node->x = x.value();
    node->gamma = gamma.value();
    node->mean = out.mean;
    node->inv_std = out.inv_std;
    return record(std::move(out.y), node, {x, gamma, beta});
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    // One fused kernel gives all three; the parameter gradients are cheap beside dx.
    auto g = ops::instance_norm_backward(x, dy, gamma, mean, inv_std);
    return {std::move(g.dx), std::move(g.dgamma), std::move(g.dbeta)};
  }
  void release_saved() override { x = gamma = mean = inv_std = Tensor(); }
  const char* name() const override { return "instance_norm"; }
};

struct Adain final : Node {
  Tensor content, style;
  ops::AdainOutputs saved;  // y is dropped: backward needs the statistics only

  static Variable forward(const Variable& content, const Variable& style, double eps) {
    auto out = ops::adain_forward(content.value(), style.value(), eps);
    Tensor y = std::move(out.y);
    auto node = std::make_shared<Adain>();
    node->content = content.value();
    node->style = style.value();
    node->saved = std::move(out);
    return record(std::move(y), node, {content, style});
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    auto g = ops::adain_backward(content, style, dy, saved);
    return {std::move(g.dcontent), std::move(g.dstyle)};
  }
  void release_saved() override {
    content = style = Tensor();
    saved = {};
  }
  const char* name() const override { return "adain"; }
};

struct ActivationOp final : Node {
  Activation kind = Activation::relu;
  double slope = 0;
  Tensor x, y;

  static Variable forward(Activation kind, const Variable& x, double slope) {
    auto node = std::make_shared<ActivationOp>();
    node->kind = kind;
    node->slope = slope;
    node->x = x.value();
    node->y = ops::activation_forward(kind, x.value(), slope);
    Tensor y = node->y;
    return record(std::move(y), node, {x});
  }
  std::vector<Tensor> backward(const Tensor& dy) override { return {ops::activation_backward(kind, x, y, dy, slope)}; }
  void release_saved() override { x = y = Tensor(); }
  const char* name() const override { return "activation"; }
};

struct Add final : Node {
  static Variable forward(const Variable& a, const Variable& b) {
    return record(ops::add(a.value(), b.value()), std::make_shared<Add>(), {a, b});
  }
  // Both inputs get dy itself: the engine copies before it ever adds into a shared gradient.
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy, dy}; }
  void release_saved() override {}
  const char* name() const override { return "add"; }
};

struct Scale final : Node {
  double alpha = 1;

  static Variable forward(const Variable& x, double alpha) {
    auto node = std::make_shared<Scale>();
    node->alpha = alpha;
    return record(ops::scale(x.value(), alpha), node, {x});
  }
  std::vector<Tensor> backward(const Tensor& dy) override { return {ops::scale(dy, alpha)}; }
  void release_saved() override {}
  const char* name() const override { return "scale"; }
};

struct ChannelAffine final : Node {
  Tensor scale;

  static Variable forward(const Variable& x, const Tensor& scale, const Tensor& shift) {
    auto node = std::make_shared<ChannelAffine>();
    node->scale = scale;
    return record(ops::channel_affine_forward(x.value(), scale, shift), node, {x});
  }
  std::vector<Tensor> backward(const Tensor& dy) override { return {ops::channel_affine_backward(dy, scale)}; }
  void release_saved() override { scale = Tensor(); }
  const char* name() const override { return "channel_affine"; }
};

struct Pool2x2 final : Node {
  Pool pool = Pool::max;
  Tensor x;

  static Variable forward(Pool pool, const Variable& x) {
    auto node = std::make_shared<Pool2x2>();
    node->pool = pool;
    node->x = x.value();
    return record(ops::pool2x2_forward(pool, x.value()), node, {x});
  }
  std::vector<Tensor> backward(const Tensor& dy) override { return {ops::pool2x2_backward(pool, x, dy)}; }
  void release_saved() override { x = Tensor(); }
  const char* name() const override { return "pool2x2"; }
};

struct Upsample2x final : Node {
  static Variable forward(const Variable& x) {
    return record(ops::upsample2x_forward(x.value()), std::make_shared<Upsample2x>(), {x});
  }
  std::vector<Tensor> backward(const Tensor& dy) override { return {ops::upsample2x_backward(dy)}; }
  void release_saved() override {}
  const char* name() const override { return "upsample2x"; }
};

struct Gram final : Node {
  Tensor features;

  static Variable forward(const Variable& features) {
    auto node = std::make_shared<Gram>();
    node->features = features.value();
    return record(ops::gram_forward(features.value()), node, {features});
  }
  std::vector<Tensor> backward(const Tensor& dgram) override { return {ops::gram_backward(features, dgram)}; }
  void release_saved() override { features = Tensor(); }
  const char* name() const override { return "gram"; }
};

// The fused losses: forward saves d(value)/d(input) for each input; backward scales them by dvalue.
struct FusedLoss final : Node {
  const char* op = "";
  std::vector<Tensor> grads;

  static Variable forward(const char* op, Tensor value, std::vector<Tensor> grads, std::vector<Variable> inputs) {
    auto node = std::make_shared<FusedLoss>();
    node->op = op;
    node->grads = std::move(grads);
    return record(std::move(value), node, std::move(inputs));
  }
  std::vector<Tensor> backward(const Tensor& dvalue) override {
    std::vector<Tensor> dx(grads.size());
    for (std::size_t i = 0; i < grads.size(); ++i)
      if (needs_input_grad(i)) dx[i] = ops::scale_by(grads[i], dvalue);
    return dx;
  }
  void release_saved() override { grads.clear(); }
  const char* name() const override { return op; }
};

}  // namespace

Variable conv2d(const Variable& x, const Variable& weight, const Variable& bias, const ops::Conv2dGeometry& geometry) {
  return Conv2d::forward(x, weight, bias, geometry);
}
Variable instance_norm(const Variable& x, const Variable& gamma, const Variable& beta, double eps) {
  return InstanceNorm::forward(x, gamma, beta, eps);
}
Variable adain(const Variable& content, const Variable& style, double eps) {
  return Adain::forward(content, style, eps);
}
Variable activation(Activation kind, const Variable& x, double slope) { return ActivationOp::forward(kind, x, slope); }
Variable add(const Variable& a, const Variable& b) { return Add::forward(a, b); }
Variable scale(const Variable& x, double alpha) { return Scale::forward(x, alpha); }
Variable channel_affine(const Variable& x, const Tensor& scale, const Tensor& shift) {
  return ChannelAffine::forward(x, scale, shift);
}
Variable pool2x2(Pool pool, const Variable& x) { return Pool2x2::forward(pool, x); }
Variable upsample2x(const Variable& x) { return Upsample2x::forward(x); }
Variable gram(const Variable& features) { return Gram::forward(features); }

Variable tv_loss(TvMode mode, const Variable& x, double eps) {
  auto out = ops::tv(mode, x.value(), eps);
  return FusedLoss::forward("tv_loss", std::move(out.value), {std::move(out.grad)}, {x});
}
Variable mse_loss(const Variable& prediction, const Tensor& target) {
  auto out = ops::mse(prediction.value(), target);
  return FusedLoss::forward("mse_loss", std::move(out.value), {std::move(out.grad)}, {prediction});
}
Variable gram_mse_loss(const Variable& features, const Tensor& target_gram) {
  auto out = ops::gram_mse(features.value(), target_gram);
  return FusedLoss::forward("gram_mse_loss", std::move(out.value), {std::move(out.grad)}, {features});
}
Variable lsgan_d_loss(const Variable& score_real, const Variable& score_fake) {
  auto out = ops::lsgan_d(score_real.value(), score_fake.value());
  return FusedLoss::forward("lsgan_d_loss", std::move(out.value),
                            {std::move(out.dscore_real), std::move(out.dscore_fake)}, {score_real, score_fake});
}
Variable lsgan_g_loss(const Variable& score_fake) {
  auto out = ops::lsgan_g(score_fake.value());
  return FusedLoss::forward("lsgan_g_loss", std::move(out.value), {std::move(out.grad)}, {score_fake});
}

std::uint64_t conv2d_weight_gradient_launches() { return weight_gradient_launches.load(); }

}  // namespace gramgan::autograd
