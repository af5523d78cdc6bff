// gramgan train: trains a generator for one style image on a folder of content photos (apps/gan/trainer.h).
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
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
#include "engine/error.h"

namespace gramgan::cli {
namespace {

struct TrainArgs {
  gan::TrainConfig config;
  // --vgg-pool and --tv as given; their defaults are the config's.
  std::string device, pool = gan::enum_name(gan::kPoolNames, config.vgg_pool),
                      tv = gan::enum_name(gan::kTvModeNames, config.tv_mode);
  bool resume = false, detect_anomaly = false, dry_run = false;
};

// SIGINT/SIGTERM during training: the handler only records the signal; the trainer polls it between iterations,
// writes a checkpoint of the last finished one and the command exits 128 + the signal number (130, 143) as a shell
// would, after saying how to resume. SA_RESETHAND restores the default action, so a second signal ends the process
// at once; checkpoints are written atomically (temp file, fsync, rename), so that leaves the previous complete one.
std::atomic<int> received_signal{0};

extern "C" void record_signal(int signal_number) { received_signal.store(signal_number); }

class StopOnSignals {
 public:
  StopOnSignals() {
    received_signal.store(0);
    struct sigaction action {};
    action.sa_handler = record_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &action, &previous_int_);
    sigaction(SIGTERM, &action, &previous_term_);
  }
  ~StopOnSignals() {
    sigaction(SIGINT, &previous_int_, nullptr);
    sigaction(SIGTERM, &previous_term_, nullptr);
  }
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;
  int received() const { return received_signal.load(); }

 private:
  struct sigaction previous_int_ {
  }, previous_term_{};
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

std::string mebibytes(std::size_t bytes) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%10.2f MiB", double(bytes) / (1024.0 * 1024.0));
  return buffer;
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
  return 0;
}

// --resume keeps the checkpoint's settings: says which of the options given are therefore ignored.
void warn_ignored_with_resume(const CLI::App& cmd) {
  static const char* const kApplied[] = {"--resume",      "--out",          "--steps",    "--sample-every",
                                         "--checkpoint-every", "--device", "--content",  "--style",
                                         "--detect-anomaly",   "--dry-run"};
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
                 "--steps, --sample-every, --checkpoint-every, --device, --content and --style apply)\n",
                 ignored.c_str());
}

