#include "apps/gan/run_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/png.h"

namespace gramgan::gan {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kConfigKey = "gramgan.config";
// One column of log.csv after its step, and the TensorBoard scalar "<group>/<name>" of the same value: one table,
// so that the log and the events cannot drift apart. Absent values (no D) leave the csv field empty and write no
// scalar. The names are a file format: they keep their first spelling (d_loss_raw, d_real_mean, ...) even where
// the code now says loss_d and score_real_mean. A setting that can differ between two runs compared row by row
// (--precision) is a numeric column too, 1 or 0, so that every field stays a number for the readers (the report,
// TensorBoard, scripts/gpu_compare_runs.py). step_seconds stays last (tests drop the last field to compare runs).
struct LogColumn {
  const char* name;
  const char* group;
  std::optional<double> (*value)(const StepLog&);
};
using V = std::optional<double>;
constexpr LogColumn kLogColumns[] = {
    {"content_raw", "G_loss", [](const StepLog& l) -> V { return l.content; }},
    {"content_weighted", "G_loss", [](const StepLog& l) -> V { return l.lambdas.content * l.content; }},
    {"style_raw", "G_loss", [](const StepLog& l) -> V { return l.style; }},
    {"style_weighted", "G_loss", [](const StepLog& l) -> V { return l.lambdas.style * l.style; }},
    {"adv_g_raw", "G_loss", [](const StepLog& l) -> V { return l.adv_g; }},
    {"adv_g_weighted", "G_loss", [](const StepLog& l) -> V { return l.lambdas.adv * l.adv_g; }},
    {"tv_raw", "G_loss", [](const StepLog& l) -> V { return l.tv; }},
    {"tv_weighted", "G_loss", [](const StepLog& l) -> V { return l.lambdas.tv * l.tv; }},
    {"g_total", "G_loss", [](const StepLog& l) -> V { return l.g_total; }},
    {"d_loss_raw", "D_loss", [](const StepLog& l) -> V { return l.loss_d; }},
    {"d_loss_weighted", "D_loss",
     [](const StepLog& l) -> V { return l.loss_d ? V(l.lambdas.adv * *l.loss_d) : std::nullopt; }},
    {"d_real_mean", "D_score", [](const StepLog& l) -> V { return l.score_real_mean; }},
    {"d_fake_mean", "D_score", [](const StepLog& l) -> V { return l.score_fake_mean; }},
    {"g_grad_norm", "grad_norm", [](const StepLog& l) -> V { return l.grad_norm_g; }},
    {"d_grad_norm", "grad_norm", [](const StepLog& l) -> V { return l.grad_norm_d; }},
    {"tf32", "precision", [](const StepLog& l) -> V { return l.precision == Precision::tf32 ? 1.0 : 0.0; }},
    {"step_seconds", "time", [](const StepLog& l) -> V { return l.seconds; }},
};

const std::string& log_header() {
  static const std::string header = [] {
    std::string h = "step";
    for (const LogColumn& column : kLogColumns) h += std::string(",") + column.name;
    return h;
  }();
  return header;
}

void write_text_atomically(const std::string& path, const std::string& text) {
  AtomicFile file(path);
  file.write(text.data(), text.size());
  file.commit();
}

// Who holds the lock on the open lock file `fd`, as it wrote there (RunFolder::lock).
std::string read_holder(int fd) {
  char buffer[256];
  const ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  std::string text(buffer, n > 0 ? std::size_t(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
  return text.empty() ? "another process" : text;
}

// The holder of the lock on `lock_path`, or "" when nobody holds it. Probes with a shared lock for an instant, so
// nothing is written; lock() retries for a moment so that the probe cannot make it fail.
std::string current_holder(const std::string& lock_path) {
  const int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string holder;
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0)
    ::flock(fd, LOCK_UN);
  else if (errno == EWOULDBLOCK)
    holder = read_holder(fd);
  ::close(fd);
  return holder;
}

Error in_use(const std::string& dir, const std::string& holder) {
  return Error(dir + ": in use by " + holder + "; wait for it to end (or stop it) or choose another --out");
}

// The entries of `dir` but its lock file, sorted, folders with a trailing '/'; empty when `dir` is missing.
std::vector<std::string> run_folder_entries(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name != RunFolder::kLockName) names.push_back(name + (it->is_directory(ec) ? "/" : ""));
  }
  if (ec) throw Error(dir + ": cannot read the folder: " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

// A new run needs an empty (or new) folder: throws naming what is there.
void check_empty(const std::string& dir) {
  const std::vector<std::string> names = run_folder_entries(dir);
  if (names.empty()) return;
  std::string listed;
  for (std::size_t i = 0; i < names.size() && i < 4; ++i) listed += (i ? ", " : "") + names[i];
  if (names.size() > 4) listed += " and " + std::to_string(names.size() - 4) + " more";
  if (fs::exists(fs::path(dir) / "checkpoint.safetensors"))
    throw Error(dir +
                ": already holds a run (checkpoint.safetensors); pass --resume to continue it or choose "
                "another --out");
  if (is_run_folder(dir))
    throw Error(dir + ": holds a run that stopped before its first checkpoint (" + listed +
                "); there is nothing to resume: delete the folder or choose another --out");
  throw Error(dir + ": not empty (" + listed + "); a new run needs an empty or new folder: choose another --out");
}

}  // namespace

bool is_run_folder(const std::string& dir) {
  std::error_code ec;
  const fs::path d(dir);
  return fs::exists(d / RunFolder::kLockName, ec) || fs::exists(d / "checkpoint.safetensors", ec) ||
         (fs::exists(d / "config.json", ec) && fs::exists(d / "log.csv", ec));
}

std::string run_folder_holder(const std::string& dir) {
  return current_holder((fs::path(dir) / RunFolder::kLockName).string());
}

std::string csv_number(double v) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.9g", v);
  return buffer;
}

