// The GAN training loop (DESIGN.md section 3): each iteration draws a content batch x and real style crops, runs
// y = G(x) once, takes one D step on L_D with y detached, then one G step on L_G with D frozen (no D weight
// gradients are computed); objective.h assembles L_D and L_G.
// G is not updated between the two steps, so reusing y for the G step equals recomputing it.
//
// A run lives in one folder (run_folder.h: config.json, log.csv, samples/, checkpoint.safetensors,
// generator.safetensors); the trainer decides what goes into those files and when.
// Everything random derives from the seed and the step/data counters saved in the checkpoint, so resuming gives
// bitwise the weights of an uninterrupted run on the same device.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apps/gan/adain_model.h"
#include "apps/gan/config.h"
#include "apps/gan/dataset.h"
#include "apps/gan/losses.h"
#include "apps/gan/models.h"
#include "apps/gan/objective.h"
#include "apps/gan/run_folder.h"
#include "engine/error.h"

namespace gramgan::gan {

// The crops G and D accept: a multiple of G's stride, and at least both networks' smallest side.
inline constexpr int kCropMultiple = Generator::kStride;
inline constexpr int kMinCrop = std::max(Generator::kMinSide, Discriminator::kMinSide);
// The same for the adain architecture: VGG's three poolings before relu4_1 and the decoder's three upsamplings.
inline constexpr int kAdainCropMultiple = AdainDecoder::kStride;
inline constexpr int kAdainMinCrop = std::max(AdainDecoder::kMinSide, Discriminator::kMinSide);

// The optimisers (apps/README.md, "Defaults and how they were chosen"): G with Adam's default betas (Johnson et
// al.), D with beta1 0.5 (CycleGAN).
inline AdamConfig adam_config_g(double lr) { return {.lr = lr}; }
inline AdamConfig adam_config_d(double lr) { return {.lr = lr, .beta1 = 0.5}; }
// --arch adain's default G learning rate (Huang & Belongie 2017): the decoder has no normalisation and a linear
// output, and at 1e-3 its first Adam steps overshoot by orders of magnitude (measured: the loss grows 1e5-fold at
// 256x256 after one step) before it recovers.
inline constexpr double kAdainLrG = 1e-4;

// A loss that is not finite: training stops there without writing a checkpoint, so the last one on disk (if any)
// is the last good state. The message names the step, the loss terms, that checkpoint and what to try.
class NonFiniteLoss : public Error {
 public:
  using Error::Error;
};

// Device memory of one training iteration (Trainer::estimate_memory): the peak, and what the bytes in use at that
// moment were for, by label ("parameters: G", "activations: VGG and loss terms", ..., "workspaces", "gradients").
struct MemoryEstimate {
  std::size_t peak = 0;
  std::map<std::string, std::size_t> at_peak;
  std::map<std::string, std::int64_t> parameters;  // element counts of G, D and VGG
  std::string refusal;  // why a real run would stop at these sizes ("" when it would not): MemoryPlan::refusal
};

// What the latest calibration (Trainer::calibration) measured and set: step 0's on the first batch, or a
// re-balance at the end of a step that is a multiple of config.calibrate_every.
struct CalibrationResult {
  long long step = 0;             // 0: the first batch; n K (K = calibrate_every): the re-balance after that step
  LossWeights before, after;      // after == before when nothing was calibrated
  LossWeights raw;                // the raw terms measured (content, style, adv, tv): first batch, or window mean
  std::vector<std::string> kept;  // calibrated terms whose raw value was 0 or not finite: weight kept
};

// The target ratios of calibration: each calibrated weighted term over the weighted content term (apps/README.md,
// "Defaults and how they were chosen").
inline constexpr LossWeights kCalibrationRatios{.content = 1.0, .style = 1.0, .adv = 0.1, .tv = 0.01};
// The CLI's K (TrainConfig::calibrate_every): the weights set from the first batch are provisional, and after every
// K-th step they are set again from the mean raw terms of the later half of those K steps. The terms fall at very
// different rates (measured on the demo's adain run: content 640 at step 1, 15 over steps 11-20, 0.5 at step 146,
// while the LSGAN term stays at 0.4-1), so weights fixed at any one step let the adversarial term overtake the
// content term a hundred steps later and the style term fade (apps/README.md, "Defaults and how they were chosen").
inline constexpr long long kCalibrationEvery = 20;
// How many steps a re-balance after step n K averages: the last K - K/2 (the earlier half of each period still
// carries the previous weights' transient, and at the start the untrained G's).
inline constexpr long long calibration_window(long long k) { return k - k / 2; }

class Trainer {
 public:
  // Starts a new run in config.out_dir (a new or empty folder), or with `resume` loads out_dir/checkpoint.safetensors
  // and continues from its step. Either way the run folder is locked for the trainer's lifetime (RunFolder::lock),
  // after every input has been read and before anything is written. `on_photo_read(done, total)` reports the
  // reading of the content photos (progress of a setup that can take a while).
  using ReadProgress = std::function<void(std::size_t, std::size_t)>;
  Trainer(const TrainConfig& config, bool resume, const ReadProgress& on_photo_read = {});
  ~Trainer();

  // The peak device memory from constructing a trainer for `config` (models, Adam state, VGG, style targets) to
  // the end of its first train_step(), found by running exactly that under a MemoryPlan (engine/memory.h): every
  // allocation and free is made with its real size and order, nothing is allocated and no kernel runs. So it is
  // what the cpu device measures (tested). On cuda each block is counted as the caching allocator rounds it; the
  // CUDA runtime's own context (hundreds of MiB) is not counted. Checks the configuration and reads the content
  // folder, the style image and the VGG file as a real run would; writes nothing.
  static MemoryEstimate estimate_memory(const TrainConfig& config);

