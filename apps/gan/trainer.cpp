#include "apps/gan/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/gan/checkpoint.h"
#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/png.h"
#include "engine/memory.h"

namespace gramgan::gan {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kConfigKey = "gramgan.config";
constexpr std::uint64_t kStyleCropStream = 0x5717e;  // keeps style crop seeds apart from content crop seeds
// log.csv's column names are a file format: they keep their first spelling (d_loss_raw, d_real_mean, ...) even
// where the code now says loss_d and score_real_mean.
constexpr const char* kLogHeader =
    "step,content_raw,content_weighted,style_raw,style_weighted,adv_g_raw,adv_g_weighted,tv_raw,tv_weighted,"
    "g_total,d_loss_raw,d_loss_weighted,d_real_mean,d_fake_mean,g_grad_norm,d_grad_norm,step_seconds";

std::string checkpoint_path(const TrainConfig& c) { return (fs::path(c.out_dir) / "checkpoint.safetensors").string(); }
std::string generator_path(const TrainConfig& c) { return (fs::path(c.out_dir) / "generator.safetensors").string(); }
std::string log_path(const TrainConfig& c) { return (fs::path(c.out_dir) / "log.csv").string(); }

void write_text_atomically(const std::string& path, const std::string& text) {
  AtomicFile file(path);
  file.write(text.data(), text.size());
  file.commit();
}

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

double mean_of(const Tensor& t) { return ops::reduce(Reduction::mean, t).item(); }

// sqrt of the sum of squared gradients over the parameters that received one.
double gradient_norm(const std::vector<Variable>& parameters) {
  double sum = 0;
  for (const Variable& p : parameters)
    if (p.grad().defined()) sum += ops::reduce(Reduction::sum_squares, p.grad()).item();
  return std::sqrt(sum);
}

const char* pool_name(Pool p) { return p == Pool::max ? "max" : "average"; }
const char* tv_name(TvMode m) { return m == TvMode::sqrt ? "sqrt" : "squared"; }

std::string csv_number(double v) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.9g", v);
  return buffer;
}
std::string csv_optional(const std::optional<double>& v) { return v ? csv_number(*v) : std::string(); }

}  // namespace

// ---- configuration -----------------------------------------------------------------------------------------------

std::string config_to_json(const TrainConfig& c) {
  json j = {
      {"content_dir", c.content_dir},
      {"style", c.style_path},
      {"vgg", c.vgg},
      {"vgg_pool", pool_name(c.vgg_pool)},
      {"size", c.size},
      {"batch", c.batch},
      {"steps", c.steps},
      {"lambda_content", c.lambdas.content},
      {"lambda_style", c.lambdas.style},
      {"lambda_adv", c.lambdas.adv},
      {"lambda_tv", c.lambdas.tv},
      {"content_layers", c.content_layers},
      {"style_layers", c.style_layers},
      {"tv_mode", tv_name(c.tv_mode)},
      {"lr_g", c.lr_g},
      {"lr_d", c.lr_d},
      {"generator_width", c.generator.width},
      {"generator_residual_blocks", c.generator.residual_blocks},
      {"discriminator_width", c.discriminator.width},
      {"device", c.device},
      {"dtype", c.dtype == DType::float32 ? "float32" : "float64"},
      {"seed", c.seed},
      {"out", c.out_dir},
      {"sample_every", c.sample_every},
      {"checkpoint_every", c.checkpoint_every},
  };
  return j.dump(2);
}

