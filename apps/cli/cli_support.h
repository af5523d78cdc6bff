// What the subcommands share: picking the device, the default VGG-19 path, the options and help text several of
// them take, and the progress display.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "engine/device.h"

namespace gramgan::cli {

// "" picks cuda when a GPU is present, otherwise cpu; anything else must name a usable device.
std::string choose_device(const std::string& requested);

// Says on stderr that the run falls back to the cpu when `requested` is "" and no GPU is present. Commands call it
// once their inputs have loaded, so a refused command prints nothing but its one error line.
void report_device_choice(const std::string& requested);

// $GRAMGAN_VGG19 if set, else weights/vgg19.safetensors in the source tree (where weights/fetch_vgg19.sh puts it).
std::string default_vgg_path();

// --content-layers and --style-layers: comma-separated VGG layer names (train, transfer).
void add_layer_options(CLI::App& cmd, std::vector<std::string>& content_layers, std::vector<std::string>& style_layers);

// --device for commands that default to cuda when a GPU is present (see choose_device).
void add_device_option(CLI::App& cmd, std::string& device);

// --vgg-pool's help: the pooling names (apps/gan/enum_names.h).
std::string pooling_help();

// A constant as help text quotes it, the shorter of %g and the exponent form: 0.999, 0.5, 1e-4, 1e-8.
std::string short_number(double v);

// Progress for long loops: on a terminal one line rewritten in place (step, the caller's text, it/s, ETA); when
// stderr is not a terminal, plain lines about every 10% and at the end, so logs stay readable.
class Progress {
 public:
  Progress(std::string label, long long first_step, long long last_step);
  void update(long long step, const std::string& text);
  void finish();

 private:
  std::string label_;
  long long first_, last_, printed_at_ = -1;
  bool terminal_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace gramgan::cli
