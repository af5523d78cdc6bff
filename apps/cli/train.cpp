// gramgan train: trains a generator for one style image (johnson), or one model for a folder of style images
// (adain), on a folder of content photos (apps/gan/trainer.h).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <memory>
#include <optional>
#include <vector>

#include "apps/cli/cli_support.h"
#include "apps/cli/commands.h"
#include "apps/gan/enum_names.h"
#include "apps/gan/trainer.h"
#include "autograd/functions.h"
#include "autograd/variable.h"
#include "engine/allocator.h"
#include "engine/error.h"

namespace gramgan::cli {
namespace {

struct TrainArgs {
  gan::TrainConfig config;
  // --vgg-pool and --tv as given; their defaults are the config's.
  std::string device, precision, pool = gan::enum_name(gan::kPoolNames, config.vgg_pool),
                                 tv = gan::enum_name(gan::kTvModeNames, config.tv_mode),
                                 arch = gan::enum_name(gan::kArchNames, config.arch),
                                 content_target = gan::enum_name(gan::kContentTargetNames, config.content_target);
  bool resume = false, detect_anomaly = false, dry_run = false, no_calibrate = false;
};

std::string number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.4g", v);
  return buffer;
}

std::string step_text(const gan::StepLog& l) {
  const gan::LossWeights& w = l.lambdas;
  return "G " + number(l.g_total) + " (content " + number(w.content * l.content) + ", style " +
         number(w.style * l.style) + ", adv " + number(w.adv * l.adv_g) + ", tv " + number(w.tv * l.tv) + ")" +
         (l.loss_d ? " | D " + number(w.adv * *l.loss_d) : std::string());
}

// What the latest calibration set (step 0's, or the re-balance after step n K), and any weight it had to keep.
std::string calibration_text(const gan::Trainer& trainer) {
  const gan::CalibrationResult& cal = trainer.calibration();
  const long long k = trainer.config().calibrate_every;
  const gan::LossWeights& w = cal.after;
  const std::string measured = cal.step == 0
                                   ? "the first batch"
                                   : "the mean of steps " + std::to_string(cal.step - gan::calibration_window(k) + 1) +
                                         "-" + std::to_string(cal.step);
  std::string text = "gramgan train: " + std::string(cal.step == 0 ? "calibrated" : "re-balanced") + " on " + measured +
                     " (raw content " + number(cal.raw.content) + ", style " + number(cal.raw.style) + ", adv " +
                     number(cal.raw.adv) + ", tv " + number(cal.raw.tv) + "): --lambda-content " + number(w.content) +
                     " --lambda-style " + number(w.style) + " --lambda-adv " + number(w.adv) + " --lambda-tv " +
                     number(w.tv) + " (targets: weighted style, adv, tv = " + number(gan::kCalibrationRatios.style) +
                     ", " + number(gan::kCalibrationRatios.adv) + ", " + number(gan::kCalibrationRatios.tv) +
                     " x weighted content; explicit --lambda-* are kept)" +
                     (k > 0 ? "; set again after every " + std::to_string(k) + " steps" : "") + "\n";
  for (const std::string& term : cal.kept)
    text += "gramgan: WARNING: the raw " + term + " term of " + measured + " is 0 or not finite: its weight stays\n";
  return text;
}

std::string mebibytes(std::size_t bytes) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%10.2f MiB", double(bytes) / (1024.0 * 1024.0));
  return buffer;
}

// What the device of a dry run has in all: the machine's memory for cpu, the GPU's for cuda (0 when unknown).
std::size_t host_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? std::size_t(pages) * std::size_t(page) : 0;
}
std::size_t device_memory_bytes(const std::string& device) {
  const int index = Device::parse(device).index();
  for (const GpuInfo& gpu : gpus())
    if (gpu.index == index) return gpu.total_memory;
  return 0;
}