std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::istringstream in(line);
  std::string field;
  while (std::getline(in, field, ',')) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

std::string RunFolder::checkpoint_path() const { return (fs::path(dir_) / "checkpoint.safetensors").string(); }
std::string RunFolder::generator_path() const { return (fs::path(dir_) / "generator.safetensors").string(); }
std::string RunFolder::log_path() const { return (fs::path(dir_) / "log.csv").string(); }
std::string RunFolder::config_path() const { return (fs::path(dir_) / "config.json").string(); }
std::string RunFolder::lock_path() const { return (fs::path(dir_) / kLockName).string(); }
bool RunFolder::has_checkpoint() const { return fs::exists(checkpoint_path()); }

RunFolder::~RunFolder() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

void RunFolder::check_not_in_use() const {
  check_output_folder(dir_);
  if (const std::string holder = current_holder(lock_path()); !holder.empty()) throw in_use(dir_, holder);
}

void RunFolder::check_new_run() const {
  check_not_in_use();
  check_empty(dir_);
}

void RunFolder::lock(bool new_run, long long resumed_step) {
  make_folders(dir_);
  const std::string path = lock_path();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) throw Error(path + ": cannot create the run's lock file: " + std::strerror(errno));
  lock_fd_ = fd;  // closed by the destructor, also when a check below throws
  for (int attempt = 0; ::flock(fd, LOCK_EX | LOCK_NB) != 0; ++attempt) {
    if (errno != EWOULDBLOCK) throw Error(path + ": cannot lock the run folder: " + std::strerror(errno));
    if (attempt == 10) throw in_use(dir_, read_holder(fd));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a probe (current_holder) lasts an instant
  }
  if (new_run) {
    check_empty(dir_);
  } else if (const long long step = checkpoint_step(); step != resumed_step) {
    throw Error(dir_ + ": the run moved on to step " + std::to_string(step) + " while this process started at step " +
                std::to_string(resumed_step) + " (another gramgan train?); run --resume again");
  }
  char host[256] = "unknown host";
  ::gethostname(host, sizeof host - 1);
  const std::time_t now = std::time(nullptr);
  char since[32] = "";
  std::strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  const std::string holder =
      std::string("gramgan train (pid ") + std::to_string(::getpid()) + " on host " + host + ", since " + since + ")\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, holder.data(), holder.size(), 0) != ssize_t(holder.size()))
    throw Error(path + ": cannot write the run's lock file: " + std::strerror(errno));
}

