#include "apps/cli/cli_support.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "apps/gan/enum_names.h"
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

Progress::Progress(std::string label, long long first_step, long long last_step)
    : label_(std::move(label)),
      first_(first_step),
      last_(last_step),
      terminal_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

void Progress::update(long long step, const std::string& text) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
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

void Progress::finish() {
  if (terminal_ && printed_at_ >= 0) std::fprintf(stderr, "\n");
}

}  // namespace gramgan::cli
