// Gradient checks against central finite differences; see gradcheck.h.
#include "autograd/gradcheck.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <random>

#include "autograd/functions.h"
#include "engine/error.h"

namespace gramgan::autograd::gradcheck {
namespace {

std::vector<double> host_values(const Tensor& t) {
  if (t.dtype() == DType::float64) return t.to_host<double>();
  const std::vector<float> f = t.to_host<float>();
  return std::vector<double>(f.begin(), f.end());
}

Tensor device_tensor(const std::vector<double>& values, const Shape& shape, DType dtype, const Device& device) {
  if (dtype == DType::float64) return Tensor::from_host(std::span<const double>(values), shape, device);
  const std::vector<float> f(values.begin(), values.end());
  return Tensor::from_host(std::span<const float>(f), shape, device);
}

double scalar(const Variable& v) { return host_values(v.value())[0]; }

std::string dims(const Shape& s) {
  std::string out;
  for (std::int64_t d : s) out += (out.empty() ? "" : "x") + std::to_string(d);
  return out;
}

// Draws the tensors of the cases of one run: a distinct Philox offset per tensor, so a seed reproduces them all.
class Source {
 public:
  explicit Source(const Options& options) : o_(options) {}
  Tensor uniform(const Shape& shape, double low = -1.0, double high = 1.0) {
    Tensor t = Tensor::empty(shape, o_.dtype, o_.device);
    t.uniform_(o_.seed, offset_++ << 32, low, high);
    return t;
  }
  // Uniform in +-[margin, 1]: away from the kink at 0.
  Tensor away_from_zero(const Shape& shape, double margin = 0.05) {
    std::vector<double> v = host_values(uniform(shape));
    for (double& x : v) x = std::copysign(margin + (1.0 - margin) * std::abs(x), x);
    return device_tensor(v, shape, o_.dtype, o_.device);
  }
  // Every 2x2 pooling window holds a random offset plus a permutation of {0, 0.1, 0.2, 0.3}.
  Tensor distinct_windows(const Shape& shape) {
    std::vector<double> v = host_values(uniform(shape));
    std::mt19937_64 rng(o_.seed * 7919 + offset_++);
    const std::int64_t h = shape[2], w = shape[3], planes = shape[0] * shape[1];
    for (std::int64_t p = 0; p < planes; ++p)
      for (std::int64_t i = 0; i + 1 < h; i += 2)
        for (std::int64_t j = 0; j + 1 < w; j += 2) {
          std::array<int, 4> order{0, 1, 2, 3};
          std::shuffle(order.begin(), order.end(), rng);
          const double base = v[(p * h + i) * w + j];
          for (int k = 0; k < 4; ++k) v[(p * h + i + k / 2) * w + j + k % 2] = base + 0.1 * order[k];
        }
    return device_tensor(v, shape, o_.dtype, o_.device);
  }
  Variable leaf(Tensor t, const char* name) { return Variable(std::move(t), true, name); }

