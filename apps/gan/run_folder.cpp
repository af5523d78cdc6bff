#include "apps/gan/run_folder.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "engine/io/png.h"

namespace gramgan::gan {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kConfigKey = "gramgan.config";
// log.csv's column names are a file format: they keep their first spelling (d_loss_raw, d_real_mean, ...) even
// where the code now says loss_d and score_real_mean.
constexpr const char* kLogHeader =
    "step,content_raw,content_weighted,style_raw,style_weighted,adv_g_raw,adv_g_weighted,tv_raw,tv_weighted,"
    "g_total,d_loss_raw,d_loss_weighted,d_real_mean,d_fake_mean,g_grad_norm,d_grad_norm,step_seconds";

void write_text_atomically(const std::string& path, const std::string& text) {
  AtomicFile file(path);
  file.write(text.data(), text.size());
  file.commit();
}

std::string csv_optional(const std::optional<double>& v) { return v ? csv_number(*v) : std::string(); }

}  // namespace

std::string csv_number(double v) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.9g", v);
  return buffer;
}

std::string RunFolder::checkpoint_path() const { return (fs::path(dir_) / "checkpoint.safetensors").string(); }
std::string RunFolder::generator_path() const { return (fs::path(dir_) / "generator.safetensors").string(); }
std::string RunFolder::log_path() const { return (fs::path(dir_) / "log.csv").string(); }
std::string RunFolder::config_path() const { return (fs::path(dir_) / "config.json").string(); }
bool RunFolder::has_checkpoint() const { return fs::exists(checkpoint_path()); }

void RunFolder::prepare() const {
  make_folders((fs::path(dir_) / "samples").string());
  for (const std::string& path : {checkpoint_path(), generator_path(), log_path(), config_path()})
    remove_stale_temporaries(path);
}

void RunFolder::start(const TrainConfig& config, const Device& device, std::size_t content_images) const {
  json config_file = json::parse(config_to_json(config));
  config_file["build"] = {
      {"version", GRAMGAN_VERSION}, {"build_type", GRAMGAN_BUILD_TYPE}, {"cuda_architectures", cuda_architectures()}};
  config_file["device_info"] = device.is_cpu()
                                   ? "cpu (simulated kernels, " + std::to_string(simulator_workers()) + " workers)"
                                   : gpus().at(std::size_t(device.index())).name;
  config_file["content_images"] = content_images;
  write_text_atomically(config_path(), config_file.dump(2) + "\n");
  write_text_atomically(log_path(), std::string(kLogHeader) + "\n");
}

void RunFolder::truncate_log(long long step) const {
  // Later rows belong to iterations that are about to be redone.
  std::ifstream in(log_path());
  std::string line, kept = std::string(kLogHeader) + "\n";
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    long long row_step = -1;
    std::sscanf(line.c_str(), "%lld,", &row_step);
    // A row cut short by a kill (rows are appended, not written atomically) has fewer fields: dropped.
    const bool complete =
        std::count(line.begin(), line.end(), ',') == std::count(kLogHeader, kLogHeader + std::strlen(kLogHeader), ',');
    if (complete && row_step >= 1 && row_step <= step) kept += line + "\n";
  }
  write_text_atomically(log_path(), kept);
}

void RunFolder::append_log(const StepLog& l) const {
  std::ofstream out(log_path(), std::ios::app);
  const LossWeights& w = l.lambdas;
  out << l.step << ',' << csv_number(l.content) << ',' << csv_number(w.content * l.content) << ','
      << csv_number(l.style) << ',' << csv_number(w.style * l.style) << ',' << csv_number(l.adv_g) << ','
      << csv_number(w.adv * l.adv_g) << ',' << csv_number(l.tv) << ',' << csv_number(w.tv * l.tv) << ','
      << csv_number(l.g_total) << ',' << csv_optional(l.loss_d) << ','
      << (l.loss_d ? csv_number(w.adv * *l.loss_d) : std::string()) << ',' << csv_optional(l.score_real_mean) << ','
      << csv_optional(l.score_fake_mean) << ',' << csv_number(l.grad_norm_g) << ',' << csv_optional(l.grad_norm_d)
      << ',' << csv_number(l.seconds) << '\n';
  if (!out) throw Error(log_path() + ": cannot append to the training log");
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
  char name[32];
  std::snprintf(name, sizeof name, "step_%06lld.png", step);
  write_png((fs::path(dir_) / "samples" / name).string(), grid);
}

void RunFolder::write_checkpoint(const std::vector<SafetensorsEntry>& entries, const TrainConfig& config) const {
  write_safetensors(checkpoint_path(), entries,
                    {{kConfigKey, config_to_json(config)}, {"gramgan.version", GRAMGAN_VERSION}});
}

TrainConfig RunFolder::saved_config() const {
  const std::string path = checkpoint_path();
  if (!fs::exists(path)) throw Error(path + ": no checkpoint to resume (start the run without --resume)");
  const SafetensorsFile file = SafetensorsFile::open(path);
  const auto it = file.metadata().find(kConfigKey);
  if (it == file.metadata().end()) throw Error(path + ": not a gramgan training checkpoint (no saved configuration)");
  return config_from_json(it->second, path);
}

}  // namespace gramgan::gan
