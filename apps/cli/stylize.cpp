// gramgan stylize: runs a trained generator (generator.safetensors from a train run) on PNG images of any size;
// an adain model takes the style image too (--style, --alpha).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/cli/cli_support.h"
#include "apps/cli/commands.h"
#include "apps/cli/outputs.h"
#include "apps/gan/checkpoint.h"
#include "apps/gan/stylize.h"
#include "apps/gan/trainer.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/png.h"
#include "engine/memory.h"

namespace gramgan::cli {
namespace {
namespace fs = std::filesystem;

constexpr std::chrono::seconds kProgressInterval{5};

struct StylizeArgs {
  std::string model, out, device, style, vgg;
  double alpha = 1.0;
  std::vector<std::string> inputs;
};

// What stylize runs: a johnson generator, or an AdaIN decoder with the VGG it was trained with and the style.
struct Model {
  std::unique_ptr<gan::Generator> generator;
  std::unique_ptr<gan::AdainDecoder> decoder;
  std::unique_ptr<gan::Vgg19Features> vgg;
  Image style;
};

// Reads the model file and checks it against --style, --alpha and --vgg before any image is read or written.
Model load_model(const StylizeArgs& args, const CLI::App& cmd, const Device& device) {
  Model model;
  const gan::Arch arch = gan::model_arch(SafetensorsFile::open(args.model));
  if (arch == gan::Arch::johnson) {
    if (cmd.count("--style") || cmd.count("--alpha") || cmd.count("--vgg"))
      throw Error(args.model +
                  " is a johnson model: its style is fixed at training, so --style, --alpha and --vgg do not apply");
    model.generator = gan::load_generator(args.model, DType::float32, device);
    return model;
  }
  if (args.style.empty())
    throw Error(args.model + " is an adain model (any style): give the style image with --style S.png");
  if (!(args.alpha >= 0.0 && args.alpha <= 1.0))
    throw Error("--alpha " + short_number(args.alpha) + ": the style strength must be in [0, 1]");
  gan::AdainModelInfo info;
  model.decoder = gan::load_decoder(args.model, DType::float32, device, &info);
  // The VGG the decoder was trained with: its seed for random weights, else the file (--vgg, or the default one).
  const bool random = info.vgg_identity.rfind("random:", 0) == 0;
  const std::uint64_t seed = random ? std::stoull(info.vgg_identity.substr(7)) : 0;
  const std::string vgg = !args.vgg.empty() ? args.vgg : (random ? gan::kRandomVgg : default_vgg_path());
  gan::check_vgg_identity(args.model, info.vgg_identity, vgg, seed);
  model.style = read_png(args.style);
  model.vgg = gan::make_vgg(vgg, info.vgg_pool, seed, DType::float32, device);
  return model;
}

int run_stylize(const StylizeArgs& args, const CLI::App& cmd) {
  set_out_of_memory_advice("try smaller images (each is stylized whole), or --device cpu when a GPU runs out");
  // With several inputs --out is a folder (created if needed) and each output keeps its input's file name; with
  // one input it is a file unless it names an existing folder.
  std::error_code ec;
  const bool out_is_dir = args.inputs.size() > 1 || fs::is_directory(args.out, ec);
  if (out_is_dir) check_output_folder(args.out);
  std::vector<std::string> inputs_and_model = args.inputs, outputs;
  inputs_and_model.push_back(args.model);
  if (!args.style.empty()) inputs_and_model.push_back(args.style);
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
  Model model = load_model(args, cmd, device);
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
      if (model.decoder)
        return gan::stylize_adain(*model.decoder, *model.vgg, images[i], model.style, args.alpha, DType::float32,
                                  device, report_layer);
      return gan::stylize(*model.generator, images[i], DType::float32, device, report_layer);
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
  cmd->add_option("--model", args->model, "generator.safetensors from a train run (an adain model also needs --style)")
      ->check(value_option())
      ->required();
  cmd->add_option("--in", args->inputs, "Input PNG(s), any size; the output has the same size")
      ->check(value_option())
      ->required();
  cmd->add_option("--out", args->out, "Output PNG, or a folder (required with several inputs)")
      ->check(value_option())
      ->required();
  cmd->add_option("--style", args->style, "adain models: the style image (PNG, at least 16 pixels a side, used whole)")
      ->check(value_option());
  cmd->add_option("--alpha", args->alpha,
                  "adain models: style strength in [0, 1] (0: the decoder's reconstruction of the content)")
      ->check(real_option(0))
      ->capture_default_str();
  cmd->add_option("--vgg", args->vgg,
                  "adain models: the VGG-19 weights the model was trained with (checked against the hash it "
                  "records). Default: 'random' with its seed for a model trained with --vgg random, else "
                  "$GRAMGAN_VGG19 if set, else weights/vgg19.safetensors in gramgan's source tree")
      ->check(value_option());
  add_device_option(*cmd, args->device);
  return {cmd, [args, cmd] { return run_stylize(*args, *cmd); }};
}

}  // namespace gramgan::cli