 private:
  const Options& o_;
  std::uint64_t offset_ = 1;
};

using Leaves = std::vector<Variable>;

// L = mse_loss(f(leaves), R) for a fixed random R of f's output shape.
Case output_case(Source& src, std::string op, std::string shape, Leaves leaves,
                 std::function<Variable(const Leaves&)> f) {
  Variable probe;
  {
    const NoGradGuard no_grad;
    probe = f(leaves);
  }
  const Tensor r = src.uniform(probe.value().shape());
  return {std::move(op), std::move(shape), std::move(leaves),
          [f = std::move(f), r](const Leaves& l) { return mse_loss(f(l), r); }};
}

std::string conv_desc(const Shape& x, const Shape& w, int stride, int pad, Padding padding) {
  return "x " + dims(x) + " w " + dims(w) + " s" + std::to_string(stride) + " p" + std::to_string(pad) +
         (padding == Padding::reflect ? " reflect" : " zeros");
}

void conv_cases(Source& src, std::vector<Case>& out) {
  struct C {
    Shape x;
    int cout, k, stride, pad;
    Padding padding;
    bool bias;
  };
  const C configs[] = {
      {{2, 3, 5, 7}, 4, 1, 1, 0, Padding::zeros, true},   {{2, 2, 7, 6}, 3, 3, 1, 1, Padding::zeros, true},
      {{1, 3, 7, 9}, 2, 3, 2, 1, Padding::reflect, true}, {{2, 2, 9, 7}, 3, 4, 2, 1, Padding::zeros, false},
      {{1, 2, 8, 7}, 2, 4, 1, 2, Padding::reflect, true}, {{1, 2, 11, 10}, 2, 9, 1, 4, Padding::reflect, true},
      {{2, 1, 12, 11}, 2, 9, 2, 4, Padding::zeros, true},
  };
  for (const C& c : configs) {
    const Shape ws{c.cout, c.x[1], c.k, c.k};
    Leaves leaves{src.leaf(src.uniform(c.x), "x"), src.leaf(src.uniform(ws, -0.5, 0.5), "weight")};
    if (c.bias) leaves.push_back(src.leaf(src.uniform({c.cout}), "bias"));
    const ops::Conv2dParams params{c.stride, c.pad, c.padding};
    const bool bias = c.bias;
    out.push_back(output_case(
        src, "conv2d", conv_desc(c.x, ws, c.stride, c.pad, c.padding) + (bias ? "" : " nobias"), std::move(leaves),
        [params, bias](const Leaves& l) { return conv2d(l[0], l[1], bias ? l[2] : Variable(), params); }));
  }
}

void activation_cases(Source& src, std::vector<Case>& out, const char* op, Activation kind) {
  const bool kinked = kind == Activation::relu || kind == Activation::leaky_relu;
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 1, 13, 17}}) {
    const Tensor x = kinked ? src.away_from_zero(s) : src.uniform(s, -2.0, 2.0);
    out.push_back(output_case(src, op, "x " + dims(s), {src.leaf(x, "x")},
                              [kind](const Leaves& l) { return activation(kind, l[0], 0.2); }));
  }
}

