// The folder of a training run (apps/README.md, "Run folder"): config.json, log.csv, samples/step_NNNNNN.png,
// checkpoint.safetensors, generator.safetensors, TensorBoard events (events.out.tfevents.<seconds>.<host>) and,
// after a non-finite loss stopped the run, non_finite_stop.txt. This file owns their names, their formats and how they
// are written (atomically, except log.csv's appended rows); the trainer owns what goes into them.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apps/gan/config.h"
#include "apps/gan/network_stats.h"
#include "engine/error.h"
#include "engine/io/image.h"
#include "engine/io/safetensors.h"
#include "engine/io/tfevents.h"

namespace gramgan::gan {

// One row of log.csv: what one iteration measured.
struct StepLog {
  long long step = 0;                                             // 1-based: the iteration just finished
  double content = 0, style = 0, adv_g = 0, tv = 0, g_total = 0;  // raw terms and the weighted total
  LossWeights lambdas;
  std::optional<double> loss_d, score_real_mean, score_fake_mean, grad_norm_d;  // absent when lambda_adv = 0 (no D)
  double grad_norm_g = 0;
  Precision precision = Precision::fp32;  // the arithmetic of the step's convolutions (--precision)
  double seconds = 0;
};

// How log.csv writes a number (%.9g); messages that quote a logged value use it too.
std::string csv_number(double v);
// The fields of a log.csv line (numbers or empty: no quoting), an empty last field included.
std::vector<std::string> csv_fields(const std::string& line);

// True when `dir` holds a training run's files (its lock file, a checkpoint, or config.json with log.csv): what the
// content folder's walk skips, so a run's own sample strips never become training photos.
bool is_run_folder(const std::string& dir);

// The process training in the run folder `dir`, as its lock file names it ("gramgan train (pid N on host H, since
// T)"), or "" when no process holds the lock. Probes with a shared lock for an instant: a train starting meanwhile
// waits that instant out (RunFolder::lock), so reading a run never disturbs it.
std::string run_folder_holder(const std::string& dir);

// --resume with --steps `steps` at or below `at`, the step of the checkpoint in `dir`: the error to throw.
Error steps_not_beyond(const std::string& dir, long long steps, long long at);

// The run folder of one `gramgan train`. At most one process works in a run folder: lock() takes an exclusive
// flock on RUN/gramgan.lock, held until this object is destroyed (or the process ends, however it ends), and
// writes the holder (pid, host, start time) into that file, so a second process is refused with a message naming
// it. The lock file stays when the run ends (removing it would let two processes lock two different files).
class RunFolder {
 public:
  static constexpr const char* kLockName = "gramgan.lock";
  static constexpr const char* kEventsPrefix = "events.out.tfevents.";
  static constexpr const char* kNonFiniteStopName = "non_finite_stop.txt";

  explicit RunFolder(std::string dir) : dir_(std::move(dir)) {}
  ~RunFolder();
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;

  std::string checkpoint_path() const;
  std::string generator_path() const;
  std::string log_path() const;
  std::string config_path() const;
  std::string lock_path() const;
  bool has_checkpoint() const;

  // Before a new run does any work, writing nothing: the folder is new (and can be created) or empty but for its
  // lock file, we may write in it, and no process holds it. Otherwise throws gramgan::Error naming what is there
  // (suggesting --resume when it holds a checkpoint) or the process that holds it.
  void check_new_run() const;
  // Before --resume does any work, writing nothing: no process holds the folder and we may write in it.
  void check_not_in_use() const;
  // Takes the folder's lock, creating the folder and the lock file when missing; throws gramgan::Error naming the
  // holder when another process has it. A new run (`new_run`) checks again, under the lock, that the folder is
  // still empty; a resumed one that the checkpoint is still the one of `resumed_step` (no other process moved the
  // run on meanwhile).
  void lock(bool new_run, long long resumed_step = 0);

