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
  std::string model, out, device, precision, vgg, grid;
  double alpha = 1.0;
  bool losses = false;
  std::vector<std::string> inputs, styles;
};

// What stylize runs: a johnson generator, or an AdaIN decoder with the VGG it was trained with and the style.
struct Model {
  std::unique_ptr<gan::Generator> generator;
  std::unique_ptr<gan::AdainDecoder> decoder;
  std::unique_ptr<gan::Vgg19Features> vgg;
  std::vector<Image> styles;
};

constexpr int kGridCell = 160;

// A thumbnail for the grid: the centre square, resized to kGridCell.
Image grid_cell(const Image& image) {
  const int side = std::min(image.width, image.height);
  return resize(center_crop(image, side, side), kGridCell, kGridCell);
}

// The grid: the style images along the top (the corner left white), then one row per photo: the photo and its
// stylisations. cells[row][column] with rows = photos and columns = styles.
Image make_grid(const std::vector<Image>& photos, const std::vector<Image>& styles,
                const std::vector<std::vector<Image>>& cells) {
  const int columns = int(styles.size()) + 1, rows = int(photos.size()) + 1;
  Image grid = make_image(columns * kGridCell, rows * kGridCell);
  std::fill(grid.pixels.begin(), grid.pixels.end(), 1.0f);
  const auto place = [&](const Image& image, int row, int column) {
    const Image cell = grid_cell(image);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < kGridCell; ++y)
        for (int x = 0; x < kGridCell; ++x) grid.at(c, row * kGridCell + y, column * kGridCell + x) = cell.at(c, y, x);
  };
  for (std::size_t s = 0; s < styles.size(); ++s) place(styles[s], 0, int(s) + 1);
  for (std::size_t p = 0; p < photos.size(); ++p) {
    place(photos[p], int(p) + 1, 0);
    for (std::size_t s = 0; s < styles.size(); ++s) place(cells[p][s], int(p) + 1, int(s) + 1);
  }
  return grid;
}

// Reads the model file and checks it against --style, --alpha and --vgg before any image is read or written.
Model load_model(const StylizeArgs& args, const CLI::App& cmd, const Device& device) {
  Model model;
  const gan::Arch arch = gan::model_arch(SafetensorsFile::open(args.model));
  if (arch == gan::Arch::johnson) {
    if (cmd.count("--style") || cmd.count("--alpha") || cmd.count("--vgg") || cmd.count("--grid") ||
        cmd.count("--losses"))
      throw Error(args.model +
                  " is a johnson model: its style is fixed at training, so --style, --alpha, --vgg, --grid and "
                  "--losses do not apply");
    model.generator = gan::load_generator(args.model, DType::float32, device);
    return model;
  }
  if (args.styles.empty())
    throw Error(args.model + " is an adain model (any style): give the style image with --style S.png");
  if (!(args.alpha >= 0.0 && args.alpha <= 1.0))
    throw Error("--alpha " + short_number(args.alpha) + ": the style strength must be in [0, 1]");
  gan::AdainModelInfo info;
  model.decoder = gan::load_decoder(args.model, DType::float32, device, &info);
  // The VGG the decoder was trained with: its seed for random weights, else the file (--vgg, or the default one).
  const bool random = info.vgg_identity.rfind("random:", 0) == 0;
  const std::uint64_t seed = random ? gan::random_vgg_seed(info.vgg_identity, args.model) : 0;
  const std::string vgg = !args.vgg.empty() ? args.vgg : (random ? gan::kRandomVgg : default_vgg_path());
  gan::check_vgg_identity(args.model, info.vgg_identity, vgg, seed);
  for (const std::string& style : args.styles) model.styles.push_back(read_png(style));
  model.vgg = gan::make_vgg(vgg, info.vgg_pool, seed, DType::float32, device);
  return model;
}