TrainConfig config_from_json(const std::string& text, const std::string& source) {
  try {
    const json j = json::parse(text);
    TrainConfig c;
    c.content_dir = j.at("content_dir").get<std::string>();
    c.style_path = j.at("style").get<std::string>();
    c.vgg = j.at("vgg").get<std::string>();
    c.vgg_pool = j.at("vgg_pool").get<std::string>() == "max" ? Pool::max : Pool::average;
    c.size = j.at("size").get<int>();
    c.batch = j.at("batch").get<int>();
    c.steps = j.at("steps").get<long long>();
    c.lambdas = {j.at("lambda_content").get<double>(), j.at("lambda_style").get<double>(),
                 j.at("lambda_adv").get<double>(), j.at("lambda_tv").get<double>()};
    c.content_layers = j.at("content_layers").get<std::vector<std::string>>();
    c.style_layers = j.at("style_layers").get<std::vector<std::string>>();
    c.tv_mode = j.at("tv_mode").get<std::string>() == "sqrt" ? TvMode::sqrt : TvMode::squared;
    c.lr_g = j.at("lr_g").get<double>();
    c.lr_d = j.at("lr_d").get<double>();
    c.generator = {j.at("generator_width").get<int>(), j.at("generator_residual_blocks").get<int>()};
    c.discriminator = {j.at("discriminator_width").get<int>()};
    c.device = j.at("device").get<std::string>();
    c.dtype = j.at("dtype").get<std::string>() == "float64" ? DType::float64 : DType::float32;
    c.seed = j.at("seed").get<std::uint64_t>();
    c.out_dir = j.at("out").get<std::string>();
    c.sample_every = j.at("sample_every").get<long long>();
    c.checkpoint_every = j.at("checkpoint_every").get<long long>();
    return c;
  } catch (const json::exception& e) {
    throw Error(source + ": the saved run configuration is unreadable: " + e.what());
  }
}

// ---- setup -------------------------------------------------------------------------------------------------------

std::unique_ptr<Vgg19Features> make_vgg(const std::string& vgg, Pool pool, std::uint64_t seed, DType dtype,
                                        const Device& device) {
  if (vgg == "random") {
    std::fprintf(stderr,
                 "gramgan: WARNING: --vgg random: the perceptual network has random (seeded He-init) weights, not "
                 "ImageNet ones. Content and style losses still run, but stylisation is far weaker; fetch the real "
                 "weights with weights/fetch_vgg19.sh.\n");
    return std::make_unique<Vgg19Features>(Vgg19Features::random(seed, pool, dtype, device));
  }
  return std::make_unique<Vgg19Features>(Vgg19Features::load(vgg, pool, dtype, device));
}

Image read_style_image(const std::string& path, int size) {
  Image style = read_png(path);
  if (style.width < size || style.height < size)
    throw Error(path + ": the style image is " + std::to_string(style.width) + "x" + std::to_string(style.height) +
                ", smaller than --size " + std::to_string(size) +
                " (real samples for D are size x size crops of it); use a larger image or a smaller --size");
  return style;
}

TrainConfig Trainer::saved_config(const std::string& out_dir) {
  const std::string path = (fs::path(out_dir) / "checkpoint.safetensors").string();
  if (!fs::exists(path)) throw Error(path + ": no checkpoint to resume (start the run without --resume)");
  const SafetensorsFile file = SafetensorsFile::open(path);
  const auto it = file.metadata().find(kConfigKey);
  if (it == file.metadata().end()) throw Error(path + ": not a gramgan training checkpoint (no saved configuration)");
  return config_from_json(it->second, path);
}

Trainer::Trainer(const TrainConfig& config, bool resume) : Trainer(config, resume, false) {}