void RunFolder::prepare() const {
  make_folders((fs::path(dir_) / "samples").string());
  for (const std::string& path :
       {checkpoint_path(), generator_path(), log_path(), config_path(), (fs::path(dir_) / kNonFiniteStopName).string()})
    remove_stale_temporaries(path);
}

void RunFolder::start(const TrainConfig& config, const Device& device, std::size_t content_images) const {
  write_config(config, device, content_images);
  write_text_atomically(log_path(), log_header() + "\n");
}

void RunFolder::write_config(const TrainConfig& config, const Device& device, std::size_t content_images) const {
  json config_file = json::parse(config_to_json(with_absolute_paths(config)));
  config_file["build"] = {
      {"version", GRAMGAN_VERSION}, {"build_type", GRAMGAN_BUILD_TYPE}, {"cuda_architectures", cuda_architectures()}};
  config_file["device_info"] = device.is_cpu()
                                   ? "cpu (simulated kernels, " + std::to_string(simulator_workers()) + " workers)"
                                   : gpus().at(std::size_t(device.index())).name;
  config_file["content_images"] = content_images;
  write_text_atomically(config_path(), config_file.dump(2) + "\n");
}

void RunFolder::truncate_log(long long step) const {
  // Later rows belong to iterations that are about to be redone.
  std::ifstream in(log_path());
  const std::string& header = log_header();
  std::string line, kept = header + "\n";
  std::getline(in, line);
  // A log written before a column existed (tf32) keeps its rows under the current header: each field moves to its
  // column by name, and a column the old log lacks is left empty (not recorded), as an absent value is.
  const std::vector<std::string> names = csv_fields(header), old_names = csv_fields(line);
  std::vector<int> source(names.size(), -1);
  for (std::size_t c = 0; c < names.size(); ++c)
    if (const auto it = std::find(old_names.begin(), old_names.end(), names[c]); it != old_names.end())
      source[c] = int(it - old_names.begin());
  while (std::getline(in, line)) {
    long long row_step = -1;
    std::sscanf(line.c_str(), "%lld,", &row_step);
    // A row cut short by a kill (rows are appended, not written atomically) has fewer fields: dropped.
    const std::vector<std::string> fields = csv_fields(line);
    if (fields.size() != old_names.size() || row_step < 1 || row_step > step) continue;
    for (std::size_t c = 0; c < names.size(); ++c)
      kept += (c ? "," : "") + (source[c] < 0 ? std::string() : fields[std::size_t(source[c])]);
    kept += "\n";
  }
  write_text_atomically(log_path(), kept);
}

void RunFolder::append_log(const StepLog& l) const {
  std::string row = std::to_string(l.step);
  tfevents::Summary scalars;
  for (const LogColumn& column : kLogColumns) {
    const std::optional<double> value = column.value(l);
    row += ',' + (value ? csv_number(*value) : std::string());
    if (value) scalars.add_scalar(std::string(column.group) + "/" + column.name, float(*value));
  }
  if (events_) events_->write(scalars.event(tfevents::wall_time_now(), l.step));
  if (pending_log_.empty()) first_pending_step_ = l.step;
  last_pending_step_ = l.step;
  pending_log_ += row + '\n';
  flush_log();
}

std::string RunFolder::pending_steps() const {
  return first_pending_step_ == last_pending_step_
             ? "step " + std::to_string(first_pending_step_)
             : "steps " + std::to_string(first_pending_step_) + " to " + std::to_string(last_pending_step_);
}

