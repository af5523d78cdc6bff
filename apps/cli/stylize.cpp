// gramgan stylize: runs a trained generator (generator.safetensors from a train run) on PNG images of any size.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/cli/cli_support.h"
#include "apps/cli/commands.h"
#include "apps/cli/outputs.h"
#include "apps/gan/checkpoint.h"
#include "apps/gan/stylize.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/png.h"
#include "engine/memory.h"

namespace gramgan::cli {
namespace {
namespace fs = std::filesystem;

constexpr std::chrono::seconds kProgressInterval{5};

struct StylizeArgs {
  std::string model, out, device;
  std::vector<std::string> inputs;
};

int run_stylize(const StylizeArgs& args) {
  set_out_of_memory_advice("try smaller images (each is stylized whole), or --device cpu when a GPU runs out");
  // With several inputs --out is a folder (created if needed) and each output keeps its input's file name; with
  // one input it is a file unless it names an existing folder.
  std::error_code ec;
  const bool out_is_dir = args.inputs.size() > 1 || fs::is_directory(args.out, ec);
  if (out_is_dir) check_output_folder(args.out);
  std::vector<std::string> inputs_and_model = args.inputs, outputs;
  inputs_and_model.push_back(args.model);
  for (const std::string& input : args.inputs) {
    const std::string out = out_is_dir ? (fs::path(args.out) / fs::path(input).filename()).string() : args.out;
    check_file_output(out, inputs_and_model);
    for (std::size_t j = 0; j < outputs.size(); ++j)
      if (fs::path(outputs[j]).filename() == fs::path(out).filename() && out_is_dir)
        throw Error(input + " and " + args.inputs[j] + " would both be written to " + out +
                    "; stylize them into different --out folders");
    outputs.push_back(out);
  }
  // Read every input before writing anything, so a bad file costs no half-finished batch.
  std::vector<Image> images;
  for (const std::string& input : args.inputs) images.push_back(read_png(input));

  const Device device = Device::parse(choose_device(args.device));
  std::unique_ptr<gan::Generator> generator = gan::load_generator(args.model, DType::float32, device);
  report_device_choice(args.device);
  if (out_is_dir) make_folders(args.out);
  for (std::size_t i = 0; i < images.size(); ++i) {
    // One generator pass per image, minutes for a large photo on cpu: say what is running before it starts.
    std::fprintf(stderr, "gramgan stylize: %zu/%zu %s (%dx%d) on %s...\n", i + 1, images.size(), args.inputs[i].c_str(),
                 images[i].width, images[i].height, device.to_string().c_str());
    const auto start = std::chrono::steady_clock::now();
    // Within the pass, a line every few seconds: a large photo on cpu is minutes of layers.
    auto last_report = start;
    const auto report_layer = [&](std::size_t done, std::size_t total) {
      const auto now = std::chrono::steady_clock::now();
      if (done == total || now - last_report < kProgressInterval) return;
      last_report = now;
      std::fprintf(stderr, "gramgan stylize:   layer %zu/%zu done, %.0f s\n", done, total,
                   std::chrono::duration<double>(now - start).count());
    };
    const Image result = [&] {
      const AllocationScope scope("stylize: the generator's activations");
      return gan::stylize(*generator, images[i], DType::float32, device, report_layer);
    }();
    if (!out_is_dir) make_parent_folders(outputs[i]);
    write_png(outputs[i], result);
    std::printf("%s -> %s (%dx%d, %.1f s)\n", args.inputs[i].c_str(), outputs[i].c_str(), images[i].width,
                images[i].height, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return 0;
}

}  // namespace

Command add_stylize_command(CLI::App& app) {
  auto args = std::make_shared<StylizeArgs>();
  CLI::App* cmd = app.add_subcommand("stylize", "Stylize PNG images with a trained generator");
  cmd->add_option("--model", args->model, "generator.safetensors from a train run")->check(value_option())->required();
  cmd->add_option("--in", args->inputs, "Input PNG(s), any size; the output has the same size")
      ->check(value_option())
      ->required();
  cmd->add_option("--out", args->out, "Output PNG, or a folder (required with several inputs)")
      ->check(value_option())
      ->required();
  add_device_option(*cmd, args->device);
  return {cmd, [args] { return run_stylize(*args); }};
}

}  // namespace gramgan::cli
