// What a run shows of its networks' insides (TensorBoard histograms and activation statistics, run_folder.h):
// values copied to the host, and the statistics of one layer's output. Read-only: nothing here changes a value
// the training computes, so a run that records them trains bitwise as one that does not.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "autograd/nn.h"

namespace gramgan::gan {

// A tensor's values on the host, as double (float32 or float64 tensors; copies from the device when needed).
std::vector<double> host_values(const Tensor& t);

// The statistics of one layer's output over the whole batch.
struct ActivationStats {
  std::string layer;  // "G.head", "D.layer2": the network and the layer's name in it
  double mean = 0, std = 0;
  std::optional<double> zero_fraction;  // the fraction of outputs exactly 0, for a ReLU layer only
};

// An nn::Sequential::LayerOutput that appends the statistics of each layer's output to `out`, the layer named
// "<network>.<name>".
autograd::nn::Sequential::LayerOutput record_activations(const std::string& network, std::vector<ActivationStats>& out);

}  // namespace gramgan::gan
