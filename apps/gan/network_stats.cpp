#include "apps/gan/network_stats.h"

#include <cmath>

namespace gramgan::gan {

std::vector<double> host_values(const Tensor& t) {
  if (t.dtype() == DType::float64) return t.to_host<double>();
  const std::vector<float> values = t.to_host<float>();
  return {values.begin(), values.end()};
}

autograd::nn::Sequential::LayerOutput record_activations(const std::string& network,
                                                         std::vector<ActivationStats>& out) {
  return [network, &out](const std::string& name, const autograd::nn::Module& layer, const autograd::Variable& y) {
    const std::vector<double> values = host_values(y.value());
    ActivationStats stats;
    stats.layer = network + "." + name;
    double sum = 0, zeros = 0;
    for (double v : values) {
      sum += v;
      zeros += v == 0.0;
    }
    const double n = double(values.size());
    stats.mean = n > 0 ? sum / n : 0;
    double squares = 0;  // about the mean, in a second pass: no cancellation
    for (double v : values) squares += (v - stats.mean) * (v - stats.mean);
    stats.std = n > 0 ? std::sqrt(squares / n) : 0;
    if (layer.output_activation() == Activation::relu) stats.zero_fraction = n > 0 ? zeros / n : 0;
    out.push_back(std::move(stats));
  };
}

}  // namespace gramgan::gan
