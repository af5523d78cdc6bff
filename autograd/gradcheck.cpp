// Gradient checks against central finite differences; see gradcheck.h.
#include "autograd/gradcheck.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
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

// The offsets of the four shifted evaluations, in units of h.
constexpr double kStencil[4] = {2, 1, -1, -2};
constexpr double kComposedFloatStep = 5e-3;

// L'(0) of the degree-4 polynomial through (0, l0) and (t[e], l[e]): the five-point central difference
// (-L(2h) + 8 L(h) - 8 L(-h) + L(-2h)) / 12h when t = (2h, h, -h, -2h), and as exact (for polynomials of degree
// <= 4) when the shifted inputs had to be rounded to the dtype, which moves t off that grid.
double stencil_derivative(const std::array<double, 4>& t, double l0, const double (&l)[4]) {
  double derivative = 0;
  for (int m = 0; m < 4; ++m) {
    double weight = 1 / t[m];
    for (int k = 0; k < 4; ++k)
      if (k != m) weight *= -t[k] / (t[m] - t[k]);
    derivative += weight * l[m];
    derivative -= l0 / t[m];
  }
  return derivative;
}

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
  // Magnitudes in [0.25, 1] with checkerboard signs: every horizontal and vertical difference is at least 0.5, so
  // sqrt TV (a smoothed |difference|) is far from its near-kink at a flat patch, by much more than the steps.
  Tensor non_flat(const Shape& shape) {
    std::vector<double> v = host_values(uniform(shape, 0.25, 1.0));
    const std::int64_t h = shape[2], w = shape[3];
    for (std::size_t k = 0; k < v.size(); ++k)
      if ((k / w % h + k % w) % 2) v[k] = -v[k];
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

// A case whose forward cannot take a kinked branch.
Case smooth_case(std::string op, std::string shape, Leaves leaves, std::function<Variable(const Leaves&)> f) {
  return {std::move(op), std::move(shape), std::move(leaves),
          [f = std::move(f)](const Leaves& l, Branches*) { return f(l); }};
}

std::string conv_desc(const Shape& x, const Shape& w, int stride, int pad, Padding padding, bool upsample) {
  std::string desc = "x " + dims(x) + " w " + dims(w) + " s" + std::to_string(stride) + " p" + std::to_string(pad);
  desc += padding == Padding::reflect ? " reflect" : " zeros";
  if (upsample) desc += " upsample";
  return desc;
}

void conv_cases(Source& src, std::vector<Case>& out) {
  struct C {
    Shape x;
    int cout, k, stride, pad;
    Padding padding;
    bool bias;
    bool upsample = false;
  };
  const C configs[] = {
      {{2, 3, 5, 7}, 4, 1, 1, 0, Padding::zeros, true},       {{2, 2, 7, 6}, 3, 3, 1, 1, Padding::zeros, true},
      {{1, 3, 7, 9}, 2, 3, 2, 1, Padding::reflect, true},     {{2, 2, 9, 7}, 3, 4, 2, 1, Padding::zeros, false},
      {{1, 2, 8, 7}, 2, 4, 1, 2, Padding::reflect, true},     {{1, 2, 11, 10}, 2, 9, 1, 4, Padding::reflect, true},
      {{2, 1, 12, 11}, 2, 9, 2, 4, Padding::zeros, true},     {{1, 2, 4, 3}, 3, 3, 1, 1, Padding::reflect, false, true},
      {{2, 2, 3, 4}, 2, 3, 2, 1, Padding::zeros, true, true},
  };
  for (const C& c : configs) {
    const Shape ws{c.cout, c.x[1], c.k, c.k};
    Leaves leaves{src.leaf(src.uniform(c.x), "x"), src.leaf(src.uniform(ws, -0.5, 0.5), "weight")};
    if (c.bias) leaves.push_back(src.leaf(src.uniform({c.cout}), "bias"));
    const ops::Conv2dGeometry params{c.stride, c.pad, c.padding, Precision::fp32, c.upsample};
    const bool bias = c.bias;
    out.push_back(
        smooth_case("conv2d", conv_desc(c.x, ws, c.stride, c.pad, c.padding, c.upsample) + (bias ? "" : " nobias"),
                    std::move(leaves),
                    [params, bias](const Leaves& l) { return conv2d(l[0], l[1], bias ? l[2] : Variable(), params); }));
  }
}

void activation_cases(Source& src, std::vector<Case>& out, const char* op, Activation kind) {
  const bool kinked = kind == Activation::relu || kind == Activation::leaky_relu;
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{1, 1, 13, 17}}) {
    const Tensor x = kinked ? src.away_from_zero(s) : src.uniform(s, -2.0, 2.0);
    out.push_back({op, "x " + dims(s), {src.leaf(x, "x")}, [kind, kinked](const Leaves& l, Branches* b) {
                     if (kinked && b) b->relu_input(l[0]);
                     return activation(kind, l[0], 0.2);
                   }});
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
      out.push_back(smooth_case(op, "x " + dims(s),
                                {src.leaf(src.uniform(s), "x"), src.leaf(src.uniform(c, 0.5, 1.5), "gamma"),
                                 src.leaf(src.uniform(c), "beta")},
                                [](const Leaves& l) { return instance_norm(l[0], l[1], l[2], 1e-5); }));
    }
  if (op == "adain")
    for (const Shape& s : {odd, big}) {
      const Shape style{s[0], s[1], 4, 6};
      out.push_back(smooth_case(op, "content " + dims(s) + ", style " + dims(style),
                                {src.leaf(src.uniform(s), "content"), src.leaf(src.uniform(style, -0.5, 2.0), "style")},
                                [](const Leaves& l) { return adain(l[0], l[1], 1e-5); }));
    }
  if (op == "relu") activation_cases(src, out, "relu", Activation::relu);
  if (op == "leaky_relu") activation_cases(src, out, "leaky_relu", Activation::leaky_relu);
  if (op == "tanh") activation_cases(src, out, "tanh", Activation::tanh);
  if (op == "tanh_unit") activation_cases(src, out, "tanh_unit", Activation::tanh_unit);
  if (op == "add")
    for (const Shape& s : {odd, big})
      out.push_back(smooth_case(op, "a, b " + dims(s), {src.leaf(src.uniform(s), "a"), src.leaf(src.uniform(s), "b")},
                                [](const Leaves& l) { return add(l[0], l[1]); }));
  if (op == "scale")
    for (const Shape& s : {odd, big})
      out.push_back(smooth_case(op, "x " + dims(s) + " alpha -1.7", {src.leaf(src.uniform(s), "x")},
                                [](const Leaves& l) { return scale(l[0], -1.7); }));
  if (op == "channel_affine")
    for (const Shape& s : {odd, big}) {
      const Tensor sc = src.uniform({s[1]}, 0.5, 2.0), sh = src.uniform({s[1]});
      out.push_back(smooth_case(op, "x " + dims(s), {src.leaf(src.uniform(s), "x")},
                                [sc, sh](const Leaves& l) { return channel_affine(l[0], sc, sh); }));
    }
  if (op == "max_pool" || op == "avg_pool") {
    const Pool pool = op == "max_pool" ? Pool::max : Pool::average;
    for (const Shape& s : {Shape{2, 3, 6, 8}, Shape{1, 2, 7, 9}}) {
      const Tensor x = pool == Pool::max ? src.distinct_windows(s) : src.uniform(s);
      out.push_back({op, "x " + dims(s), {src.leaf(x, "x")}, [pool](const Leaves& l, Branches* b) {
                       if (pool == Pool::max && b) b->max_pool_input(l[0]);
                       return pool2x2(pool, l[0]);
                     }});
    }
  }
  if (op == "upsample")
    for (const Shape& s : {odd, Shape{1, 2, 4, 3}})
      out.push_back(smooth_case(op, "x " + dims(s), {src.leaf(src.uniform(s), "x")},
                                [](const Leaves& l) { return upsample2x(l[0]); }));
  if (op == "gram")
    for (const Shape& s : {odd, Shape{2, 5, 9, 7}})
      out.push_back(
          smooth_case(op, "x " + dims(s), {src.leaf(src.uniform(s), "x")}, [](const Leaves& l) { return gram(l[0]); }));
  if (op == "tv_sqrt" || op == "tv_squared") {
    const TvMode mode = op == "tv_sqrt" ? TvMode::sqrt : TvMode::squared;
    for (const Shape& s : {odd, big})
      out.push_back({op,
                     "x " + dims(s) + (mode == TvMode::sqrt ? " eps 1e-8 non-flat" : ""),
                     {src.leaf(mode == TvMode::sqrt ? src.non_flat(s) : src.uniform(s), "x")},
                     [mode](const Leaves& l, Branches*) { return tv_loss(mode, l[0], 1e-8); }});
  }
  if (op == "mse")
    for (const Shape& s : {odd, big}) {
      const Tensor t = src.uniform(s);
      out.push_back(
          {op, "prediction " + dims(s), {src.leaf(src.uniform(s), "prediction")}, [t](const Leaves& l, Branches*) {
             return mse_loss(l[0], t);
           }});
    }
  if (op == "gram_mse")
    for (const Shape& s : {odd, Shape{2, 5, 9, 7}}) {
      const Tensor t = src.uniform({s[1], s[1]}, 0.0, 0.3);
      out.push_back(
          {op, "features " + dims(s), {src.leaf(src.uniform(s), "features")}, [t](const Leaves& l, Branches*) {
             return gram_mse_loss(l[0], t);
           }});
    }
  if (op == "gram_mse")  // arbitrary style: one target Gram per image
    for (const Shape& s : {odd, Shape{3, 5, 4, 5}}) {
      const Tensor t = src.uniform({s[0], s[1], s[1]}, 0.0, 0.3);
      out.push_back({op,
                     "features " + dims(s) + ", per-image target",
                     {src.leaf(src.uniform(s), "features")},
                     [t](const Leaves& l, Branches*) { return gram_mse_loss(l[0], t); }});
    }
  if (op == "lsgan_d")
    for (const Shape& s : {Shape{2, 1, 5, 7}, Shape{3, 1, 4, 4}})
      out.push_back({op,
                     "score_real, score_fake " + dims(s),
                     {src.leaf(src.uniform(s), "score_real"), src.leaf(src.uniform(s), "score_fake")},
                     [](const Leaves& l, Branches*) { return lsgan_d_loss(l[0], l[1]); }});
  if (op == "lsgan_g")
    for (const Shape& s : {Shape{2, 1, 5, 7}, Shape{3, 1, 4, 4}})
      out.push_back(
          {op, "score_fake " + dims(s), {src.leaf(src.uniform(s), "score_fake")}, [](const Leaves& l, Branches*) {
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
    auto vgg = [=](const Variable& x, Branches* b) {
      Variable h = conv2d(channel_affine(x, scale_c, shift_c), v1w, v1b, {1, 1, Padding::zeros});
      if (b) b->relu_input(h);
      h = activation(Activation::relu, h);
      if (b) b->max_pool_input(h);
      return conv2d(pool2x2(Pool::max, h), v2w, v2b, {1, 1, Padding::zeros});
    };
    Tensor content, style_gram;
    {
      const NoGradGuard no_grad;
      content = vgg(g[0], nullptr).value();
      style_gram = src.uniform({5, 5}, 0.0, 0.5);
    }
    // Records the input of each kinked op before applying it.
    const auto relu = [](Variable x, Branches* b, Activation kind = Activation::relu) {
      if (b) b->relu_input(x);
      return activation(kind, x, 0.2);
    };
    out.push_back({op, "image " + dims(xs) + ", 10 generator params", std::move(g),
                   [=](const Leaves& l, Branches* b) {
                     Variable h = conv2d(l[0], l[1], l[2], {1, 4, Padding::reflect});
                     h = relu(instance_norm(h, l[3], l[4], 1e-5), b);
                     h = conv2d(h, l[5], l[6], {2, 1, Padding::zeros});
                     h = relu(instance_norm(h, l[7], l[8], 1e-5), b);
                     h = conv2d(upsample2x(h), l[9], l[10], {1, 1, Padding::reflect});
                     const Variable y = activation(Activation::tanh_unit, h);
                     const Variable f = vgg(y, b);
                     Variable d = relu(conv2d(y, d1w, d1b, {2, 1, Padding::zeros}), b, Activation::leaky_relu);
                     d = conv2d(d, d2w, d2b, {1, 1, Padding::zeros});
                     Variable loss = mse_loss(f, content);
                     loss = add(loss, scale(gram_mse_loss(f, style_gram), 10.0));
                     loss = add(loss, lsgan_g_loss(d));
                     return add(loss, scale(tv_loss(TvMode::sqrt, y, 1e-8), 0.1));
                   },
                   16, 1e-4, kComposedFloatStep});
  }
  // Where the checked scalar is a polynomial of degree <= 4 in any one element (conv, add, scale, channel_affine,
  // resampling, gram, squared TV, the quadratic losses), or piecewise so with every kink more than 2h away (relu,
  // leaky_relu and max_pool inputs above), the five-point stencil is exact but for rounding: a large double step
  // keeps rounding small. tanh, tanh_unit, instance_norm, adain, sqrt TV and "composed" keep 1e-4 (truncation ~1e-16).
  static const char* const smooth[] = {"tanh", "tanh_unit", "instance_norm", "adain", "tv_sqrt", "composed"};
  if (std::find(std::begin(smooth), std::end(smooth), op) == std::end(smooth))
    for (Case& c : out) c.step = 1e-2;
  return out;
}

}  // namespace

