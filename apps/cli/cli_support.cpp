#include "apps/cli/cli_support.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "apps/gan/enum_names.h"
#include "apps/gan/vgg.h"
#include "engine/error.h"

namespace gramgan::cli {

std::string choose_device(const std::string& requested) {
  if (requested.empty()) return cuda_available() ? "cuda" : "cpu";
  const Device device = Device::parse(requested);
  if (device.is_cuda() && !cuda_available())
    throw Error("--device " + requested + ": no GPU (" + cuda_unavailable_reason() + ")");
  check_device(device);
  return device.to_string();
}

void report_device_choice(const std::string& requested) {
  if (requested.empty() && !cuda_available())
    std::fprintf(stderr, "gramgan: no GPU (%s); running on cpu (the simulated kernels)\n",
                 cuda_unavailable_reason().c_str());
}

std::string default_vgg_path() {
  if (const char* env = std::getenv("GRAMGAN_VGG19"); env && *env) return env;
  return std::string(GRAMGAN_SOURCE_DIR) + "/weights/vgg19.safetensors";
}

namespace {

std::string in_quotes(const std::string& text) { return "'" + text + "'"; }

}  // namespace

CLI::Validator integer_option(long long min, long long max) {
  const std::string range = max == kIntMax || max == kLongMax
                                ? "an integer >= " + std::to_string(min)
                                : "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  return CLI::Validator(
      [min, max, range](std::string& text) -> std::string {
        long long value = 0;
        const char* end = text.data() + text.size();
        const auto [last, error] = std::from_chars(text.data(), end, value);
        if (text.empty() || last != end || (error != std::errc() && error != std::errc::result_out_of_range))
          return in_quotes(text) + " is not an integer; give " + range;
        if (error == std::errc::result_out_of_range || value < min || value > max)
          return in_quotes(text) + " is out of range; give " + range;
        return {};
      },
      min == 1   ? "POSITIVE"
      : min == 0 ? "NONNEGATIVE"
                 : ">=" + std::to_string(min));
}

CLI::Validator seed_option() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const std::string range = "give an integer from 0 to 18446744073709551615";
        std::uint64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [last, error] = std::from_chars(text.data(), end, value);
        if (!text.empty() && text[0] == '-' && text.find_first_not_of("-0123456789") == std::string::npos)
          return in_quotes(text) + " is negative; " + range;
        if (text.empty() || last != end || (error != std::errc() && error != std::errc::result_out_of_range))
          return in_quotes(text) + " is not an integer; " + range;
        if (error == std::errc::result_out_of_range) return in_quotes(text) + " is out of range; " + range;
        return {};
      },
      "NONNEGATIVE");
}

CLI::Validator real_option(double min) {
  return CLI::Validator(
      [min](std::string& text) -> std::string {
        const std::string range = "give a finite number >= " + short_number(min);
        errno = 0;
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || std::isspace(static_cast<unsigned char>(text[0])))
          return in_quotes(text) + " is not a number; " + range;
        if (!std::isfinite(value) || (errno == ERANGE && std::fabs(value) > 1))
          return in_quotes(text) + " is not a finite number; " + range;
        if (value < min) return in_quotes(text) + " is below " + short_number(min) + "; " + range;
        return {};
      },
      "");
}

CLI::Validator value_option() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (text.empty() || text[0] != '-') return {};
        return "the value is missing (" + in_quotes(text) +
               " is an option); give it right after the option (a file named so: ./" + text + ")";
      },
      "");
}

void add_vgg_option(CLI::App& cmd, std::string& vgg) {
  cmd.add_option("--vgg", vgg,
                 "VGG-19 weights (safetensors, torchvision names), or '" + std::string(gan::kRandomVgg) +
                     "' (weak; warned). Default: $GRAMGAN_VGG19 if set, else weights/vgg19.safetensors in gramgan's "
                     "source tree (weights/fetch_vgg19.sh downloads it there)")
      ->check(value_option());
}

std::string environment_help() {
  return "Environment: GRAMGAN_VGG19=PATH sets the default --vgg; GRAMGAN_SIM_WORKERS=N sets the threads of the cpu "
         "device.";
}

void add_layer_options(CLI::App& cmd, std::vector<std::string>& content_layers,
                       std::vector<std::string>& style_layers) {
  cmd.add_option("--content-layers", content_layers, "VGG layers for the content loss")
      ->delimiter(',')
      ->capture_default_str();
  cmd.add_option("--style-layers", style_layers, "VGG layers for the style loss")
      ->delimiter(',')
      ->capture_default_str();
}

void add_device_option(CLI::App& cmd, std::string& device) {
  cmd.add_option("--device", device, "cpu or cuda[:N] (default: cuda if a GPU is present, else cpu)");
}