int run_stylize(const StylizeArgs& args, const CLI::App& cmd) {
  set_out_of_memory_advice("try smaller images (each is stylized whole), or --device cpu when a GPU runs out");
  // With several inputs (or styles) --out is a folder (created if needed) and each output keeps its input's file
  // name (PHOTO__STYLE.png with several styles); with one input it is a file unless it names an existing folder.
  std::error_code ec;
  const std::size_t styles = std::max<std::size_t>(args.styles.size(), 1);
  const bool out_is_dir = args.inputs.size() > 1 || styles > 1 || fs::is_directory(args.out, ec);
  if (out_is_dir) check_output_folder(args.out);
  std::vector<std::string> inputs_and_model = args.inputs, outputs;  // outputs[i * styles + s]
  inputs_and_model.push_back(args.model);
  inputs_and_model.insert(inputs_and_model.end(), args.styles.begin(), args.styles.end());
  if (!args.grid.empty()) check_file_output(args.grid, inputs_and_model);
  for (std::size_t i = 0; i < args.inputs.size(); ++i)
    for (std::size_t s = 0; s < styles; ++s) {
      const fs::path input(args.inputs[i]);
      const std::string name = styles > 1 ? input.stem().string() + "__" + fs::path(args.styles[s]).stem().string() +
                                                input.extension().string()
                                          : input.filename().string();
      const std::string out = out_is_dir ? (fs::path(args.out) / name).string() : args.out;
      check_file_output(out, inputs_and_model);
      if (out == args.grid) throw Error("--grid " + args.grid + " is also an output of --out; give another file");
      for (std::size_t j = 0; j < outputs.size(); ++j)
        if (fs::path(outputs[j]).filename() == fs::path(out).filename() && out_is_dir)
          throw Error(args.inputs[i] + " and " + args.inputs[j / styles] + " would both be written to " + out +
                      "; stylize them into different --out folders");
      outputs.push_back(out);
    }
  // Read every input before writing anything, so a bad file costs no half-finished batch.
  std::vector<Image> images;
  for (const std::string& input : args.inputs) images.push_back(read_png(input));

  const std::string device_name = choose_device(args.device);
  const Precision precision = choose_precision(args.precision, device_name);
  const Device device = Device::parse(device_name);
  Model model = load_model(args, cmd, device);
  if (model.generator) model.generator->set_precision(precision);
  if (model.decoder) model.decoder->set_precision(precision);
  if (model.vgg) model.vgg->set_precision(precision);
  report_device_choice(args.device);
  if (out_is_dir) make_folders(args.out);
  std::vector<std::vector<Image>> cells(images.size());
  for (std::size_t job = 0; job < outputs.size(); ++job) {
    const std::size_t i = job / styles, s = job % styles;
    // One generator pass per image, minutes for a large photo on cpu: say what is running before it starts.
    std::fprintf(stderr, "gramgan stylize: %zu/%zu %s (%dx%d)%s%s on %s...\n", job + 1, outputs.size(),
                 args.inputs[i].c_str(), images[i].width, images[i].height, model.decoder ? " with " : "",
                 model.decoder ? args.styles[s].c_str() : "", device.to_string().c_str());
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
    gan::AdainLosses losses;
    const Image result = [&] {
      const AllocationScope scope("stylize: the generator's activations");
      if (model.decoder)
        return gan::stylize_adain(*model.decoder, *model.vgg, images[i], model.styles[s], args.alpha, DType::float32,
                                  device, report_layer, args.losses ? &losses : nullptr);
      return gan::stylize(*model.generator, images[i], DType::float32, device, report_layer);
    }();
    if (!out_is_dir) make_parent_folders(outputs[job]);
    write_png(outputs[job], result);
    if (!args.grid.empty()) cells[i].push_back(result);
    const std::string measured =
        args.losses ? ", content loss " + short_number(losses.content) + ", style loss " + short_number(losses.style)
                    : "";
    std::printf("%s -> %s (%dx%d, %.1f s%s)\n", args.inputs[i].c_str(), outputs[job].c_str(), images[i].width,
                images[i].height, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                measured.c_str());
  }
  if (!args.grid.empty()) {
    make_parent_folders(args.grid);
    write_png(args.grid, make_grid(images, model.styles, cells));
    std::printf("grid: %s (a row per photo, a column per style)\n", args.grid.c_str());
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
  cmd->add_option("--style", args->styles,
                  "adain models: the style image(s) (PNG, at least 16 pixels a side, used whole); with several, every "
                  "input is stylized with each into the --out folder as PHOTO__STYLE.png")
      ->check(value_option());
  cmd->add_option("--grid", args->grid,
                  "adain models: also write one PNG grid (style images along the top, a row per input: the photo "
                  "and its stylisations, " +
                      std::to_string(kGridCell) + " px centre squares)")
      ->check(value_option());
  cmd->add_flag("--losses", args->losses,
                "adain models: print each output's content loss (relu4_1 against the decoder's AdaIN target) and "
                "style loss (Gram loss against the style image at relu1_1 ... relu5_1), as training measures them");
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
  add_precision_option(*cmd, args->precision);
  return {cmd, [args, cmd] { return run_stylize(*args, *cmd); }};
}

}  // namespace gramgan::cli
