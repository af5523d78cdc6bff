// What the subcommands share: picking the device, the default VGG-19 path, the options and help text several of
// them take, and the progress display.
#pragma once

#include <CLI/CLI.hpp>

#include <signal.h>

#include <chrono>
#include <limits>
#include <string>
#include <vector>

#include "engine/device.h"
#include "kernels/shapes.h"

namespace gramgan::cli {

// "" picks cuda when a GPU is present, otherwise cpu; anything else must name a usable device.
std::string choose_device(const std::string& requested);

// Says on stderr that the run falls back to the cpu when `requested` is "" and no GPU is present. Commands call it
// once their inputs have loaded, so a refused command prints nothing but its one error line.
void report_device_choice(const std::string& requested);

// $GRAMGAN_VGG19 if set, else weights/vgg19.safetensors in the source tree (where weights/fetch_vgg19.sh puts it).
std::string default_vgg_path();

// --vgg (train, transfer). It stays "" unless given (resolve it with default_vgg_path()), so --help shows where the
// default comes from rather than a path baked in when gramgan was built.
void add_vgg_option(CLI::App& cmd, std::string& vgg);

// The footer of train's and transfer's --help: the environment variables they read.
std::string environment_help();

// Every number on the command line goes through one of these checks, so a value that is not a number, is not
// finite, overflows (1e400), is out of range or would wrap (--seed -1) is refused while parsing, naming the option
// and the value, before anything is read or written. CLI11's own conversions accept "nan", "inf" and wrap negative
// unsigned values, and its Range check answers "Value abc not in range".
//   integer_option(min, max): a decimal integer in [min, max] (int and long long options).
//   seed_option(): a decimal integer in [0, 2^64 - 1].
//   real_option(min): a finite decimal number >= min (learning rates, loss weights).
// The integer checks show as POSITIVE / NONNEGATIVE in --help (after the type); the real one shows nothing there.
CLI::Validator integer_option(long long min, long long max);
CLI::Validator seed_option();
CLI::Validator real_option(double min);

// Paths and names: CLI11 lets an option whose value is missing take the next option as its value ("--in --out
// x.png" reads "--out" as an input, then reports "--out is required"); this refuses a value that starts with '-'
// and names the option whose value is missing. A file whose name starts with '-' is given as ./-name.
CLI::Validator value_option();
inline constexpr long long kIntMax = std::numeric_limits<int>::max();
inline constexpr long long kLongMax = std::numeric_limits<long long>::max();

// --content-layers and --style-layers: comma-separated VGG layer names (train, transfer).
void add_layer_options(CLI::App& cmd, std::vector<std::string>& content_layers, std::vector<std::string>& style_layers);

// --device for commands that default to cuda when a GPU is present (see choose_device).
void add_device_option(CLI::App& cmd, std::string& device);
// --precision fp32|tf32, the arithmetic of the float convolutions; and its value on `device` (a choose_device
// result): as given, else tf32 on cuda (PyTorch's default for convolutions), fp32 on cpu (where the tensor cores
// are emulated, bit for bit but slowly). A bad name throws gramgan::Error.
void add_precision_option(CLI::App& cmd, std::string& precision);
Precision choose_precision(const std::string& requested, const std::string& device);

// --vgg-pool's help: the pooling names (apps/gan/enum_names.h).
std::string pooling_help();

// A constant as help text quotes it, the shorter of %g and the exponent form: 0.999, 0.5, 1e-4, 1e-8.
std::string short_number(double v);

// SIGINT/SIGTERM during a long command (train, transfer): while one of these lives, the first signal is recorded
// and acknowledged at once on stderr ("gramgan: SIGINT received; <then>"), and the command polls received()
// between steps, finishes the step, saves what it has and exits 128 + the signal number (130, 143) as a shell
// would. SA_RESETHAND restores the default action, so a second signal ends the process at once; files are written
// atomically (temp file, fsync, rename), so that leaves the previous complete one.
class StopOnSignals {
 public:
  explicit StopOnSignals(const std::string& then);
  ~StopOnSignals();
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;
  int received() const;  // the signal number, 0 while none came

 private:
  struct sigaction previous_int_ {
  }, previous_term_{};
};
const char* signal_name(int signal_number);  // "SIGINT", "SIGTERM"

// Progress for long loops: on a terminal one line rewritten in place (step, the caller's text, it/s, ETA); when
// stderr is not a terminal, plain lines about every 10% and at the end, so logs stay readable. With a `quiet_for`
// nothing is shown until that much time has passed: a setup that is quick (or refused at once) prints nothing.
class Progress {
 public:
  Progress(std::string label, long long first_step, long long last_step,
           std::chrono::milliseconds quiet_for = std::chrono::milliseconds(0));
  void update(long long step, const std::string& text);
  // Prints `text` (lines ending in a newline) on its own, not overwritten by the next update().
  void message(const std::string& text) const;
  void set_last(long long last_step) { last_ = last_step; }
  void finish();

 private:
  std::string label_;
  long long first_, last_, printed_at_ = -1;
  bool terminal_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::milliseconds quiet_for_;
};

}  // namespace gramgan::cli