// --dry-run: the table of gan::Trainer::estimate_memory, in the order of the labels' first words.
int print_memory_estimate(const gan::TrainConfig& config) {
  const gan::MemoryEstimate estimate = gan::Trainer::estimate_memory(config);
  std::printf("gramgan train --dry-run: peak device memory of one training iteration on %s (--size %d, --batch %d)\n",
              config.device.c_str(), config.size, config.batch);
  std::printf("parameters: G %lld, D %lld, VGG %lld values\n", (long long)estimate.parameters.at("G"),
              (long long)estimate.parameters.at("D"), (long long)estimate.parameters.at("VGG"));
  std::printf("in use at the peak:\n");
  const char* order[] = {"parameters", "gradients",   "optimizer", "style",
                         "inputs",     "activations", "backward",  "workspaces"};
  std::vector<std::pair<std::string, std::size_t>> rows(estimate.at_peak.begin(), estimate.at_peak.end());
  auto rank = [&](const std::string& label) {
    for (std::size_t i = 0; i < std::size(order); ++i)
      if (label.rfind(order[i], 0) == 0) return i;
    return std::size(order);
  };
  std::stable_sort(rows.begin(), rows.end(),
                   [&](const auto& a, const auto& b) { return rank(a.first) < rank(b.first); });
  for (const auto& [label, bytes] : rows) std::printf("  %-40s%s\n", label.c_str(), mebibytes(bytes).c_str());
  std::printf("  %-40s%s\n", "total (peak)", mebibytes(estimate.peak).c_str());
  if (config.device != "cpu")
    std::printf("(blocks as the caching allocator rounds them; the CUDA context itself is not counted)\n");
  const std::size_t available = config.device == "cpu" ? host_memory_bytes() : device_memory_bytes(config.device);
  if (available > 0 && estimate.peak > available)
    std::printf("this is more than the %s has (%.2f MiB): it does not fit; try a smaller --size or --batch\n",
                config.device == "cpu" ? "machine" : "device", double(available) / (1024.0 * 1024.0));
  if (!estimate.refusal.empty()) std::printf("a real run would stop at these sizes: %s\n", estimate.refusal.c_str());
  return 0;
}

// --resume keeps the checkpoint's settings: says which of the options given are therefore ignored.
void warn_ignored_with_resume(const CLI::App& cmd) {
  static const char* const kApplied[] = {
      "--resume", "--out",     "--steps",          "--sample-every", "--checkpoint-every", "--histogram-every",
      "--device", "--content", "--detect-anomaly", "--style",        "--dry-run",          "--precision"};
  std::string ignored;
  for (const CLI::Option* option : cmd.get_options()) {
    const std::string name = option->get_name();
    if (option->count() == 0 || std::find(std::begin(kApplied), std::end(kApplied), name) != std::end(kApplied))
      continue;
    ignored += (ignored.empty() ? "" : ", ") + name;
  }
  if (!ignored.empty())
    std::fprintf(stderr,
                 "gramgan: WARNING: ignored with --resume: %s (the run keeps the settings of its checkpoint; only "
                 "--steps, --sample-every, --checkpoint-every, --histogram-every, --device, --content and --style "
                 "apply)\n",
                 ignored.c_str());
}