std::vector<Case> cases_of(const std::string& op, const Options& options) {
  Source src(options);
  std::vector<Case> out;
  const Shape odd{2, 3, 5, 7}, big{1, 2, 13, 11};
  if (op == "conv2d") conv_cases(src, out);
  if (op == "instance_norm")
    for (const Shape& s : {odd, big}) {
      const Shape c{s[1]};
      out.push_back(output_case(src, op, "x " + dims(s),
                                {src.leaf(src.uniform(s), "x"), src.leaf(src.uniform(c, 0.5, 1.5), "gamma"),
                                 src.leaf(src.uniform(c), "beta")},
                                [](const Leaves& l) { return instance_norm(l[0], l[1], l[2], 1e-5); }));
    }
  if (op == "relu") activation_cases(src, out, "relu", Activation::relu);
  if (op == "leaky_relu") activation_cases(src, out, "leaky_relu", Activation::leaky_relu);
  if (op == "tanh") activation_cases(src, out, "tanh", Activation::tanh);
  if (op == "tanh_unit") activation_cases(src, out, "tanh_unit", Activation::tanh_unit);
  if (op == "add")
    for (const Shape& s : {odd, big})
      out.push_back(output_case(src, op, "a, b " + dims(s),
                                {src.leaf(src.uniform(s), "a"), src.leaf(src.uniform(s), "b")},
                                [](const Leaves& l) { return add(l[0], l[1]); }));
  if (op == "scale")
    for (const Shape& s : {odd, big})
      out.push_back(output_case(src, op, "x " + dims(s) + " alpha -1.7", {src.leaf(src.uniform(s), "x")},
                                [](const Leaves& l) { return scale(l[0], -1.7); }));
  if (op == "channel_affine")
    for (const Shape& s : {odd, big}) {
      const Tensor sc = src.uniform({s[1]}, 0.5, 2.0), sh = src.uniform({s[1]});
      out.push_back(output_case(src, op, "x " + dims(s), {src.leaf(src.uniform(s), "x")},
                                [sc, sh](const Leaves& l) { return channel_affine(l[0], sc, sh); }));
    }
  if (op == "max_pool" || op == "avg_pool") {
    const Pool pool = op == "max_pool" ? Pool::max : Pool::average;
    for (const Shape& s : {Shape{2, 3, 6, 8}, Shape{1, 2, 7, 9}}) {
      const Tensor x = pool == Pool::max ? src.distinct_windows(s) : src.uniform(s);
      out.push_back(output_case(src, op, "x " + dims(s), {src.leaf(x, "x")},
                                [pool](const Leaves& l) { return pool2x2(pool, l[0]); }));
    }
  }
  if (op == "upsample")
    for (const Shape& s : {odd, Shape{1, 2, 4, 3}})
      out.push_back(output_case(src, op, "x " + dims(s), {src.leaf(src.uniform(s), "x")},
                                [](const Leaves& l) { return upsample2x(l[0]); }));
  if (op == "gram")
    for (const Shape& s : {odd, Shape{2, 5, 9, 7}})
      out.push_back(output_case(src, op, "x " + dims(s), {src.leaf(src.uniform(s), "x")},
                                [](const Leaves& l) { return gram(l[0]); }));
  if (op == "tv_sqrt" || op == "tv_squared") {
    const TvMode mode = op == "tv_sqrt" ? TvMode::sqrt : TvMode::squared;
    for (const Shape& s : {odd, big})
      out.push_back({op,
                     "x " + dims(s) + (mode == TvMode::sqrt ? " eps 1e-8" : ""),
                     {src.leaf(src.uniform(s), "x")},
                     [mode](const Leaves& l) { return tv_loss(mode, l[0], 1e-8); }});
  }
  if (op == "mse")
    for (const Shape& s : {odd, big}) {
      const Tensor t = src.uniform(s);
      out.push_back({op, "prediction " + dims(s), {src.leaf(src.uniform(s), "prediction")}, [t](const Leaves& l) {
                       return mse_loss(l[0], t);
                     }});
    }
  if (op == "gram_mse")
    for (const Shape& s : {odd, Shape{2, 5, 9, 7}}) {
      const Tensor t = src.uniform({s[1], s[1]}, 0.0, 0.3);
      out.push_back({op, "features " + dims(s), {src.leaf(src.uniform(s), "features")}, [t](const Leaves& l) {
                       return gram_mse_loss(l[0], t);
                     }});
    }
  if (op == "lsgan_d")
    for (const Shape& s : {Shape{2, 1, 5, 7}, Shape{3, 1, 4, 4}})
      out.push_back({op,
                     "d_real, d_fake " + dims(s),
                     {src.leaf(src.uniform(s), "d_real"), src.leaf(src.uniform(s), "d_fake")},
                     [](const Leaves& l) { return lsgan_d_loss(l[0], l[1]); }});
  if (op == "lsgan_g")
    for (const Shape& s : {Shape{2, 1, 5, 7}, Shape{3, 1, 4, 4}})
      out.push_back({op, "d_fake " + dims(s), {src.leaf(src.uniform(s), "d_fake")}, [](const Leaves& l) {
                       return lsgan_g_loss(l[0]);
                     }});
  if (op == "composed") {
    // Generator (trainable): conv 9x9 reflect -> IN -> relu -> conv 3x3 s2 -> IN -> relu -> upsample -> conv 3x3
    // reflect -> tanh_unit. VGG-like (frozen): channel_affine -> conv 3x3 -> relu -> max pool -> conv 3x3.
    // Discriminator (frozen): conv 4x4 s2 -> leaky_relu -> conv 3x3. Loss: content MSE + Gram MSE + LSGAN G + TV.
    const Shape xs{2, 3, 10, 10};
    Leaves g{src.leaf(src.uniform(xs, 0.0, 1.0), "image"),
             src.leaf(src.uniform({4, 3, 9, 9}, -0.15, 0.15), "g.0.weight"),
             src.leaf(src.uniform({4}, -0.1, 0.1), "g.0.bias"),
             src.leaf(src.uniform({4}, 0.5, 1.5), "g.1.gamma"),
             src.leaf(src.uniform({4}, -0.2, 0.2), "g.1.beta"),
             src.leaf(src.uniform({6, 4, 3, 3}, -0.3, 0.3), "g.3.weight"),
             src.leaf(src.uniform({6}, -0.1, 0.1), "g.3.bias"),
             src.leaf(src.uniform({6}, 0.5, 1.5), "g.4.gamma"),
             src.leaf(src.uniform({6}, -0.2, 0.2), "g.4.beta"),
             src.leaf(src.uniform({3, 6, 3, 3}, -0.3, 0.3), "g.7.weight"),
             src.leaf(src.uniform({3}, -0.1, 0.1), "g.7.bias")};
    const Variable vs{src.uniform({3}, 2.0, 4.0)}, vh{src.uniform({3}, -2.0, -1.0)};
    const Variable v1w{src.uniform({4, 3, 3, 3}, -0.4, 0.4)}, v1b{src.uniform({4}, -0.1, 0.1)};
    const Variable v2w{src.uniform({5, 4, 3, 3}, -0.3, 0.3)}, v2b{src.uniform({5}, -0.1, 0.1)};
    const Variable d1w{src.uniform({4, 3, 4, 4}, -0.3, 0.3)}, d1b{src.uniform({4}, -0.1, 0.1)};
    const Variable d2w{src.uniform({1, 4, 3, 3}, -0.3, 0.3)}, d2b{src.uniform({1}, -0.1, 0.1)};
    const Tensor scale_c = vs.value(), shift_c = vh.value();
    auto vgg = [=](const Variable& x) {
      Variable h = channel_affine(x, scale_c, shift_c);
      h = activation(Activation::relu, conv2d(h, v1w, v1b, {1, 1, Padding::zeros}));
      return conv2d(pool2x2(Pool::max, h), v2w, v2b, {1, 1, Padding::zeros});
    };
    Tensor content, style_gram;
    {
      const NoGradGuard no_grad;
      content = vgg(g[0]).value();
      style_gram = src.uniform({5, 5}, 0.0, 0.5);
    }
    out.push_back({op, "image " + dims(xs) + ", 10 generator params", std::move(g),
                   [=](const Leaves& l) {
                     Variable h = conv2d(l[0], l[1], l[2], {1, 4, Padding::reflect});
                     h = activation(Activation::relu, instance_norm(h, l[3], l[4], 1e-5));
                     h = conv2d(h, l[5], l[6], {2, 1, Padding::zeros});
                     h = activation(Activation::relu, instance_norm(h, l[7], l[8], 1e-5));
                     h = conv2d(upsample2x(h), l[9], l[10], {1, 1, Padding::reflect});
                     const Variable y = activation(Activation::tanh_unit, h);
                     const Variable f = vgg(y);
                     Variable d = activation(Activation::leaky_relu, conv2d(y, d1w, d1b, {2, 1, Padding::zeros}), 0.2);
                     d = conv2d(d, d2w, d2b, {1, 1, Padding::zeros});
                     Variable loss = mse_loss(f, content);
                     loss = add(loss, scale(gram_mse_loss(f, style_gram), 10.0));
                     loss = add(loss, lsgan_g_loss(d));
                     return add(loss, scale(tv_loss(TvMode::sqrt, y, 1e-8), 0.1));
                   },
                   16, 1e-5});  // small steps: the relus and the max pool have kinks
  }
  // The loss is a polynomial of degree <= 4 in any one element (conv, add, scale, channel_affine, resampling, gram,
  // squared TV, the quadratic losses) or piecewise so with every kink more than 2h away (relu, leaky_relu and
  // max_pool inputs above), where the five-point stencil is exact but for rounding: a large step keeps rounding
  // small. tanh, tanh_unit, instance_norm and sqrt TV keep the default step.
  static const char* const smooth[] = {"tanh", "tanh_unit", "instance_norm", "tv_sqrt", "composed"};
  if (std::find(std::begin(smooth), std::end(smooth), op) == std::end(smooth))
    for (Case& c : out) c.step = 1e-2;
  return out;
}

}  // namespace