Trainer::Trainer(const TrainConfig& config, bool resume, bool planning)
    : config_(config), device_(Device::parse(config.device)), objective_(config.lambdas) {
  const TrainConfig& c = config_;
  if (c.size < std::max(Generator::kMinSide, Discriminator::kMinSide) || c.size % Generator::kStride != 0)
    throw Error("--size " + std::to_string(c.size) + ": must be a multiple of " + std::to_string(Generator::kStride) +
                " and at least " + std::to_string(std::max(Generator::kMinSide, Discriminator::kMinSide)));
  if (c.batch < 1) throw Error("--batch must be at least 1");
  if (c.steps < 0) throw Error("--steps must be >= 0");
  if (c.out_dir.empty()) throw Error("--out: a run folder is required");
  check_device(device_);
  check_vgg_layers(c.content_layers, "--content-layers");
  check_vgg_layers(c.style_layers, "--style-layers");
  if (!resume && !planning && fs::exists(checkpoint_path(c)))
    throw Error(c.out_dir +
                ": already holds a run (checkpoint.safetensors); pass --resume to continue it or choose "
                "another --out");

  // Inputs first: a bad path fails before anything is written.
  style_image_ = read_style_image(c.style_path, c.size);
  data_ = std::make_unique<ContentDataset>(c.content_dir, c.size, c.seed);
  RandomStream init(c.seed);
  generator_ = labelled(kParametersG, [&] { return std::make_unique<Generator>(c.generator, init, c.dtype, device_); });
  discriminator_ =
      labelled(kParametersD, [&] { return std::make_unique<Discriminator>(c.discriminator, init, c.dtype, device_); });
  {
    const AllocationScope scope(kOptimizerState);
    adam_g_ = std::make_unique<nn::Adam>(generator_->parameters(), AdamConfig{.lr = c.lr_g});
    adam_d_ = std::make_unique<nn::Adam>(discriminator_->parameters(), AdamConfig{.lr = c.lr_d, .beta1 = 0.5});
  }
  // A damaged checkpoint fails here, before the VGG (and its warning for --vgg random) and before any write.
  if (resume && !planning) load_checkpoint();
  vgg_ = labelled(kParametersVgg, [&] { return make_vgg(c.vgg, c.vgg_pool, c.seed, c.dtype, device_); });
  perceptual_ = labelled(kStyleTargets, [&] {
    return std::make_unique<PerceptualLoss>(*vgg_, c.content_layers, c.style_layers,
                                            images_to_tensor({style_image_}, c.dtype, device_), c.tv_mode);
  });
  if (planning) return;  // estimate_memory: nothing on disk, no checkpoint values (the sizes are the same)

  fs::create_directories(fs::path(c.out_dir) / "samples");
  // A process killed while writing left its temporary files (the targets are intact): they go now.
  for (const std::string& path :
       {checkpoint_path(c), generator_path(c), log_path(c), (fs::path(c.out_dir) / "config.json").string()})
    remove_stale_temporaries(path);
  if (resume) {
    truncate_log();
  } else {
    json config_file = json::parse(config_to_json(c));
    config_file["build"] = {
        {"version", GRAMGAN_VERSION}, {"build_type", GRAMGAN_BUILD_TYPE}, {"cuda_architectures", cuda_architectures()}};
    config_file["device_info"] = device_.is_cpu()
                                     ? "cpu (simulated kernels, " + std::to_string(simulator_workers()) + " workers)"
                                     : gpus().at(std::size_t(device_.index())).name;
    config_file["content_images"] = data_->size();
    write_text_atomically((fs::path(c.out_dir) / "config.json").string(), config_file.dump(2) + "\n");
    write_text_atomically(log_path(c), std::string(kLogHeader) + "\n");
  }
}

Trainer::~Trainer() = default;

MemoryEstimate Trainer::estimate_memory(const TrainConfig& config) {
  MemoryEstimate estimate;
  const Device device = Device::parse(config.device);
  const MemoryPlan plan(device.is_cuda());
  {
    Trainer trainer(config, false, true);
    std::int64_t vgg_parameters = 0;
    for (const nn::NamedParameter& p : trainer.vgg_->named_parameters()) vgg_parameters += p.variable.value().numel();
    estimate.parameters["G"] = parameter_count(*trainer.generator_);
    estimate.parameters["D"] = parameter_count(*trainer.discriminator_);
    estimate.parameters["VGG"] = vgg_parameters;
    trainer.train_step();
  }
  estimate.peak = plan.peak();
  estimate.at_peak = plan.at_peak();
  return estimate;
}

// ---- one iteration -----------------------------------------------------------------------------------------------