  // The saved configuration of the run in `out_dir` (its checkpoint's copy); what --resume starts from.
  static TrainConfig saved_config(const std::string& out_dir);

  const TrainConfig& config() const { return config_; }
  // A new run with config.calibrate set measured the raw terms on its first batch and set those lambdas before
  // anything was written; with config.calibrate_every = K > 0, train_step() sets them again after every K-th step
  // (kCalibrationEvery) and rewrites config.json. config() and the checkpoint hold the weights and the window's
  // running sums, so --resume at any step gives the same bits. A resumed run reports step 0 here until its first
  // re-balance.
  const CalibrationResult& calibration() const { return calibration_; }
  long long step() const { return step_; }
  // The step of the last checkpoint written or loaded; -1 before the first.
  long long checkpoint_step() const { return checkpoint_step_; }
  // One iteration: a D step then a G step. Throws NonFiniteLoss on a non-finite loss before the step of that
  // network (a non-finite G loss comes after D's step), so the trainer should not be checkpointed after it.
  StepLog train_step();
  // Runs to config.steps, with samples, checkpoints and log rows at their intervals and a final checkpoint.
  // `on_step` sees every iteration (progress display); `stop` is polled between iterations (a signal), and when it
  // says stop the final checkpoint is of the last finished iteration.
  void run(const std::function<void(const StepLog&)>& on_step, const std::function<bool()>& stop = {});

  void save_checkpoint() const;  // checkpoint.safetensors and generator.safetensors, atomically
  void write_sample() const;     // samples/step_NNNNNN.png: content | stylised | style crop
  // The johnson generator; throws for an adain run (its G is decoder() over the frozen VGG).
  const Generator& generator() const;
  // The adain decoder; throws for a johnson run.
  const AdainDecoder& decoder() const;
  // G's trained network, whichever the architecture.
  const nn::Module& trained_generator() const;
  // Null with --lambda-adv 0: there is no discriminator then.
  const Discriminator* discriminator() const { return discriminator_.get(); }

 private:
  Trainer(const TrainConfig& config, bool resume, bool planning, const ReadProgress& on_photo_read);
  void load_checkpoint();  // reads only
  // One batch's inputs and targets; draws from the data streams unless planning.
  struct Batch {
    Tensor content, style, adain_target;  // style and adain_target: adain only
    std::map<std::string, Tensor> content_targets, style_targets;
  };
  Batch next_batch(bool planning);
  Variable generate(const Batch& batch, const nn::Sequential::LayerOutput& on_layer_output = {}) const;
  PerceptualTerms perceptual_terms(const Variable& output, const Batch& batch) const;
  CalibrationResult calibrate();  // step 0: the first batch
  // Sets every weight in config.calibrate to its target ratio of the weighted content term, from `raw` terms.
  CalibrationResult set_calibrated_weights(const LossWeights& raw, long long step);
  // After each step: adds its raw terms to the window's sums, and after every K-th step re-balances.
  void rebalance(const StepLog& log);
  bool rebalancing() const { return !config_.calibrate.empty() && config_.calibrate_every > 0; }
  // save_checkpoint for run(): a failure (a full disk) stops training with an error that also says which
  // checkpoint is kept and how to continue.
  void save_checkpoint_or_stop() const;
  // Throws NonFiniteLoss for `log` (its step and the values measured so far), after writing non_finite_stop.json.
  [[noreturn]] void stop_non_finite(const StepLog& log, const std::string& what, const std::string& advice) const;
  void write_histograms() const;  // TensorBoard histograms of G's and D's parameters and gradients

  TrainConfig config_;
  RunFolder folder_;
  Device device_;
  std::unique_ptr<ContentDataset> data_;
  Image style_image_;  // johnson
  std::unique_ptr<Vgg19Features> vgg_;
  std::unique_ptr<PerceptualLoss> perceptual_;
  GanObjective objective_;
  std::unique_ptr<Generator> generator_;        // johnson
  std::unique_ptr<AdainDecoder> decoder_;       // adain
  std::unique_ptr<ContentDataset> style_data_;  // adain: the paintings, as size x size crops
  std::string vgg_identity_;                    // what model files record (adain_model.h)
  std::unique_ptr<Discriminator> discriminator_;
  std::unique_ptr<nn::Adam> adam_g_, adam_d_;
  long long step_ = 0;
  CalibrationResult calibration_;
  // The sums of the raw terms over the steps of the re-balance window done so far (saved in the checkpoint).
  LossWeights calibration_sums_{.content = 0, .style = 0, .adv = 0, .tv = 0};
  mutable long long checkpoint_step_ = -1;
  std::vector<Image> last_content_, last_style_;  // the latest batch, for samples
  Tensor last_output_;
  bool record_activations_ = false;                // run() sets it for the iterations that write a sample
  std::vector<ActivationStats> activation_stats_;  // of G's and D's layers in the latest such iteration
};

// Builds the VGG a config asks for: the file at `vgg`, or seeded random weights for "random" (with a warning on
// stderr). A missing file gives an error naming the fetch script and the --vgg random fallback.
std::unique_ptr<Vgg19Features> make_vgg(const std::string& vgg, Pool pool, std::uint64_t seed, DType dtype,
                                        const Device& device);

// Checks the settings a run cannot start with, naming the option: loss weights and learning rates that are negative
// or not finite, all four loss weights 0, a bad --size, --batch or --steps, unknown or repeated VGG layers.
void check_train_config(const TrainConfig& config);

// Reads a style image. With a discriminator (`adversarial`) D's real samples are size x size crops of it, so it
// must be at least that on each side; without one only VGG's smallest input.
Image read_style_image(const std::string& path, int size, bool adversarial = true);

}  // namespace gramgan::gan