const std::vector<std::string>& op_names() {
  static const std::vector<std::string> names = {
      "conv2d",         "instance_norm", "relu",     "leaky_relu", "tanh", "tanh_unit", "add",        "scale",
      "channel_affine", "max_pool",      "avg_pool", "upsample",   "gram", "tv_sqrt",   "tv_squared", "mse",
      "gram_mse",       "lsgan_d",       "lsgan_g",  "composed"};
  return names;
}

double default_tolerance(DType dtype) { return dtype == DType::float64 ? 1e-6 : 5e-2; }
double default_step(DType dtype) { return dtype == DType::float64 ? 1e-4 : 1e-2; }

CaseResult check(const Case& c, const Options& options,
                 const std::function<void(std::vector<std::vector<double>>&)>& perturb_analytic) {
  CaseResult result{c.op, c.shape, 0, 0, default_tolerance(options.dtype), 0, false};
  Leaves leaves = c.leaves;
  for (const Variable& leaf : leaves) leaf.zero_grad();
  {
    const Variable loss = c.loss(leaves);
    if (loss.value().numel() != 1)
      throw Error("gradcheck " + c.op + ": the loss has " + std::to_string(loss.value().numel()) + " elements, not 1");
    loss.backward();
  }
  std::vector<std::vector<double>> analytic;
  for (const Variable& leaf : leaves) {
    if (!leaf.grad().defined())
      analytic.emplace_back(static_cast<std::size_t>(leaf.value().numel()), 0.0);
    else
      analytic.push_back(host_values(leaf.grad()));
  }
  if (perturb_analytic) perturb_analytic(analytic);
  double gmax = 0;
  for (const auto& g : analytic)
    for (double a : g) gmax = std::max(gmax, std::abs(a));
  const double floor = std::max(1e-8, 1e-3 * gmax);

  const double h0 = options.dtype == DType::float64 && c.step > 0 ? c.step : default_step(options.dtype);
  // In float the loss's own rounding makes the two estimates disagree by ~1e-3 anywhere, and smaller steps only
  // amplify that rounding: a looser kink test and at most one shrink.
  const bool is_double = options.dtype == DType::float64;
  const double kink_threshold = is_double ? 1e-4 : 1e-2;
  const int kink_attempts = is_double ? 4 : 2;
  struct Pair {
    double a, n;
  };
  std::vector<Pair> pairs;
  const NoGradGuard no_grad;
  for (std::size_t k = 0; k < leaves.size(); ++k) {
    const Variable original = leaves[k];
    const std::vector<double> base = host_values(original.value());
    std::vector<std::size_t> index(base.size());
    std::iota(index.begin(), index.end(), std::size_t{0});
    if (index.size() > std::size_t(c.max_samples)) {
      std::mt19937_64 rng(options.seed * 1000003 + k);
      std::shuffle(index.begin(), index.end(), rng);
      index.resize(std::size_t(c.max_samples));
      std::sort(index.begin(), index.end());
    }
    std::vector<double> shifted = base;
    const Shape shape = original.value().shape();
    const auto loss_at = [&](std::size_t i, double x) {
      shifted[i] = x;
      leaves[k] = Variable(device_tensor(shifted, shape, options.dtype, options.device));
      return scalar(c.loss(leaves));
    };
    for (std::size_t i : index) {
      // Fourth-order central differences: (-L(x+2h) + 8 L(x+h) - 8 L(x-h) + L(x-2h)) / 12h. Where the two
      // second-order estimates at h and 2h disagree by more than 1e-4 (relative), a kink (relu, max pool) lies within
      // 2h: the step shrinks tenfold, up to three times, and the estimate whose two agree best is kept. Disagreement
      // is relative with the floor of the error below; float uses a looser test (see kink_threshold).
      double h = h0 * std::max(1.0, std::abs(base[i])), numeric = 0, best = HUGE_VAL;
      for (int attempt = 0; attempt < kink_attempts; ++attempt, h /= 10) {
        const double p2 = loss_at(i, base[i] + 2 * h), p1 = loss_at(i, base[i] + h);
        const double m1 = loss_at(i, base[i] - h), m2 = loss_at(i, base[i] - 2 * h);
        const double d1 = (p1 - m1) / (2 * h), d2 = (p2 - m2) / (4 * h);
        const double disagreement = std::abs(d1 - d2) / std::max({std::abs(d1), std::abs(d2), floor});
        if (disagreement < best) {
          best = disagreement;
          numeric = (-p2 + 8 * p1 - 8 * m1 + m2) / (12 * h);
        }
        if (disagreement <= kink_threshold) break;
      }
      shifted[i] = base[i];
      pairs.push_back({analytic[k][i], numeric});
    }
    leaves[k] = original;
  }
  for (const Pair& p : pairs) {
    const double err = std::abs(p.a - p.n);
    result.max_abs_error = std::max(result.max_abs_error, err);
    const double rel = err / std::max({std::abs(p.a), std::abs(p.n), floor});
    result.max_rel_error = std::max(result.max_rel_error, std::isfinite(rel) ? rel : HUGE_VAL);
  }
  result.checked = long(pairs.size());
  result.pass = result.checked > 0 && result.max_rel_error < result.tolerance;
  return result;
}

std::vector<Case> make_cases(const std::string& op, const Options& options) {
  const auto& names = op_names();
  if (op != "all" && std::find(names.begin(), names.end(), op) == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw Error("gradcheck: unknown op '" + op + "' (valid: all, " + list + ")");
  }
  std::vector<Case> out;
  for (const auto& name : names)
    if (op == "all" || op == name)
      for (Case& c : cases_of(name, options)) out.push_back(std::move(c));
  return out;
}

std::vector<CaseResult> run(const std::string& op, const Options& options,
                            const std::function<void(const CaseResult&)>& on_result) {
  std::vector<CaseResult> results;
  for (const Case& c : make_cases(op, options)) {
    results.push_back(check(c, options));
    if (on_result) on_result(results.back());
  }
  return results;
}

}  // namespace gramgan::autograd::gradcheck