const std::vector<std::string>& op_names() {
  static const std::vector<std::string> names = {
      "conv2d", "instance_norm",  "adain",    "relu",     "leaky_relu", "tanh", "tanh_unit", "add",
      "scale",  "channel_affine", "max_pool", "avg_pool", "upsample",   "gram", "tv_sqrt",   "tv_squared",
      "mse",    "gram_mse",       "lsgan_d",  "lsgan_g",  "composed"};
  return names;
}

double relative_tolerance(DType dtype) { return dtype == DType::float64 ? 1e-6 : 1e-4; }

void Branches::relu_input(const Variable& x) {
  for (double v : host_values(x.value())) taken_.push_back(v > 0);
}

void Branches::max_pool_input(const Variable& x) {
  const std::vector<double> v = host_values(x.value());
  const Shape& s = x.value().shape();
  const std::int64_t h = s[2], w = s[3], planes = s[0] * s[1];
  for (std::int64_t p = 0; p < planes; ++p)
    for (std::int64_t i = 0; i + 1 < h; i += 2)
      for (std::int64_t j = 0; j + 1 < w; j += 2) {
        const double* row = &v[std::size_t((p * h + i) * w + j)];
        const double window[4] = {row[0], row[1], row[w], row[w + 1]};
        int k = 0;  // the first maximum, as pool2x2 (finite inputs only here)
        for (int m = 1; m < 4; ++m)
          if (window[m] > window[k]) k = m;
        taken_.push_back(std::uint8_t(k));
      }
}

