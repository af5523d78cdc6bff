#include "apps/gan/trainer.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>

#include "apps/gan/checkpoint.h"
#include "engine/error.h"
#include "engine/io/png.h"
#include "engine/memory.h"

namespace gramgan::gan {

namespace {

constexpr std::uint64_t kStyleCropStream = 0x5717e;  // keeps style crop seeds apart from content crop seeds

// The labels of device memory (engine/memory.h): what --dry-run reports and a cuda out-of-memory error names.
constexpr const char* kParametersG = "parameters: G";
constexpr const char* kParametersD = "parameters: D";
constexpr const char* kParametersVgg = "parameters: VGG";
constexpr const char* kOptimizerState = "optimizer state (Adam m, v)";
constexpr const char* kStyleTargets = "style targets (Gram matrices)";
constexpr const char* kInputs = "inputs and content targets";
constexpr const char* kActivationsG = "activations: G";
constexpr const char* kActivationsD = "activations: D";
constexpr const char* kActivationsVgg = "activations: VGG and loss terms";
constexpr const char* kBackward = "backward: gradients in flight";

// Runs f() with its allocations labelled `label`.
template <class F>
auto labelled(const char* label, F&& f) {
  const AllocationScope scope(label);
  return f();
}

// Under a MemoryPlan (--dry-run) a batch's tensors are made at their real size, dtype and order of allocation
// (images_to_tensor goes through float32) without the host images behind them, so estimating an absurd --batch
// costs no host memory either.
Tensor planned_images(std::int64_t count, int size, DType dtype, const Device& device) {
  const Shape shape{count, 3, size, size};
  Tensor as_float = Tensor::empty(shape, DType::float32, device);
  if (dtype == DType::float32) return as_float;
  return Tensor::empty(shape, dtype, device);
}

double mean_of(const Tensor& t) { return ops::reduce(Reduction::mean, t).item(); }

// sqrt of the sum of squared gradients over the parameters that received one.
double gradient_norm(const std::vector<Variable>& parameters) {
  double sum = 0;
  for (const Variable& p : parameters)
    if (p.grad().defined()) sum += ops::reduce(Reduction::sum_squares, p.grad()).item();
  return std::sqrt(sum);
}

}  // namespace

// ---- setup -------------------------------------------------------------------------------------------------------

std::unique_ptr<Vgg19Features> make_vgg(const std::string& vgg, Pool pool, std::uint64_t seed, DType dtype,
                                        const Device& device) {
  if (vgg == kRandomVgg) {
    std::fprintf(stderr,
                 "gramgan: WARNING: --vgg random: the perceptual network has random (seeded He-init) weights, not "
                 "ImageNet ones. Content and style losses still run, but stylisation is far weaker; fetch the real "
                 "weights with weights/fetch_vgg19.sh.\n");
    return std::make_unique<Vgg19Features>(Vgg19Features::random(seed, pool, dtype, device));
  }
  return std::make_unique<Vgg19Features>(Vgg19Features::load(vgg, pool, dtype, device));
}

void check_train_config(const TrainConfig& c) {
  const auto check_weight = [](double value, const char* option) {
    if (!std::isfinite(value) || value < 0)
      throw Error(std::string(option) + " " + csv_number(value) + ": must be a finite number >= 0");
  };
  check_weight(c.lambdas.content, "--lambda-content");
  check_weight(c.lambdas.style, "--lambda-style");
  check_weight(c.lambdas.adv, "--lambda-adv");
  check_weight(c.lambdas.tv, "--lambda-tv");
  check_weight(c.lr_g, "--lr-g");
  check_weight(c.lr_d, "--lr-d");
  if (c.lambdas.content == 0 && c.lambdas.style == 0 && c.lambdas.adv == 0 && c.lambdas.tv == 0)
    throw Error(
        "--lambda-content, --lambda-style, --lambda-adv and --lambda-tv are all 0: there is nothing to train; "
        "give at least one a positive weight");
  const bool adain = c.arch == Arch::adain;
  const int multiple = adain ? kAdainCropMultiple : kCropMultiple, least = adain ? kAdainMinCrop : kMinCrop;
  if (c.size < least || c.size % multiple != 0)
    throw Error("--size " + std::to_string(c.size) + ": must be a multiple of " + std::to_string(multiple) +
                " and at least " + std::to_string(least) + (adain ? " with --arch adain" : ""));
  if (adain && (c.decoder.width < 1 || c.decoder.width > 4096))
    throw Error("--decoder-width " + std::to_string(c.decoder.width) + ": must be in [1, 4096]");
  if (c.batch < 1) throw Error("--batch " + std::to_string(c.batch) + ": must be at least 1");
  if (c.steps < 0) throw Error("--steps " + std::to_string(c.steps) + ": must be >= 0");
  if (c.out_dir.empty()) throw Error("--out: a run folder is required");
  check_vgg_layers(c.content_layers, "--content-layers");
  check_vgg_layers(c.style_layers, "--style-layers");
  for (const std::string& term : c.calibrate)
    if (term != "style" && term != "adv" && term != "tv")
      throw Error("calibrate: unknown loss term '" + term + "'; calibration sets style, adv and tv");
  if (c.calibrate_every < 0) throw Error("--calibrate-every " + std::to_string(c.calibrate_every) + ": must be >= 0");
}

Image read_style_image(const std::string& path, int size, bool adversarial) {
  Image style = read_png(path);
  if (!adversarial) {
    // Only the Gram targets use it, over the whole image: VGG's smallest input is enough.
    if (style.width < Vgg19Features::kMinSide || style.height < Vgg19Features::kMinSide)
      throw Error(path + ": the style image is " + std::to_string(style.width) + "x" + std::to_string(style.height) +
                  ", smaller than VGG-19's " + std::to_string(Vgg19Features::kMinSide) + " pixels; use a larger image");
    return style;
  }
  if (style.width < size || style.height < size)
    throw Error(path + ": the style image is " + std::to_string(style.width) + "x" + std::to_string(style.height) +
                ", smaller than --size " + std::to_string(size) +
                " (real samples for D are size x size crops of it); use a larger image or a smaller --size");
  return style;
}

TrainConfig Trainer::saved_config(const std::string& out_dir) { return RunFolder(out_dir).saved_config(); }

Trainer::Trainer(const TrainConfig& config, bool resume, const ReadProgress& on_photo_read)
    : Trainer(config, resume, false, on_photo_read) {}

Trainer::Trainer(const TrainConfig& config, bool resume, bool planning, const ReadProgress& on_photo_read)
    : config_(config), folder_(config.out_dir), device_(Device::parse(config.device)), objective_(config.lambdas) {
  const TrainConfig& c = config_;
  check_train_config(c);
  check_device(device_);
  check_vgg_layers(c.content_layers, "--content-layers");
  check_vgg_layers(c.style_layers, "--style-layers");
  // The run folder before any work: a new run needs a new or empty folder, and no other process may hold it.
  long long resumed_step = 0;
  if (!planning && resume) {
    folder_.check_not_in_use();
    resumed_step = folder_.checkpoint_step();
    if (c.steps < resumed_step) throw steps_not_beyond(c.out_dir, c.steps, resumed_step);
  } else if (!planning) {
    folder_.check_new_run();
  }

  // Inputs first: a bad path fails before anything is written.
  const bool adain = c.arch == Arch::adain;
  if (adain)  // the paintings: size x size crops in their own seeded order, independent of the photos'
    style_data_ = std::make_unique<ContentDataset>(c.style_path, c.size, c.seed ^ kStyleCropStream);
  else
    style_image_ = read_style_image(c.style_path, c.size, objective_.adversarial());
  data_ = std::make_unique<ContentDataset>(c.content_dir, c.size, c.seed, on_photo_read);
  RandomStream init(c.seed);
  if (adain)
    decoder_ =
        labelled(kParametersG, [&] { return std::make_unique<AdainDecoder>(c.decoder, init, c.dtype, device_); });
  else
    generator_ =
        labelled(kParametersG, [&] { return std::make_unique<Generator>(c.generator, init, c.dtype, device_); });
  // --lambda-adv 0: no discriminator at all (not built, trained, saved or loaded).
  if (objective_.adversarial())
    discriminator_ = labelled(kParametersD,
                              [&] { return std::make_unique<Discriminator>(c.discriminator, init, c.dtype, device_); });
  {
    const AllocationScope scope(kOptimizerState);
    adam_g_ = std::make_unique<nn::Adam>(trained_generator().parameters(), adam_config_g(c.lr_g));
    if (discriminator_) adam_d_ = std::make_unique<nn::Adam>(discriminator_->parameters(), adam_config_d(c.lr_d));
  }
  if (generator_) generator_->set_precision(c.precision);
  if (decoder_) decoder_->set_precision(c.precision);
  if (discriminator_) discriminator_->set_precision(c.precision);
  // A damaged checkpoint fails here, before the VGG (and its warning for --vgg random) and before any write.
  if (resume && !planning) load_checkpoint();
  vgg_ = labelled(kParametersVgg, [&] { return make_vgg(c.vgg, c.vgg_pool, c.seed, c.dtype, device_); });
  vgg_->set_precision(c.precision);  // before the style targets, which it computes
  perceptual_ = labelled(kStyleTargets, [&] {
    if (adain)  // style targets come with each batch; the AdaIN content target lives at relu4_1
      return std::make_unique<PerceptualLoss>(
          *vgg_, c.content_target == ContentTarget::adain ? std::vector<std::string>{kAdainLayer} : c.content_layers,
          c.style_layers, c.tv_mode);
    return std::make_unique<PerceptualLoss>(*vgg_, c.content_layers, c.style_layers,
                                            images_to_tensor({style_image_}, c.dtype, device_), c.tv_mode);
  });
  if (planning) return;
  vgg_identity_ =
      vgg_identity(c.vgg, c.seed);  // estimate_memory: nothing on disk, no checkpoint values (the sizes are the same)

  // Everything is checked: take the run folder (held while this trainer lives) and write its first files.
  // Loss weights from the first batch's raw terms (a new run only: a resumed one keeps its saved weights).
  if (!resume) calibration_ = calibrate();
  folder_.lock(!resume, resumed_step);
  folder_.prepare();
  folder_.open_events(step_);
  if (resume) {
    folder_.remove_non_finite_stop();
    folder_.truncate_log(step_);
    folder_.write_config(c, device_, data_->size());
  } else {
    folder_.start(c, device_, data_->size());
  }
}

Trainer::~Trainer() = default;

MemoryEstimate Trainer::estimate_memory(const TrainConfig& config) {
  MemoryEstimate estimate;
  const Device device = Device::parse(config.device);
  const MemoryPlan plan(device.is_cuda());
  {
    Trainer trainer(config, false, true, {});
    std::int64_t vgg_parameters = 0;
    for (const nn::NamedParameter& p : trainer.vgg_->named_parameters()) vgg_parameters += p.variable.value().numel();
    estimate.parameters["G"] = parameter_count(trainer.trained_generator());
    estimate.parameters["D"] = trainer.discriminator_ ? parameter_count(*trainer.discriminator_) : 0;
    estimate.parameters["VGG"] = vgg_parameters;
    trainer.train_step();
  }
  estimate.peak = plan.peak();
  estimate.at_peak = plan.at_peak();
  estimate.refusal = plan.refusal();
  return estimate;
}

// ---- one iteration -----------------------------------------------------------------------------------------------

Trainer::Batch Trainer::next_batch(bool planning) {
  const TrainConfig& c = config_;
  const bool adain = c.arch == Arch::adain;
  if (!planning) {
    last_content_ = data_->next_batch(c.batch);
    last_style_.clear();
    if (adain) last_style_ = style_data_->next_batch(c.batch);
    for (int i = 0; i < (objective_.adversarial() && !adain ? c.batch : 0); ++i)
      last_style_.push_back(random_crop(style_image_, c.size, c.size,
                                        mix_seed(c.seed ^ kStyleCropStream, std::uint64_t(step_), std::uint64_t(i))));
  }
  Batch batch;
  batch.content =
      planning ? planned_images(c.batch, c.size, c.dtype, device_) : images_to_tensor(last_content_, c.dtype, device_);
  if (!adain) {
    batch.content_targets = perceptual_->content_targets(batch.content);
    return batch;
  }
  // adain: G(x, y) = decoder(AdaIN(f(x), f(y))) with y the batch of painting crops, which are D's real samples
  // too; the style loss compares each output with its own painting.
  batch.style =
      planning ? planned_images(c.batch, c.size, c.dtype, device_) : images_to_tensor(last_style_, c.dtype, device_);
  batch.adain_target = adain_target(encode(*vgg_, batch.content), encode(*vgg_, batch.style));
  batch.style_targets = perceptual_->style_targets(batch.style);
  if (c.content_target == ContentTarget::adain)
    batch.content_targets[kAdainLayer] = batch.adain_target;
  else
    batch.content_targets = perceptual_->content_targets(batch.content);
  return batch;
}

Variable Trainer::generate(const Batch& batch, const nn::Sequential::LayerOutput& on_layer_output) const {
  return decoder_ ? decoder_->forward(Variable(batch.adain_target), {}, on_layer_output)
                  : generator_->forward(Variable(batch.content), {}, on_layer_output);
}

PerceptualTerms Trainer::perceptual_terms(const Variable& output, const Batch& batch) const {
  return decoder_ ? (*perceptual_)(output, batch.content_targets, batch.style_targets)
                  : (*perceptual_)(output, batch.content_targets);
}

CalibrationResult Trainer::calibrate() {
  const TrainConfig& c = config_;
  CalibrationResult result;
  result.before = result.after = c.lambdas;
  if (c.calibrate.empty()) return result;
  // The first batch, drawn and then put back: the run starts from the same data state as without calibration.
  const ContentDataset::State content_state = data_->state();
  const std::optional<ContentDataset::State> style_state =
      style_data_ ? std::optional(style_data_->state()) : std::nullopt;
  {
    autograd::NoGradGuard no_grad;
    const Batch batch = next_batch(false);
    const Variable output = generate(batch);
    const PerceptualTerms terms = perceptual_terms(output, batch);
    result.raw.content = terms.content.value().item();
    result.raw.style = terms.style.value().item();
    result.raw.tv = terms.tv.value().item();
    result.raw.adv =
        discriminator_ ? objective_.generator_adversarial_term((*discriminator_)(output)).value().item() : 0.0;
  }
  data_->set_state(content_state);
  if (style_data_) style_data_->set_state(*style_state);
  last_content_.clear();
  last_style_.clear();
  return set_calibrated_weights(result.raw, 0);
}

CalibrationResult Trainer::set_calibrated_weights(const LossWeights& raw, long long step) {
  TrainConfig& c = config_;
  CalibrationResult result;
  result.step = step;
  result.before = c.lambdas;
  result.raw = raw;
  // The weighted content term is the reference (1 when it is 0: --lambda-content 0).
  const double reference = c.lambdas.content * raw.content > 0 ? c.lambdas.content * raw.content : 1.0;
  const auto set = [&](const char* term, double value, double ratio, double& lambda) {
    if (std::find(c.calibrate.begin(), c.calibrate.end(), term) == c.calibrate.end()) return;
    if (!(value > 0) || !std::isfinite(value)) {
      result.kept.push_back(term);  // nothing to scale: the given weight stays
      return;
    }
    lambda = ratio * reference / value;
  };
  set("style", raw.style, kCalibrationRatios.style, c.lambdas.style);
  set("adv", raw.adv, kCalibrationRatios.adv, c.lambdas.adv);
  set("tv", raw.tv, kCalibrationRatios.tv, c.lambdas.tv);
  objective_ = GanObjective(c.lambdas);
  result.after = c.lambdas;
  return result;
}

void Trainer::rebalance(const StepLog& log) {
  if (!rebalancing()) return;
  const long long k = config_.calibrate_every, n = calibration_window(k);
  const long long left = (k - step_ % k) % k;  // steps to the next re-balance (0: after this one)
  if (left >= n) return;
  // Raw terms of this step's batch with the G before its update: what log.csv's *_raw columns hold.
  calibration_sums_.content += log.content;
  calibration_sums_.style += log.style;
  calibration_sums_.adv += log.adv_g;
  calibration_sums_.tv += log.tv;
  if (left > 0) return;
  const LossWeights& sums = calibration_sums_;
  calibration_ = set_calibrated_weights(
      {.content = sums.content / n, .style = sums.style / n, .adv = sums.adv / n, .tv = sums.tv / n}, step_);
  calibration_sums_ = {.content = 0, .style = 0, .adv = 0, .tv = 0};
  folder_.write_config(config_, device_, data_->size());  // config.json holds the weights in use
}

StepLog Trainer::train_step() {
  const auto start = std::chrono::steady_clock::now();
  const TrainConfig& c = config_;
  StepLog log;
  log.step = step_ + 1;
  log.lambdas = c.lambdas;
  log.precision = c.precision;

  const bool planning = memory_planning();
  const bool adain = c.arch == Arch::adain;
  const AllocationScope inputs(kInputs);
  const Batch batch = next_batch(planning);
  // Activation statistics only read the layers' outputs (network_stats.h): the step's numbers are the same.
  const auto recorded = [&](const char* network) {
    return record_activations_ && !planning ? record_activations(network, activation_stats_)
                                            : nn::Sequential::LayerOutput{};
  };
  const Variable output = labelled(kActivationsG, [&] { return generate(batch, recorded("G")); });

  // (a) D step on L_D with G fixed: y enters detached.
  if (objective_.adversarial()) {
    adam_d_->zero_grad();
    const Variable real = adain ? Variable(batch.style)
                                : Variable(planning ? planned_images(c.batch, c.size, c.dtype, device_)
                                                    : images_to_tensor(last_style_, c.dtype, device_));
    const AllocationScope activations_d(kActivationsD);
    const Variable score_real = (*discriminator_)(real);
    const Variable score_fake = discriminator_->forward(output.detach(), recorded("D"));
    const Variable lsgan_d = objective_.discriminator_term(score_real, score_fake);
    log.loss_d = lsgan_d.value().item();
    log.score_real_mean = mean_of(score_real.value());
    log.score_fake_mean = mean_of(score_fake.value());
    if (!std::isfinite(*log.loss_d))
      stop_non_finite(log, "the discriminator loss is not finite (" + csv_number(*log.loss_d) + ")",
                      "a lower --lr-d (was " + csv_number(c.lr_d) + ") or --lambda-adv");
    labelled(kBackward, [&] {
      objective_.discriminator_loss(lsgan_d).backward();
      return 0;
    });
    log.grad_norm_d = gradient_norm(discriminator_->parameters());
    const autograd::LayerScope scope("D");  // --detect-anomaly: "layer D, parameter '...'"
    adam_d_->step();
  }

  // (b) G step on L_G with D fixed: frozen, D passes gradients to y but computes none for itself.
  adam_g_->zero_grad();
  const PerceptualTerms terms = labelled(kActivationsVgg, [&] { return perceptual_terms(output, batch); });
  Variable adv;
  if (objective_.adversarial()) {
    discriminator_->set_requires_grad(false);
    adv = labelled(kActivationsD, [&] { return objective_.generator_adversarial_term((*discriminator_)(output)); });
    discriminator_->set_requires_grad(true);
    log.adv_g = adv.value().item();
  }
  const Variable g_loss = objective_.generator_loss(terms, adv);
  log.content = terms.content.value().item();
  log.style = terms.style.value().item();
  log.tv = terms.tv.value().item();
  log.g_total = g_loss.value().item();
  if (!std::isfinite(log.g_total))
    stop_non_finite(log,
                    "the generator loss is not finite (" + csv_number(log.g_total) + ": content " +
                        csv_number(log.content) + ", style " + csv_number(log.style) + ", adversarial " +
                        csv_number(log.adv_g) + ", tv " + csv_number(log.tv) + ")",
                    std::isfinite(log.adv_g)
                        ? "a lower --lr-g (was " + csv_number(c.lr_g) + ") or smaller --lambda-style/--lambda-tv"
                        : "a lower --lr-d (was " + csv_number(c.lr_d) + ": the adversarial term comes from D) or " +
                              "--lambda-adv, or a lower --lr-g (was " + csv_number(c.lr_g) + ")");
  labelled(kBackward, [&] {
    g_loss.backward();
    return 0;
  });
  log.grad_norm_g = gradient_norm(trained_generator().parameters());
  {
    const autograd::LayerScope scope("G");
    adam_g_->step();
  }

  last_output_ = output.value();
  ++step_;
  if (!planning) rebalance(log);
  log.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return log;
}

void Trainer::run(const std::function<void(const StepLog&)>& on_step, const std::function<bool()>& stop) {
  const TrainConfig& c = config_;
  while (step_ < c.steps) {
    if (stop && stop()) break;
    const bool sample = c.sample_every > 0 && (step_ + 1) % c.sample_every == 0;
    activation_stats_.clear();
    record_activations_ = sample;
    const StepLog log = train_step();
    record_activations_ = false;
    folder_.append_log(log);
    if (on_step) on_step(log);
    if (c.histogram_every > 0 && step_ % c.histogram_every == 0) write_histograms();
    if (sample) {
      folder_.write_activations(step_, activation_stats_);
      // A sample is a preview: losing one (a full disk) is said, and training goes on.
      try {
        write_sample();
      } catch (const Error& e) {
        std::fprintf(stderr, "gramgan: WARNING: the sample of step %lld is lost: %s; training goes on\n", step_,
                     e.what());
      }
    }
    if (c.checkpoint_every > 0 && step_ % c.checkpoint_every == 0) save_checkpoint_or_stop();
  }
  save_checkpoint_or_stop();
  folder_.finish_log();
}

void Trainer::save_checkpoint_or_stop() const {
  try {
    save_checkpoint();
  } catch (const Error& e) {
    const std::string kept = checkpoint_step_ >= 0 ? "the checkpoint of step " + std::to_string(checkpoint_step_) +
                                                         " is kept; once the cause is fixed, continue with gramgan "
                                                         "train --resume --out " +
                                                         config_.out_dir
                                                   : "no checkpoint had been written yet";
    throw Error(std::string(e.what()) + "; training stopped after step " + std::to_string(step_) + " and " + kept);
  }
}

void Trainer::stop_non_finite(const StepLog& log, const std::string& what, const std::string& advice) const {
  const std::string kept = checkpoint_step_ >= 0
                               ? "the last good checkpoint, step " + std::to_string(checkpoint_step_) +
                                     ", is kept in " + folder_.checkpoint_path()
                               : "no checkpoint had been written yet";
  const NonFiniteLoss error("step " + std::to_string(log.step) + ": " + what + "; training stopped and " + kept +
                            ". Try a new run with " + advice +
                            "; --detect-anomaly names the first op and layer that produce Inf/NaN");
  if (!memory_planning()) folder_.write_non_finite_stop(log, error.what());
  throw error;
}

// ---- samples and checkpoints -------------------------------------------------------------------------------------

void Trainer::write_sample() const {
  if (last_content_.empty()) return;
  // Without D there are no style crops (the style image may be smaller than --size): the whole image, resized.
  const Image style = last_style_.empty() ? resize(style_image_, config_.size, config_.size) : last_style_[0];
  folder_.write_sample(step_, last_content_[0], tensor_to_image(last_output_, 0), style);
}

const Generator& Trainer::generator() const {
  if (!generator_) throw Error("this is an adain run: its generator is decoder() over the frozen VGG");
  return *generator_;
}

const AdainDecoder& Trainer::decoder() const {
  if (!decoder_) throw Error("this is a johnson run: it has no AdaIN decoder");
  return *decoder_;
}

const nn::Module& Trainer::trained_generator() const {
  if (decoder_) return *decoder_;
  return *generator_;
}

void Trainer::write_histograms() const {
  folder_.write_histograms(step_, "G", trained_generator().named_parameters());
  if (discriminator_) folder_.write_histograms(step_, "D", discriminator_->named_parameters());
}

void Trainer::save_checkpoint() const {
  std::vector<SafetensorsEntry> entries;
  const auto g = trained_generator().named_parameters();
  const auto d = discriminator_ ? discriminator_->named_parameters() : std::vector<nn::NamedParameter>{};
  append_parameters(entries, "G.", g);
  append_parameters(entries, "D.", d);
  for (std::size_t i = 0; i < g.size(); ++i) {
    entries.push_back({"adam_g.m." + g[i].name, adam_g_->first_moment(i)});
    entries.push_back({"adam_g.v." + g[i].name, adam_g_->second_moment(i)});
  }
  for (std::size_t i = 0; i < d.size() && adam_d_; ++i) {
    entries.push_back({"adam_d.m." + d[i].name, adam_d_->first_moment(i)});
    entries.push_back({"adam_d.v." + d[i].name, adam_d_->second_moment(i)});
  }
  const ContentDataset::State& data = data_->state();
  entries.push_back({"step", std::vector<std::int64_t>{step_}});
  entries.push_back({"adam_g.steps", std::vector<std::int64_t>{adam_g_->steps()}});
  if (adam_d_) entries.push_back({"adam_d.steps", std::vector<std::int64_t>{adam_d_->steps()}});
  entries.push_back({"data.epoch_position", std::vector<std::int64_t>{data.epoch, data.position}});
  entries.push_back({"data.order", data.order});
  if (style_data_) {
    const ContentDataset::State& style = style_data_->state();
    entries.push_back({"style_data.epoch_position", std::vector<std::int64_t>{style.epoch, style.position}});
    entries.push_back({"style_data.order", style.order});
  }
  entries.push_back({"rng.seed", std::vector<std::uint64_t>{config_.seed}});
  if (rebalancing()) {  // the doubles' bits: a resume inside the window continues the sums exactly
    const LossWeights& sums = calibration_sums_;
    entries.push_back({"calibration.sums", std::vector<std::uint64_t>{std::bit_cast<std::uint64_t>(sums.content),
                                                                      std::bit_cast<std::uint64_t>(sums.style),
                                                                      std::bit_cast<std::uint64_t>(sums.adv),
                                                                      std::bit_cast<std::uint64_t>(sums.tv)}});
  }
  folder_.write_checkpoint(entries, config_);
  const std::map<std::string, std::string> metadata{{"gramgan.step", std::to_string(step_)}};
  if (decoder_)
    save_decoder(folder_.generator_path(), *decoder_, {config_.decoder, vgg_identity_, config_.vgg_pool}, metadata);
  else
    save_generator(folder_.generator_path(), *generator_, metadata);
  checkpoint_step_ = step_;
}

void Trainer::load_checkpoint() {
  const std::string path = folder_.checkpoint_path();
  const SafetensorsFile file = SafetensorsFile::open(path);
  const auto g = trained_generator().named_parameters();
  const auto d = discriminator_ ? discriminator_->named_parameters() : std::vector<nn::NamedParameter>{};
  load_parameters(file, "G.", g);
  load_parameters(file, "D.", d);
  auto load_moments = [&](nn::Adam& adam, const std::string& prefix, const std::vector<nn::NamedParameter>& params) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      expect_float_tensor(file, prefix + "m." + params[i].name, adam.first_moment(i).shape());
      expect_float_tensor(file, prefix + "v." + params[i].name, adam.second_moment(i).shape());
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
      adam.first_moment(i).copy_(file.read(prefix + "m." + params[i].name, adam.first_moment(i).dtype(), device_));
      adam.second_moment(i).copy_(file.read(prefix + "v." + params[i].name, adam.second_moment(i).dtype(), device_));
    }
    const std::vector<std::int64_t> steps = file.read_int64(prefix + "steps");
    if (steps.size() != 1) throw Error(path + ": '" + prefix + "steps' must hold one value");
    adam.set_steps(steps[0]);
  };
  load_moments(*adam_g_, "adam_g.", g);
  if (adam_d_) load_moments(*adam_d_, "adam_d.", d);
  const std::vector<std::int64_t> step = file.read_int64("step");
  const std::vector<std::int64_t> position = file.read_int64("data.epoch_position");
  if (step.size() != 1 || step[0] < 0 || position.size() != 2)
    throw Error(path + ": malformed 'step' or 'data.epoch_position'");
  data_->set_state({position[0], position[1], file.read_int64("data.order")});
  if (style_data_) {
    const std::vector<std::int64_t> style_position = file.read_int64("style_data.epoch_position");
    if (style_position.size() != 2) throw Error(path + ": malformed 'style_data.epoch_position'");
    style_data_->set_state({style_position[0], style_position[1], file.read_int64("style_data.order")});
  }
  if (rebalancing()) {
    const std::vector<std::uint64_t> sums = file.read_uint64("calibration.sums");
    if (sums.size() != 4) throw Error(path + ": 'calibration.sums' must hold 4 values");
    calibration_sums_ = {.content = std::bit_cast<double>(sums[0]),
                         .style = std::bit_cast<double>(sums[1]),
                         .adv = std::bit_cast<double>(sums[2]),
                         .tv = std::bit_cast<double>(sums[3])};
  }
  step_ = step[0];
  checkpoint_step_ = step_;
}

}  // namespace gramgan::gan