bool RunFolder::flush_log() const {
  if (pending_log_.empty()) return true;
  // One write(2) per attempt on an O_APPEND descriptor, checked, so a failure shows here and not in a stream's
  // buffer at close. What a short write put on disk is not written again.
  int error = 0;
  const int fd = ::open(log_path().c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) {
    error = errno;
  } else {
    while (!pending_log_.empty()) {
      const ssize_t n = ::write(fd, pending_log_.data(), pending_log_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error = n < 0 ? errno : EIO;
        break;
      }
      pending_log_.erase(0, std::size_t(n));
    }
    if (::close(fd) != 0 && error == 0) error = errno;
  }
  const std::string steps = pending_steps();
  if (error != 0) {
    if (log_error_ == 0)
      std::fprintf(stderr,
                   "gramgan: WARNING: %s: cannot append the row of %s: %s; training goes on, and rows are kept in "
                   "memory until they can be written\n",
                   log_path().c_str(), steps.c_str(), std::strerror(error));
    log_error_ = error;
    return pending_log_.empty();
  }
  if (log_error_ != 0)
    std::fprintf(stderr, "gramgan: %s: the rows held back (%s) are written now; the log is complete\n",
                 log_path().c_str(), steps.c_str());
  log_error_ = 0;
  return true;
}

void RunFolder::finish_log() const {
  if (flush_log() && log_error_ == 0) return;
  const std::string steps = pending_steps();
  throw Error(log_path() + ": the rows of " + steps + " could not be written (" + std::strerror(log_error_) +
              "); they are lost from the log, while the checkpoint and generator of the run are saved");
}

void RunFolder::write_sample(long long step, const Image& content, const Image& output, const Image& style) const {
  const int s = content.width, gap = 4;
  Image grid = make_image(3 * s + 2 * gap, s);
  std::fill(grid.pixels.begin(), grid.pixels.end(), 1.0f);
  const Image* panels[3] = {&content, &output, &style};
  for (int p = 0; p < 3; ++p)
    for (int ch = 0; ch < 3; ++ch)
      for (int y = 0; y < s; ++y)
        for (int x = 0; x < s; ++x) grid.at(ch, y, p * (s + gap) + x) = panels[p]->at(ch, y, x);
  if (events_) {
    try {
      tfevents::Summary image;
      image.add_image("samples", grid.height, grid.width, encode_png(grid));
      events_->write(image.event(tfevents::wall_time_now(), step));
    } catch (const Error&) {
      // Only libpng failing in memory gets here; the PNG file below then says why.
    }
  }
  char name[32];
  std::snprintf(name, sizeof name, "step_%06lld.png", step);
  write_png((fs::path(dir_) / "samples" / name).string(), grid);
}

void RunFolder::open_events(long long keep_to_step) {
  std::vector<std::string> existing;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().starts_with(kEventsPrefix)) existing.push_back(it->path().string());
  std::sort(existing.begin(), existing.end());
  for (const std::string& path : existing) {
    try {
      remove_stale_temporaries(path);
      tfevents::cut_back_event_file(path, keep_to_step);
    } catch (const Error& e) {
      std::fprintf(stderr,
                   "gramgan: WARNING: %s; TensorBoard may show the steps after %lld twice (delete that file to "
                   "avoid it); training goes on\n",
                   e.what(), keep_to_step);
    }
  }
  char host[256] = "unknown-host";
  ::gethostname(host, sizeof host - 1);
  std::string name = std::string(kEventsPrefix) + std::to_string(std::time(nullptr)) + "." + host;
  std::replace(name.begin(), name.end(), '/', '_');
  const std::string base = (fs::path(dir_) / name).string();
  std::string path = base;
  // A resume in the same second on the same host: ".N" sorts after the name without it, as TensorBoard orders files.
  for (int n = 1; fs::exists(path, ec); ++n) path = base + "." + std::to_string(n);
  events_ = std::make_unique<tfevents::EventFileWriter>(path);
}