void add_precision_option(CLI::App& cmd, std::string& precision) {
  cmd.add_option("--precision", precision,
                 "fp32 or tf32: the arithmetic of the convolutions (tf32: tensor cores, operands rounded to 10-bit "
                 "mantissas, FP32 sums; on cpu an exact emulation, much slower). Default: tf32 on cuda, fp32 on cpu");
}

Precision choose_precision(const std::string& requested, const std::string& device) {
  if (!requested.empty()) return gan::parse_enum(gan::kPrecisionNames, requested, "--precision");
  return device == "cpu" ? Precision::fp32 : Precision::tf32;
}

std::string pooling_help() {
  return "VGG pooling: " + gan::enum_name(gan::kPoolNames, Pool::max) + ", or " +
         gan::enum_name(gan::kPoolNames, Pool::average) + " (Gatys)";
}

std::string short_number(double v) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%g", v);
  const std::string plain = buffer;
  // The fewest mantissa digits that read back as v, in exponent form without %e's padding (1e-04 -> 1e-4).
  int precision = 0;
  do {
    std::snprintf(buffer, sizeof buffer, "%.*e", precision, v);
  } while (std::strtod(buffer, nullptr) != v && ++precision < 17);
  std::string exponent = buffer;
  const std::size_t e = exponent.find('e');
  if (e == std::string::npos) return plain;  // inf, nan
  if (exponent[e + 1] == '+') exponent.erase(e + 1, 1);
  const std::size_t digits = exponent[e + 1] == '-' ? e + 2 : e + 1;
  while (digits + 1 < exponent.size() && exponent[digits] == '0') exponent.erase(digits, 1);
  return exponent.size() < plain.size() ? exponent : plain;
}

namespace {

std::atomic<int> received_signal{0};
// The acknowledgement the handler writes (write(2) is async-signal-safe; building text is not): set before the
// handler is installed, read only by it.
char acknowledgement[2][256];
std::size_t acknowledgement_size[2];

extern "C" void record_signal(int signal_number) {
  received_signal.store(signal_number);
  const int which = signal_number == SIGINT ? 0 : 1;
  const ssize_t written = write(STDERR_FILENO, acknowledgement[which], acknowledgement_size[which]);
  (void)written;  // nothing to do about a failed write inside a handler
}

}  // namespace

StopOnSignals::StopOnSignals(const std::string& then) {
  received_signal.store(0);
  for (const int signal_number : {SIGINT, SIGTERM}) {
    const int which = signal_number == SIGINT ? 0 : 1;
    const std::string text = std::string("\ngramgan: ") + signal_name(signal_number) + " received; " + then + "\n";
    acknowledgement_size[which] = std::min(text.size(), sizeof acknowledgement[which]);
    std::memcpy(acknowledgement[which], text.data(), acknowledgement_size[which]);
  }
  struct sigaction action {};
  action.sa_handler = record_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &action, &previous_int_);
  sigaction(SIGTERM, &action, &previous_term_);
}

StopOnSignals::~StopOnSignals() {
  sigaction(SIGINT, &previous_int_, nullptr);
  sigaction(SIGTERM, &previous_term_, nullptr);
}

int StopOnSignals::received() const { return received_signal.load(); }

const char* signal_name(int signal_number) { return signal_number == SIGINT ? "SIGINT" : "SIGTERM"; }

Progress::Progress(std::string label, long long first_step, long long last_step, std::chrono::milliseconds quiet_for)
    : label_(std::move(label)),
      first_(first_step),
      last_(last_step),
      terminal_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      quiet_for_(quiet_for) {}

void Progress::update(long long step, const std::string& text) {
  const auto now = std::chrono::steady_clock::now();
  if (now - start_ < quiet_for_) return;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const long long done = step - first_ + 1;
  const double rate = elapsed > 0 ? done / elapsed : 0;
  const double eta = rate > 0 ? double(last_ - step) / rate : 0;
  const long long span = std::max(1LL, last_ - first_ + 1);
  if (!terminal_) {
    const long long every = std::max(1LL, span / 10);
    if (step != last_ && step != first_ && (step - first_ + 1) % every != 0) return;
  }
  std::fprintf(stderr, "%s%s %lld/%lld | %s | %.2f it/s | ETA %dm%02ds%s", terminal_ ? "\r\033[K" : "", label_.c_str(),
               step, last_, text.c_str(), rate, int(eta) / 60, int(eta) % 60, terminal_ ? "" : "\n");
  std::fflush(stderr);
  printed_at_ = step;
}

void Progress::message(const std::string& text) const {
  std::fprintf(stderr, "%s%s", terminal_ ? "\r\033[K" : "", text.c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  if (terminal_ && printed_at_ >= 0) std::fprintf(stderr, "\n");
}

}  // namespace gramgan::cli