int run_train(TrainArgs& args, const CLI::App& cmd) {
  set_out_of_memory_advice(
      "try a smaller --size or --batch (gramgan train --dry-run prints what a configuration needs)");
  gan::TrainConfig config = args.config;
  std::string requested_device = args.device;
  if (args.resume) {
    // The run's settings come from its checkpoint; only how long and where it runs may change.
    gan::TrainConfig saved = gan::Trainer::saved_config(config.out_dir);
    if (cmd.count("--steps")) {
      const long long at = gan::RunFolder(config.out_dir).checkpoint_step();
      if (config.steps <= at) throw gan::steps_not_beyond(config.out_dir, config.steps, at);
      saved.steps = config.steps;
    }
    // Inputs may have moved: --content and --style re-point them (the data order is checked against the folder).
    if (cmd.count("--content")) saved.content_dir = config.content_dir;
    if (cmd.count("--style")) saved.style_path = config.style_path;
    if (cmd.count("--sample-every")) saved.sample_every = config.sample_every;
    if (cmd.count("--checkpoint-every")) saved.checkpoint_every = config.checkpoint_every;
    if (cmd.count("--histogram-every")) saved.histogram_every = config.histogram_every;
    saved.out_dir = config.out_dir;
    config = saved;
    requested_device = args.device.empty() ? saved.device : args.device;
    config.device = choose_device(requested_device);
    // A run keeps its arithmetic: its losses and weights so far are of that precision.
    if (!args.precision.empty() &&
        gan::parse_enum(gan::kPrecisionNames, args.precision, "--precision") != saved.precision)
      throw Error("--precision " + args.precision + ": " + config.out_dir + " was trained in " +
                  gan::enum_name(gan::kPrecisionNames, saved.precision) +
                  " and a resumed run keeps its precision; leave --precision out");
  } else {
    config.arch = gan::parse_enum(gan::kArchNames, args.arch, "--arch");
    const bool adain = config.arch == gan::Arch::adain;
    if (config.content_dir.empty() || config.style_path.empty())
      throw Error(std::string("train: --content DIR and --style ") + (adain ? "DIR" : "FILE") +
                  " are required (or --resume with --out RUN_DIR)");
    std::error_code ec;
    const bool style_is_dir = std::filesystem::is_directory(config.style_path, ec);
    if (adain && !style_is_dir)
      throw Error("--style " + config.style_path +
                  ": --arch adain trains on a folder of style images (paintings); give a folder");
    if (!adain && style_is_dir)
      throw Error("--style " + config.style_path +
                  ": is a folder; --arch johnson trains one model per style image (give a PNG), --arch adain one "
                  "model for a folder of them");
    if (!adain && (cmd.count("--decoder-width") || cmd.count("--content-target")))
      throw Error("--decoder-width and --content-target apply to --arch adain only");
    if (adain && (cmd.count("--g-width") || cmd.count("--g-blocks")))
      throw Error("--g-width and --g-blocks apply to --arch johnson only (--arch adain: --decoder-width)");
    config.content_target = gan::parse_enum(gan::kContentTargetNames, args.content_target, "--content-target");
    if (adain && cmd.count("--lr-g") == 0) config.lr_g = gan::kAdainLrG;
    // Step 0 calibrates every weight but content (the reference) that was not given.
    config.calibrate.clear();
    for (const auto& [term, option] :
         {std::pair{"style", "--lambda-style"}, {"adv", "--lambda-adv"}, {"tv", "--lambda-tv"}})
      if (!args.no_calibrate && cmd.count(option) == 0) config.calibrate.push_back(term);
    if (args.no_calibrate && cmd.count("--calibrate-every"))
      throw Error("--calibrate-every and --no-calibrate: give one (--no-calibrate calibrates nothing)");
    if (config.calibrate.empty()) config.calibrate_every = 0;
    config.vgg_pool = gan::parse_enum(gan::kPoolNames, args.pool, "--vgg-pool");
    config.tv_mode = gan::parse_enum(gan::kTvModeNames, args.tv, "--tv");
    config.device = choose_device(args.device);
    config.precision = choose_precision(args.precision, config.device);
    if (config.vgg.empty()) config.vgg = default_vgg_path();
  }

  if (args.dry_run) return print_memory_estimate(config);
  Progress reading("reading content photos", 1, 0, std::chrono::seconds(1));
  gan::Trainer trainer(config, args.resume, [&](std::size_t done, std::size_t total) {
    reading.set_last(static_cast<long long>(total));
    reading.update(static_cast<long long>(done), config.content_dir);
  });
  reading.finish();
  report_device_choice(requested_device);
  if (!args.resume && !config.calibrate.empty()) std::fputs(calibration_text(trainer).c_str(), stderr);
  if (args.resume) warn_ignored_with_resume(cmd);
  std::fprintf(stderr, "gramgan train: %s%s on %s in %s, %lld steps%s, run folder %s\n",
               config.arch == gan::Arch::adain ? "arbitrary style (adain) from " : "", config.style_path.c_str(),
               config.device.c_str(), gan::enum_name(gan::kPrecisionNames, config.precision).c_str(), config.steps,
               args.resume ? (" (resuming at step " + std::to_string(trainer.step()) + ")").c_str() : "",
               config.out_dir.c_str());
  std::optional<autograd::DetectAnomalyGuard> anomaly;
  if (args.detect_anomaly) anomaly.emplace();
  Progress progress("step", trainer.step() + 1, config.steps);
  const StopOnSignals signals(
      "finishing the current step, then writing a checkpoint (a second signal ends gramgan at once)");
  trainer.run(
      [&](const gan::StepLog& log) {
        // The first re-balance as it happens; the last one with the final weights below.
        if (log.step == config.calibrate_every && trainer.calibration().step == log.step)
          progress.message(calibration_text(trainer));
        progress.update(log.step, step_text(log));
      },
      [&] { return signals.received() != 0; });
  progress.finish();
  if (trainer.calibration().step > config.calibrate_every) std::fputs(calibration_text(trainer).c_str(), stderr);
  if (const int signal_number = signals.received(); signal_number != 0 && trainer.step() < config.steps) {
    std::fprintf(stderr,
                 "gramgan train: interrupted by %s at step %lld of %lld; checkpoint written; continue with "
                 "gramgan train --resume --out %s\n",
                 signal_name(signal_number), trainer.step(), config.steps, config.out_dir.c_str());
    return 128 + signal_number;
  }
  std::printf("done: %lld steps; generator in %s/generator.safetensors, samples in %s/samples, log in %s/log.csv\n",
              trainer.step(), config.out_dir.c_str(), config.out_dir.c_str(), config.out_dir.c_str());
  return 0;
}

}  // namespace