std::string RunFolder::events_path() const { return events_ ? events_->path() : std::string(); }

void RunFolder::write_histograms(long long step, const std::string& network,
                                 const std::vector<autograd::nn::NamedParameter>& parameters) const {
  if (!events_) return;
  tfevents::Summary histograms;
  for (const autograd::nn::NamedParameter& p : parameters) {
    const std::string name = network + "." + p.name;
    histograms.add_histogram("params/" + name, tfevents::make_histogram(host_values(p.variable.value())));
    if (p.variable.grad().defined())
      histograms.add_histogram("grads/" + name, tfevents::make_histogram(host_values(p.variable.grad())));
  }
  events_->write(histograms.event(tfevents::wall_time_now(), step));
}

void RunFolder::write_activations(long long step, const std::vector<ActivationStats>& stats) const {
  if (!events_ || stats.empty()) return;
  tfevents::Summary scalars;
  for (const ActivationStats& s : stats) {
    const std::string prefix = "activations/" + s.layer + "/";
    scalars.add_scalar(prefix + "mean", float(s.mean));
    scalars.add_scalar(prefix + "std", float(s.std));
    if (s.zero_fraction) scalars.add_scalar(prefix + "zero_fraction", float(*s.zero_fraction));
  }
  events_->write(scalars.event(tfevents::wall_time_now(), step));
}

void RunFolder::write_non_finite_stop(const StepLog& log, const std::string& message) const {
  std::string columns;
  for (const LogColumn& column : kLogColumns)
    if (const std::optional<double> value = column.value(log); value && !std::isfinite(*value))
      columns += (columns.empty() ? "" : ", ") + std::string(column.name);
  const bool d = log.loss_d && !std::isfinite(*log.loss_d);
  const std::string text = message + "\nstep " + std::to_string(log.step) + "; network " + (d ? "D" : "G") +
                           "; non-finite columns: " + columns + "\n";
  try {
    write_text_atomically((fs::path(dir_) / kNonFiniteStopName).string(), text);
  } catch (const Error& e) {
    std::fprintf(stderr, "gramgan: WARNING: %s\n", e.what());
  }
}

void RunFolder::remove_non_finite_stop() const {
  std::error_code ec;
  fs::remove(fs::path(dir_) / kNonFiniteStopName, ec);
}

void RunFolder::write_checkpoint(const std::vector<SafetensorsEntry>& entries, const TrainConfig& config) const {
  write_safetensors(checkpoint_path(), entries,
                    {{kConfigKey, config_to_json(with_absolute_paths(config))}, {"gramgan.version", GRAMGAN_VERSION}});
}

TrainConfig RunFolder::saved_config() const {
  // A run another process holds may not have its first checkpoint yet: say that it is in use, not that there is
  // nothing to resume.
  if (const std::string holder = current_holder(lock_path()); !holder.empty()) throw in_use(dir_, holder);
  const std::string path = checkpoint_path();
  if (!fs::exists(path)) throw Error(path + ": no checkpoint to resume (start the run without --resume)");
  const SafetensorsFile file = SafetensorsFile::open(path);
  const auto it = file.metadata().find(kConfigKey);
  if (it == file.metadata().end()) throw Error(path + ": not a gramgan training checkpoint (no saved configuration)");
  return config_from_json(it->second, path);
}

Error steps_not_beyond(const std::string& dir, long long steps, long long at) {
  return Error("--steps " + std::to_string(steps) + ": the run in " + dir + " is already at step " +
               std::to_string(at) + "; give --steps above " + std::to_string(at) + " to train further");
}

long long RunFolder::checkpoint_step() const {
  const std::string path = checkpoint_path();
  if (!fs::exists(path)) throw Error(path + ": no checkpoint to resume (start the run without --resume)");
  const std::vector<std::int64_t> step = SafetensorsFile::open(path).read_int64("step");
  if (step.size() != 1 || step[0] < 0) throw Error(path + ": malformed 'step'");
  return step[0];
}

}  // namespace gramgan::gan
