// gramgan transfer: Gatys-style optimisation of one image's pixels (apps/gan/transfer.h); no training.
#include <cstdio>
#include <memory>

#include "apps/cli/cli_support.h"
#include "apps/cli/commands.h"
#include "apps/cli/outputs.h"
#include "apps/gan/enum_names.h"
#include "apps/gan/trainer.h"
#include "apps/gan/transfer.h"
#include "engine/allocator.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/png.h"

namespace gramgan::cli {
namespace {

struct TransferArgs {
  std::string content, style, out, device, precision, vgg, pool = gan::enum_name(gan::kPoolNames, Pool::max);
  int size = 256;
  std::uint64_t seed = 0;
  gan::TransferConfig config;
};

// Scales an image so that its longer side is `side`.
Image fit_long_side(const Image& image, int side) {
  const double scale = double(side) / std::max(image.width, image.height);
  return resize(image, std::max(1, int(std::lround(image.width * scale))),
                std::max(1, int(std::lround(image.height * scale))));
}

int run_transfer(const TransferArgs& args) {
  constexpr int kMinSide = gan::Vgg19Features::kMinSide;
  const gan::TransferConfig& c = args.config;
  if (args.size < kMinSide)
    throw Error("--size " + std::to_string(args.size) + ": must be at least " + std::to_string(kMinSide) +
                " (VGG pools 4 times)");
  if (c.lambda_content == 0 && c.lambda_style == 0 && c.lambda_tv == 0)
    throw Error(
        "--lambda-content, --lambda-style and --lambda-tv are all 0: there is nothing to optimise; give at "
        "least one a positive weight");
  gan::check_vgg_layers(c.content_layers, "--content-layers");
  gan::check_vgg_layers(c.style_layers, "--style-layers");
  set_out_of_memory_advice("try a smaller --size");
  std::vector<std::string> inputs = {args.content, args.style};
  if (args.vgg != gan::kRandomVgg) inputs.push_back(args.vgg);
  check_file_output(args.out, inputs);
  const Image content = fit_long_side(read_png(args.content), args.size);
  const Image style = fit_long_side(read_png(args.style), args.size);
  if (std::min(content.width, content.height) < kMinSide || std::min(style.width, style.height) < kMinSide)
    throw Error("--size " + std::to_string(args.size) + ": an image's short side would be below " +
                std::to_string(kMinSide) + " pixels");
  const std::string device_name = choose_device(args.device);
  const Precision precision = choose_precision(args.precision, device_name);
  const Device device = Device::parse(device_name);
  const auto vgg =
      gan::make_vgg(args.vgg.empty() ? default_vgg_path() : args.vgg,
                    gan::parse_enum(gan::kPoolNames, args.pool, "--vgg-pool"), args.seed, DType::float32, device);
  vgg->set_precision(precision);
  report_device_choice(args.device);
  std::fprintf(stderr, "gramgan transfer: %dx%d, %d steps on %s\n", content.width, content.height, args.config.steps,
               device.to_string().c_str());
  Progress progress("step", 1, args.config.steps);
  const StopOnSignals signals("finishing the current step, then writing the image so far to " + args.out +
                              " (a second signal ends gramgan at once)");
  int done = 0;
  const Image result = gan::transfer(
      *vgg, content, style, args.config, DType::float32, device,
      [&](const gan::TransferStep& s) {
        char text[160];
        std::snprintf(text, sizeof text, "loss %.4g (content %.4g, style %.4g, tv %.4g)", s.total,
                      args.config.lambda_content * s.content, args.config.lambda_style * s.style,
                      args.config.lambda_tv * s.tv);
        progress.update(s.step, text);
        done = s.step;
      },
      [&] { return signals.received() != 0; });
  progress.finish();
  make_parent_folders(args.out);
  write_png(args.out, result);
  if (const int signal_number = signals.received(); signal_number != 0 && done < args.config.steps) {
    std::fprintf(stderr, "gramgan transfer: interrupted by %s after step %d of %d; wrote the image so far to %s\n",
                 signal_name(signal_number), done, args.config.steps, args.out.c_str());
    return 128 + signal_number;
  }
  std::printf("wrote %s (%dx%d)\n", args.out.c_str(), result.width, result.height);
  return 0;
}

}  // namespace

Command add_transfer_command(CLI::App& app) {
  auto args = std::make_shared<TransferArgs>();
  gan::TransferConfig& c = args->config;
  CLI::App* cmd = app.add_subcommand("transfer", "Gatys-style transfer: optimise one image's pixels (no training)");
  cmd->add_option("--content", args->content, "Content image (PNG)")->check(value_option())->required();
  cmd->add_option("--style", args->style, "Style image (PNG)")->check(value_option())->required();
  cmd->add_option("--out", args->out, "Output PNG")->check(value_option())->required();
  cmd->add_option("--size", args->size, "Both images are scaled so their longer side is this")
      ->check(integer_option(1, kIntMax).description(""))
      ->capture_default_str();
  cmd->add_option("--steps", c.steps, "Adam steps on the pixels")
      ->check(integer_option(0, kIntMax))
      ->capture_default_str();
  cmd->add_option("--lr", c.lr, "Adam learning rate (on atanh(2 pixel - 1))")
      ->check(real_option(0))
      ->capture_default_str();
  add_vgg_option(*cmd, args->vgg);
  cmd->add_option("--vgg-pool", args->pool, pooling_help())
      ->check(CLI::IsMember(gan::enum_names(gan::kPoolNames)))
      ->capture_default_str();
  cmd->add_option("--lambda-content", c.lambda_content, "Weight of the content loss")
      ->check(real_option(0))
      ->capture_default_str();
  cmd->add_option("--lambda-style", c.lambda_style, "Weight of the style loss")
      ->check(real_option(0))
      ->capture_default_str();
  cmd->add_option("--lambda-tv", c.lambda_tv, "Weight of the total-variation loss")
      ->check(real_option(0))
      ->capture_default_str();
  add_layer_options(*cmd, c.content_layers, c.style_layers);
  add_device_option(*cmd, args->device);
  add_precision_option(*cmd, args->precision);
  cmd->add_option("--seed", args->seed, "Seed of the random VGG weights with --vgg " + std::string(gan::kRandomVgg))
      ->check(seed_option())
      ->capture_default_str();
  cmd->footer(environment_help());
  return {cmd, [args] { return run_transfer(*args); }};
}

}  // namespace gramgan::cli