Command add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  gan::TrainConfig& c = args->config;
  c.out_dir = "runs/train";
  CLI::App* cmd = app.add_subcommand("train", "Train a style-transfer generator (and its PatchGAN discriminator)");
  cmd->add_option("--arch", args->arch,
                  "johnson: one generator G(x) per style image (--style FILE); adain: one model G(x, y) for any "
                  "style, trained on a folder of paintings (--style DIR)")
      ->check(CLI::IsMember(gan::enum_names(gan::kArchNames)))
      ->capture_default_str();
  cmd->add_option("--content", c.content_dir, "Folder of content photos (every *.png below it)")
      ->check(value_option())
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--style", c.style_path,
                  "johnson: the style image (PNG; with a discriminator, --lambda-adv > 0, at least --size on each "
                  "side); adain: a folder of style images (every *.png below it, as --size crops)")
      ->check(value_option());
  add_vgg_option(*cmd, c.vgg);
  cmd->add_option("--vgg-pool", args->pool, pooling_help())
      ->check(CLI::IsMember(gan::enum_names(gan::kPoolNames)))
      ->capture_default_str();
  cmd->add_option("--size", c.size,
                  "Crop size (square; multiple of " + std::to_string(gan::kCropMultiple) +
                      ", >= " + std::to_string(gan::kMinCrop) + "; adain: multiple of " +
                      std::to_string(gan::kAdainCropMultiple) + ", >= " + std::to_string(gan::kAdainMinCrop) + ")")
      ->check(integer_option(1, kIntMax).description(""))  // the text says what --size must be
      ->capture_default_str();
  cmd->add_option("--batch", c.batch, "Content images per step")
      ->check(integer_option(1, kIntMax))
      ->capture_default_str();
  cmd->add_option("--steps", c.steps, "Total iterations (each one D step and one G step)")
      ->check(integer_option(0, kLongMax))
      ->capture_default_str();
  cmd->add_flag("--no-calibrate", args->no_calibrate,
                "Use the --lambda-* values as given (defaults included) instead of calibrating: by default the "
                "style, adversarial and TV weights not given are set from the first batch's raw terms to weighted "
                "ratios 1, 0.1 and 0.01 of the weighted content term, and set again every --calibrate-every steps");
  c.calibrate_every = gan::kCalibrationEvery;
  cmd->add_option("--calibrate-every", c.calibrate_every,
                  "K: after every K-th step the calibrated weights are set again, to the same ratios of the mean raw "
                  "terms of the later half of those K steps (0: keep the first batch's); train prints the first "
                  "re-balance and the final weights, log.csv has every step's")
      ->check(integer_option(0, kLongMax))
      ->capture_default_str();
  cmd->add_option("--lambda-content", c.lambdas.content, "Weight of the content loss (calibration's reference)")
      ->check(real_option(0))
      ->capture_default_str();
  cmd->add_option("--lambda-style", c.lambdas.style, "Weight of the style (Gram) loss (given: not calibrated)")
      ->check(real_option(0))
      ->capture_default_str();
  cmd->add_option("--lambda-adv", c.lambdas.adv,
                  "Weight of the LSGAN loss (0: no discriminator; given: not calibrated)")
      ->check(real_option(0))
      ->capture_default_str();
  cmd->add_option("--lambda-tv", c.lambdas.tv, "Weight of the total-variation loss (given: not calibrated)")
      ->check(real_option(0))
      ->capture_default_str();
  add_layer_options(*cmd, c.content_layers, c.style_layers);
  cmd->add_option("--tv", args->tv,
                  "Total variation: " + gan::enum_name(gan::kTvModeNames, TvMode::sqrt) + " (isotropic, eps " +
                      short_number(autograd::kTvEps) + ") or " + gan::enum_name(gan::kTvModeNames, TvMode::squared))
      ->check(CLI::IsMember(gan::enum_names(gan::kTvModeNames)))
      ->capture_default_str();
  const auto betas = [](const AdamConfig& adam) {
    return "(betas " + short_number(adam.beta1) + ", " + short_number(adam.beta2) + ")";
  };
  cmd->add_option("--lr-g", c.lr_g,
                  "Adam learning rate of G " + betas(gan::adam_config_g(c.lr_g)) +
                      "; --arch adain: " + short_number(gan::kAdainLrG) + " unless given")
      ->check(real_option(0))
      ->capture_default_str();
  cmd->add_option("--lr-d", c.lr_d, "Adam learning rate of D " + betas(gan::adam_config_d(c.lr_d)))
      ->check(real_option(0))
      ->capture_default_str();
  cmd->add_option("--g-width", c.generator.width, "Generator width (channels of its first layer)")
      ->check(integer_option(1, kIntMax))
      ->capture_default_str();
  cmd->add_option("--g-blocks", c.generator.residual_blocks, "Generator residual blocks")
      ->check(integer_option(0, kIntMax))
      ->capture_default_str();
  cmd->add_option("--decoder-width", c.decoder.width,
                  "adain: decoder width (channels of its level next to the image; 2x and 4x deeper, as VGG's 64)")
      ->check(integer_option(1, 4096))
      ->capture_default_str();
  cmd->add_option("--content-target", args->content_target,
                  "adain: the content loss compares G(x, y)'s relu4_1 with the AdaIN target (adain), or its "
                  "--content-layers with the photo's (photo)")
      ->check(CLI::IsMember(gan::enum_names(gan::kContentTargetNames)))
      ->capture_default_str();
  cmd->add_option("--d-width", c.discriminator.width, "Discriminator width (channels of its first layer)")
      ->check(integer_option(1, kIntMax))
      ->capture_default_str();
  add_device_option(*cmd, args->device);
  add_precision_option(*cmd, args->precision);
  cmd->add_option("--seed", c.seed, "Seed of initialisation, data order and crops")
      ->check(seed_option())
      ->capture_default_str();
  cmd->add_option("--out", c.out_dir, "Run folder (config.json, log.csv, samples/, checkpoints)")
      ->check(value_option())
      ->capture_default_str();
  cmd->add_flag("--detect-anomaly", args->detect_anomaly,
                "Check every op's output and gradient for Inf/NaN and name the first op and layer (slow)");
  cmd->add_flag("--dry-run", args->dry_run,
                "Print the peak device memory one iteration needs (parameters, gradients, optimizer state, "
                "activations per network, workspaces) and exit without training or writing anything");
  cmd->add_flag("--resume", args->resume,
                "Continue the run in --out from its checkpoint (its settings are kept; --content and --style may "
                "re-point moved inputs)");
  cmd->add_option("--sample-every", c.sample_every, "Write samples/step_NNNNNN.png every N steps (0: never)")
      ->check(integer_option(0, kLongMax))
      ->capture_default_str();
  cmd->add_option("--checkpoint-every", c.checkpoint_every, "Checkpoint every N steps (0: only at the end)")
      ->check(integer_option(0, kLongMax))
      ->capture_default_str();
  cmd->add_option("--histogram-every", c.histogram_every,
                  "Write TensorBoard histograms of G's and D's parameters and gradients every N steps (0: never)")
      ->check(integer_option(0, kLongMax))
      ->capture_default_str();
  cmd->footer(environment_help());
  return {cmd, [args, cmd] { return run_train(*args, *cmd); }};
}

}  // namespace gramgan::cli