int run_train(TrainArgs& args, const CLI::App& cmd) {
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
    saved.out_dir = config.out_dir;
    config = saved;
    requested_device = args.device.empty() ? saved.device : args.device;
    config.device = choose_device(requested_device);
  } else {
    if (config.content_dir.empty() || config.style_path.empty())
      throw Error("train: --content DIR and --style FILE are required (or --resume with --out RUN_DIR)");
    config.vgg_pool = gan::parse_enum(gan::kPoolNames, args.pool, "--vgg-pool");
    config.tv_mode = gan::parse_enum(gan::kTvModeNames, args.tv, "--tv");
    config.device = choose_device(args.device);
  }

  if (args.dry_run) return print_memory_estimate(config);
  gan::Trainer trainer(config, args.resume);
  report_device_choice(requested_device);
  if (args.resume) warn_ignored_with_resume(cmd);
  std::fprintf(stderr, "gramgan train: %s on %s, %lld steps%s, run folder %s\n", config.style_path.c_str(),
               config.device.c_str(), config.steps,
               args.resume ? (" (resuming at step " + std::to_string(trainer.step()) + ")").c_str() : "",
               config.out_dir.c_str());
  std::optional<autograd::DetectAnomalyGuard> anomaly;
  if (args.detect_anomaly) anomaly.emplace();
  Progress progress("step", trainer.step() + 1, config.steps);
  const StopOnSignals signals;
  trainer.run([&](const gan::StepLog& log) { progress.update(log.step, step_text(log)); },
              [&] { return signals.received() != 0; });
  progress.finish();
  if (const int signal_number = signals.received(); signal_number != 0 && trainer.step() < config.steps) {
    std::fprintf(stderr,
                 "gramgan train: interrupted by %s at step %lld of %lld; checkpoint written; continue with "
                 "gramgan train --resume --out %s\n",
                 signal_number == SIGINT ? "SIGINT" : "SIGTERM", trainer.step(), config.steps, config.out_dir.c_str());
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
  c.vgg = default_vgg_path();
  c.out_dir = "runs/train";
  CLI::App* cmd = app.add_subcommand("train", "Train a style-transfer generator (and its PatchGAN discriminator)");
  cmd->add_option("--content", c.content_dir, "Folder of content photos (every *.png below it)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--style", c.style_path, "Style image (PNG), at least --size on each side");
  cmd->add_option(
         "--vgg", c.vgg,
         "VGG-19 weights (safetensors, torchvision names), or '" + std::string(gan::kRandomVgg) + "' (weak; warned)")
      ->capture_default_str();
  cmd->add_option("--vgg-pool", args->pool, pooling_help())
      ->check(CLI::IsMember(gan::enum_names(gan::kPoolNames)))
      ->capture_default_str();
  cmd->add_option("--size", c.size,
                  "Crop size (square; multiple of " + std::to_string(gan::kCropMultiple) +
                      ", >= " + std::to_string(gan::kMinCrop) + ")")
      ->capture_default_str();
  cmd->add_option("--batch", c.batch, "Content images per step")->check(kPositive)->capture_default_str();
  cmd->add_option("--steps", c.steps, "Total iterations (each one D step and one G step)")
      ->check(kNonNegative)
      ->capture_default_str();
  cmd->add_option("--lambda-content", c.lambdas.content, "Weight of the content loss")->capture_default_str();
  cmd->add_option("--lambda-style", c.lambdas.style, "Weight of the style (Gram) loss")->capture_default_str();
  cmd->add_option("--lambda-adv", c.lambdas.adv, "Weight of the LSGAN loss (0: no discriminator)")
      ->capture_default_str();
  cmd->add_option("--lambda-tv", c.lambdas.tv, "Weight of the total-variation loss")->capture_default_str();
  add_layer_options(*cmd, c.content_layers, c.style_layers);
  cmd->add_option("--tv", args->tv,
                  "Total variation: " + gan::enum_name(gan::kTvModeNames, TvMode::sqrt) + " (isotropic, eps " +
                      short_number(autograd::kTvEps) + ") or " + gan::enum_name(gan::kTvModeNames, TvMode::squared))
      ->check(CLI::IsMember(gan::enum_names(gan::kTvModeNames)))
      ->capture_default_str();
  const auto betas = [](const AdamConfig& adam) {
    return "(betas " + short_number(adam.beta1) + ", " + short_number(adam.beta2) + ")";
  };
  cmd->add_option("--lr-g", c.lr_g, "Adam learning rate of G " + betas(gan::adam_config_g(c.lr_g)))
      ->capture_default_str();
  cmd->add_option("--lr-d", c.lr_d, "Adam learning rate of D " + betas(gan::adam_config_d(c.lr_d)))
      ->capture_default_str();
  cmd->add_option("--g-width", c.generator.width, "Generator width (channels of its first layer)")
      ->check(kPositive)
      ->capture_default_str();
  cmd->add_option("--g-blocks", c.generator.residual_blocks, "Generator residual blocks")
      ->check(kNonNegative)
      ->capture_default_str();
  cmd->add_option("--d-width", c.discriminator.width, "Discriminator width (channels of its first layer)")
      ->check(kPositive)
      ->capture_default_str();
  add_device_option(*cmd, args->device);
  cmd->add_option("--seed", c.seed, "Seed of initialisation, data order and crops")->capture_default_str();
  cmd->add_option("--out", c.out_dir, "Run folder (config.json, log.csv, samples/, checkpoints)")
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
      ->check(kNonNegative)
      ->capture_default_str();
  cmd->add_option("--checkpoint-every", c.checkpoint_every, "Checkpoint every N steps (0: only at the end)")
      ->check(kNonNegative)
      ->capture_default_str();
  return {cmd, [args, cmd] { return run_train(*args, *cmd); }};
}

}  // namespace gramgan::cli