CaseResult check(const Case& c, const Options& options,
                 const std::function<void(std::vector<std::vector<double>>&)>& perturb_analytic) {
  const bool is_double = options.dtype == DType::float64;
  CaseResult result;
  result.op = c.op;
  result.shape = c.shape;
  result.rtol = relative_tolerance(options.dtype);
  Leaves leaves = c.leaves;
  for (const Variable& leaf : leaves) leaf.zero_grad();

  // The projection R (1 for a loss), rounded to the dtype so that host and device use the same values.
  std::vector<double> r;
  {
    const Variable y = c.forward(leaves, nullptr);
    const std::size_t n = std::size_t(y.value().numel());
    r.assign(n, 1.0);
    if (n > 1) {
      std::uint64_t key = 1469598103934665603ull;  // FNV-1a of the case, so cases get different projections
      for (char ch : c.op + c.shape) key = (key ^ std::uint8_t(ch)) * 1099511628211ull;
      std::mt19937_64 rng(options.seed ^ key);
      std::uniform_real_distribution<double> uniform(-1.0, 1.0);
      for (double& v : r) v = is_double ? uniform(rng) : double(float(uniform(rng)));
    }
    y.backward(device_tensor(r, y.value().shape(), options.dtype, options.device));
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

  const NoGradGuard no_grad;
  // y and the branch decisions at the unshifted leaves.
  const auto evaluate = [&](const Leaves& l, Branches* b) { return host_values(c.forward(l, b).value()); };
  Branches base_branches;
  const std::vector<double> y0 = evaluate(leaves, &base_branches);
  // An output that cancels to near zero still carries rounding on the scale of its terms: at least the rms output.
  double y_rms = 0;
  for (double v : y0) y_rms += v * v;
  y_rms = std::sqrt(y_rms / double(y0.size()));
  const double eps = is_double ? std::numeric_limits<double>::epsilon() : std::numeric_limits<float>::epsilon();
  const double h0 = is_double ? c.step : c.float_step;
  const int max_shrinks = is_double ? kMaxShrinks : kMaxFloatShrinks;
  struct Pair {
    double a, n, noise;  // noise: the coordinate's finite-difference noise floor (float)
  };
  std::vector<Pair> pairs;
  for (std::size_t k = 0; k < leaves.size(); ++k) {
    const Variable original = leaves[k];
    const std::vector<double> base = host_values(original.value());
    std::vector<std::size_t> index(base.size());
    std::iota(index.begin(), index.end(), std::size_t{0});
    std::mt19937_64 rng(options.seed * 1000003 + k);
    std::shuffle(index.begin(), index.end(), rng);
    // index[0, wanted) are checked; a coordinate with a kink too close is replaced from index[wanted, 2 wanted).
    const std::size_t wanted = std::min(index.size(), std::size_t(c.max_samples));
    std::vector<double> shifted = base;
    const Shape shape = original.value().shape();
    std::size_t next = wanted;
    for (std::size_t pick = 0; pick < wanted; ++pick) {
      std::size_t i = index[pick];
      bool kink_free = false;
      double h = 0;
      std::array<std::vector<double>, 4> ys;  // y at x + t, t = 2h, h, -h, -2h as stored in the dtype
      std::array<double, 4> t{};
      while (true) {
        h = h0 * std::max(1.0, std::abs(base[i]));
        for (int attempt = 0; attempt <= max_shrinks; ++attempt, h /= 10) {
          if (attempt == 1) ++result.shrunk;
          kink_free = true;
          for (int e = 0; e < 4; ++e) {
            shifted[i] = base[i] + kStencil[e] * h;
            if (!is_double) shifted[i] = double(float(shifted[i]));
            t[e] = shifted[i] - base[i];
            leaves[k] = Variable(device_tensor(shifted, shape, options.dtype, options.device));
            Branches branches;
            ys[e] = evaluate(leaves, &branches);
            kink_free = kink_free && branches.taken() == base_branches.taken();
          }
          shifted[i] = base[i];
          if (kink_free) break;
        }
        if (kink_free) break;
        ++result.resampled;
        // Nothing left to draw, or as many replacements as samples spent: the coordinate is dropped.
        if (next == std::min(index.size(), 2 * wanted)) break;
        i = index[next++];
      }
      if (!kink_free) continue;
      // L = sum(y R) in double; s2 sums (y R)^2 over the outputs the shift changed (a
      // loss always counts: its change may have been rounded away), for the noise floor.
      double l[4] = {0, 0, 0, 0}, l0 = 0, s2 = 0;
      for (std::size_t j = 0; j < y0.size(); ++j) {
        l0 += y0[j] * r[j];
        double changed = 0;
        for (int e = 0; e < 4; ++e) {
          l[e] += ys[e][j] * r[j];
          if (ys[e][j] != y0[j] || y0.size() == 1)
            changed = std::max(changed, std::max(std::abs(ys[e][j]), y_rms) * std::abs(r[j]));
        }
        s2 += changed * changed;
      }
      const double numeric = stencil_derivative(t, l0, l);
      // Rounding of the y elements the shift changed, about eps |y R| each, adds up like a random walk in L; the
      // stencil weighs the four evaluations (1 + 8 + 8 + 1) / 12h.
      const double noise = kNoiseFactor * eps * 1.5 * std::sqrt(s2) / h;
      pairs.push_back({analytic[k][i], numeric, std::max(noise, 1e-7 * gmax)});
    }
    leaves[k] = original;
  }
  for (const Pair& p : pairs) {
    const double atol = is_double ? std::max(1e-14, kDoubleAtolOfLargest * gmax) : p.noise;
    result.atol = std::max(result.atol, atol);
    const double err = std::abs(p.a - p.n);
    result.max_abs_error = std::max(result.max_abs_error, err);
    const double rel = err / std::max({std::abs(p.a), std::abs(p.n), atol / result.rtol});
    result.max_rel_error = std::max(result.max_rel_error, std::isfinite(rel) ? rel : HUGE_VAL);
  }
  result.checked = long(pairs.size());
  result.pass = result.checked > 0 && result.max_rel_error < result.rtol;
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