StepLog Trainer::train_step() {
  const auto start = std::chrono::steady_clock::now();
  const TrainConfig& c = config_;
  StepLog log;
  log.step = step_ + 1;
  log.lambdas = c.lambdas;

  last_content_ = data_->next_batch(c.batch);
  last_style_.clear();
  for (int i = 0; i < c.batch; ++i)
    last_style_.push_back(random_crop(style_image_, c.size, c.size,
                                      mix_seed(c.seed ^ kStyleCropStream, std::uint64_t(step_), std::uint64_t(i))));
  const AllocationScope inputs(kInputs);
  const Tensor content = images_to_tensor(last_content_, c.dtype, device_);
  const auto targets = perceptual_->content_targets(content);

  const Variable output = labelled(kActivationsG, [&] { return (*generator_)(Variable(content)); });

  // (a) D step on L_D with G fixed: y enters detached.
  if (objective_.adversarial()) {
    adam_d_->zero_grad();
    const Variable real = Variable(images_to_tensor(last_style_, c.dtype, device_));
    const AllocationScope activations_d(kActivationsD);
    const Variable score_real = (*discriminator_)(real);
    const Variable score_fake = (*discriminator_)(output.detach());
    const Variable lsgan_d = objective_.discriminator_term(score_real, score_fake);
    log.loss_d = lsgan_d.value().item();
    log.score_real_mean = mean_of(score_real.value());
    log.score_fake_mean = mean_of(score_fake.value());
    if (!std::isfinite(*log.loss_d))
      stop_non_finite(log.step, "the discriminator loss is not finite (" + csv_number(*log.loss_d) + ")",
                      "a lower --lr-d (was " + csv_number(c.lr_d) + ") or --lambda-adv");
    labelled(kBackward, [&] {
      objective_.discriminator_loss(lsgan_d).backward();
      return 0;
    });
    log.grad_norm_d = gradient_norm(discriminator_->parameters());
    adam_d_->step();
  }

  // (b) G step on L_G with D fixed: frozen, D passes gradients to y but computes none for itself.
  adam_g_->zero_grad();
  const PerceptualTerms terms = labelled(kActivationsVgg, [&] { return (*perceptual_)(output, targets); });
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
    stop_non_finite(log.step,
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
  log.grad_norm_g = gradient_norm(generator_->parameters());
  adam_g_->step();

  last_output_ = output.value();
  ++step_;
  log.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return log;
}

void Trainer::run(const std::function<void(const StepLog&)>& on_step, const std::function<bool()>& stop) {
  const TrainConfig& c = config_;
  while (step_ < c.steps) {
    if (stop && stop()) break;
    const StepLog log = train_step();
    append_log(log);
    if (on_step) on_step(log);
    if (c.sample_every > 0 && step_ % c.sample_every == 0) write_sample();
    if (c.checkpoint_every > 0 && step_ % c.checkpoint_every == 0) save_checkpoint();
  }
  save_checkpoint();
}

void Trainer::stop_non_finite(long long step, const std::string& what, const std::string& advice) const {
  const std::string kept = checkpoint_step_ >= 0
                               ? "the last good checkpoint, step " + std::to_string(checkpoint_step_) +
                                     ", is kept in " + checkpoint_path(config_)
                               : "no checkpoint had been written yet";
  throw NonFiniteLoss("step " + std::to_string(step) + ": " + what + "; training stopped and " + kept +
                      ". Try a new run with " + advice +
                      "; --detect-anomaly names the first op and layer that produce Inf/NaN");
}

void Trainer::append_log(const StepLog& l) {
  std::ofstream out(log_path(config_), std::ios::app);
  const LossWeights& w = l.lambdas;
  out << l.step << ',' << csv_number(l.content) << ',' << csv_number(w.content * l.content) << ','
      << csv_number(l.style) << ',' << csv_number(w.style * l.style) << ',' << csv_number(l.adv_g) << ','
      << csv_number(w.adv * l.adv_g) << ',' << csv_number(l.tv) << ',' << csv_number(w.tv * l.tv) << ','
      << csv_number(l.g_total) << ',' << csv_optional(l.loss_d) << ','
      << (l.loss_d ? csv_number(w.adv * *l.loss_d) : std::string()) << ',' << csv_optional(l.score_real_mean) << ','
      << csv_optional(l.score_fake_mean) << ',' << csv_number(l.grad_norm_g) << ',' << csv_optional(l.grad_norm_d)
      << ',' << csv_number(l.seconds) << '\n';
  if (!out) throw Error(log_path(config_) + ": cannot append to the training log");
}

// ---- samples and checkpoints -------------------------------------------------------------------------------------

void Trainer::write_sample() const {
  if (last_content_.empty()) return;
  const Image& content = last_content_[0];
  const Image output = tensor_to_image(last_output_, 0);
  const Image& style = last_style_[0];
  const int s = content.width, gap = 4;
  Image grid = make_image(3 * s + 2 * gap, s);
  std::fill(grid.pixels.begin(), grid.pixels.end(), 1.0f);
  const Image* panels[3] = {&content, &output, &style};
  for (int p = 0; p < 3; ++p)
    for (int ch = 0; ch < 3; ++ch)
      for (int y = 0; y < s; ++y)
        for (int x = 0; x < s; ++x) grid.at(ch, y, p * (s + gap) + x) = panels[p]->at(ch, y, x);
  char name[32];
  std::snprintf(name, sizeof name, "step_%06lld.png", step_);
  write_png((fs::path(config_.out_dir) / "samples" / name).string(), grid);
}

void Trainer::save_checkpoint() const {
  std::vector<SafetensorsEntry> entries;
  const auto g = generator_->named_parameters();
  const auto d = discriminator_->named_parameters();
  append_parameters(entries, "G.", g);
  append_parameters(entries, "D.", d);
  for (std::size_t i = 0; i < g.size(); ++i) {
    entries.push_back({"adam_g.m." + g[i].name, adam_g_->first_moment(i)});
    entries.push_back({"adam_g.v." + g[i].name, adam_g_->second_moment(i)});
  }
  for (std::size_t i = 0; i < d.size(); ++i) {
    entries.push_back({"adam_d.m." + d[i].name, adam_d_->first_moment(i)});
    entries.push_back({"adam_d.v." + d[i].name, adam_d_->second_moment(i)});
  }
  const ContentDataset::State& data = data_->state();
  entries.push_back({"step", std::vector<std::int64_t>{step_}});
  entries.push_back({"adam_g.steps", std::vector<std::int64_t>{adam_g_->steps()}});
  entries.push_back({"adam_d.steps", std::vector<std::int64_t>{adam_d_->steps()}});
  entries.push_back({"data.epoch_position", std::vector<std::int64_t>{data.epoch, data.position}});
  entries.push_back({"data.order", data.order});
  entries.push_back({"rng.seed", std::vector<std::uint64_t>{config_.seed}});
  write_safetensors(checkpoint_path(config_), entries,
                    {{kConfigKey, config_to_json(config_)}, {"gramgan.version", GRAMGAN_VERSION}});
  save_generator(generator_path(config_), *generator_, {{"gramgan.step", std::to_string(step_)}});
  checkpoint_step_ = step_;
}

void Trainer::load_checkpoint() {
  const std::string path = checkpoint_path(config_);
  const SafetensorsFile file = SafetensorsFile::open(path);
  const auto g = generator_->named_parameters();
  const auto d = discriminator_->named_parameters();
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
  load_moments(*adam_d_, "adam_d.", d);
  const std::vector<std::int64_t> step = file.read_int64("step");
  const std::vector<std::int64_t> position = file.read_int64("data.epoch_position");
  if (step.size() != 1 || step[0] < 0 || position.size() != 2)
    throw Error(path + ": malformed 'step' or 'data.epoch_position'");
  data_->set_state({position[0], position[1], file.read_int64("data.order")});
  step_ = step[0];
  checkpoint_step_ = step_;
}

void Trainer::truncate_log() const {
  // The log keeps the rows up to the checkpoint: later ones belong to iterations that are about to be redone.
  std::ifstream in(log_path(config_));
  std::string line, kept = std::string(kLogHeader) + "\n";
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    long long row_step = -1;
    std::sscanf(line.c_str(), "%lld,", &row_step);
    // A row cut short by a kill (rows are appended, not written atomically) has fewer fields: dropped.
    const bool complete =
        std::count(line.begin(), line.end(), ',') == std::count(kLogHeader, kLogHeader + std::strlen(kLogHeader), ',');
    if (complete && row_step >= 1 && row_step <= step_) kept += line + "\n";
  }
  write_text_atomically(log_path(config_), kept);
}

}  // namespace gramgan::gan