  // Creates samples/, and removes the temporary files a process killed while writing left (their targets are
  // intact). Needs the lock.
  void prepare() const;
  // config.json: the settings, the build, the device, the number of content images. A new run writes it with
  // start(); a resumed one writes it again (its steps and intervals may have changed, and a damaged one is repaired).
  void write_config(const TrainConfig& config, const Device& device, std::size_t content_images) const;
  // A new run: config.json and a log.csv with only its header.
  void start(const TrainConfig& config, const Device& device, std::size_t content_images) const;
  // Resuming at `step`: log.csv keeps the rows up to it.
  void truncate_log(long long step) const;
  // Appends a row to log.csv, and its values as TensorBoard scalars (tag "<group>/<column>", the same column
  // names). A row that cannot be written (a full disk) is kept in memory and written with the
  // next one, after a warning on stderr naming the step, the file and the reason; a second warning says when the
  // rows caught up. finish_log() throws if rows are still unwritten at the end.
  void append_log(const StepLog& log) const;
  // Throws gramgan::Error naming the steps whose rows log.csv still lacks (see append_log).
  void finish_log() const;
  // samples/step_NNNNNN.png: the three images side by side, all size x size; also a TensorBoard image "samples".
  void write_sample(long long step, const Image& content, const Image& output, const Image& style) const;

  // TensorBoard events. open_events cuts every events file already in the folder back to `keep_to_step` (a
  // resumed run redoes the steps after its checkpoint, and their old events would show twice; a new run has
  // none), atomically, then starts a new file events.out.tfevents.<unix seconds>.<host>[.N] that TensorBoard reads
  // after the older ones. Needs the lock. The events writers never throw and never stop training: a failure warns
  // once on stderr (tfevents::EventFileWriter), and one before open_events leaves the run without events.
  void open_events(long long keep_to_step);
  std::string events_path() const;  // "" before open_events
  // Histograms "params/<network>.<name>" of each parameter and "grads/<network>.<name>" of its gradient (when it
  // has one), `network` being "G" or "D" (the checkpoint's keys).
  void write_histograms(long long step, const std::string& network,
                        const std::vector<autograd::nn::NamedParameter>& parameters) const;
  // Scalars "activations/<layer>/mean", ".../std" and, for ReLU layers, ".../zero_fraction".
  void write_activations(long long step, const std::vector<ActivationStats>& stats) const;

  // non_finite_stop.txt after a non-finite loss stopped training at `log.step`, two lines: the error's message
  // ("step N: the generator loss is not finite (...); training stopped and ..."), then
  // "step N; network G; non-finite columns: g_total, adv_g_raw" (network D or G: whose loss was not finite; the
  // log.csv columns whose values were not finite). What the report's health panel shows; a failure to write it
  // only warns. A resumed run removes it (remove_non_finite_stop), as it truncates log.csv: the steps after the
  // checkpoint are redone.
  void write_non_finite_stop(const StepLog& log, const std::string& message) const;
  void remove_non_finite_stop() const;

  // checkpoint.safetensors with `config` in its metadata (what saved_config reads back).
  void write_checkpoint(const std::vector<SafetensorsEntry>& entries, const TrainConfig& config) const;
  // The checkpoint's saved configuration; throws when another process holds the folder, when there is no
  // checkpoint or it is not a training checkpoint.
  TrainConfig saved_config() const;
  // The checkpoint's step (what --resume continues from); throws like saved_config.
  long long checkpoint_step() const;

 private:
  bool flush_log() const;             // writes the pending rows; false (and warns once) when that fails
  std::string pending_steps() const;  // "step N" or "steps N to M": the rows held back

  std::string dir_;
  int lock_fd_ = -1;
  mutable std::string pending_log_;  // rows not yet in log.csv
  mutable long long first_pending_step_ = 0, last_pending_step_ = 0;
  mutable int log_error_ = 0;  // errno of the failed append; 0 when log.csv is complete
  std::unique_ptr<tfevents::EventFileWriter> events_;
};

}  // namespace gramgan::gan
