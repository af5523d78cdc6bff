// Damaged model files through the real binary: `train --resume` on a run folder whose checkpoint.safetensors,
// and `stylize --model` on a generator.safetensors, that is truncated, lacks a tensor, has a tensor of the wrong
// shape or of the wrong dtype. Each ends with exit status 2 and one stderr line naming the tensor and the problem,
// and leaves the run folder as it was; so does a saved configuration that names an unknown enum value. (The
// parser's own checks are in test_safetensors.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/gan/checkpoint.h"
#include "cli_runner.h"
#include "engine/io/safetensors.h"
#include "temp_dir.h"
#include "train_fixtures.h"

namespace {

namespace fs = std::filesystem;
using gramgan::SafetensorsFile;
using gramgan::test::CliResult;
using gramgan::test::expect_cli_error;
using gramgan::test::run_cli;
using gramgan::test::snapshot;
using gramgan::test::TempDir;

// One tensor of a file as stored: dtype name, shape and raw little-endian bytes.
struct RawTensor {
  std::string name, dtype;
  std::vector<std::int64_t> shape;
  std::string bytes;
};

struct RawFile {
  std::vector<RawTensor> tensors;
  std::map<std::string, std::string> metadata;

  RawTensor& at(const std::string& name) {
    const auto it = std::find_if(tensors.begin(), tensors.end(), [&](const RawTensor& t) { return t.name == name; });
    if (it == tensors.end()) throw std::runtime_error("test file has no tensor " + name);
    return *it;
  }
};

RawFile read_raw_file(const std::string& path) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  RawFile raw{{}, file.metadata()};
  for (const auto& info : file.tensors()) {
    const std::vector<std::uint8_t> bytes = file.read_raw(info.name);
    raw.tensors.push_back(
        {info.name, gramgan::safetensors_dtype_name(info.dtype), info.shape, std::string(bytes.begin(), bytes.end())});
  }
  return raw;
}

// Written by hand rather than with write_safetensors, which only writes F32/F64/I64/U64 entries.
void write_raw_file(const std::string& path, const RawFile& raw) {
  nlohmann::json header = nlohmann::json::object();
  if (!raw.metadata.empty()) header["__metadata__"] = raw.metadata;
  std::string data;
  for (const RawTensor& t : raw.tensors) {
    header[t.name] = {
        {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[std::size_t(i)] = char(std::uint64_t(text.size()) >> (8 * i) & 0xff);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes << text << data;
}

// The kinds of damage, each applied to a copy of a good file. `tensor` is the one damaged.
struct Damage {
  std::string label;
  std::function<void(const std::string& path, const std::string& tensor)> apply;
  std::vector<std::string> fragments;  // besides the tensor's name
};

std::vector<Damage> damages() {
  auto rewrite = [](const std::function<void(RawFile&, const std::string&)>& change) {
    return [change](const std::string& path, const std::string& tensor) {
      RawFile raw = read_raw_file(path);
      change(raw, tensor);
      write_raw_file(path, raw);
    };
  };
  return {
      {"truncated",
       [](const std::string& path, const std::string&) { fs::resize_file(path, fs::file_size(path) - 10); },
       {"past the end of the data buffer"}},
      {"missing",
       rewrite([](RawFile& raw, const std::string& tensor) {
         raw.tensors.erase(std::find_if(raw.tensors.begin(), raw.tensors.end(),
                                        [&](const RawTensor& t) { return t.name == tensor; }));
       }),
       {"missing tensor"}},
      {"shape",
       rewrite([](RawFile& raw, const std::string& tensor) {
         // Same element count, so only the model's shape check can notice.
         std::vector<std::int64_t>& shape = raw.at(tensor).shape;
         std::rotate(shape.begin(), shape.begin() + 1, shape.end());
       }),
       {"has shape", "expected"}},
      {"dtype",
       rewrite([](RawFile& raw, const std::string& tensor) {
         RawTensor& t = raw.at(tensor);
         t.dtype = "F16";
         t.bytes = std::string(t.bytes.size() / 2, '\0');
       }),
       {"dtype F16"}},
  };
}

class CliDamagedFiles : public ::testing::Test {
 protected:
  CliDamagedFiles() : dir_("cli_damaged") { gramgan::test::write_train_inputs(dir_.path(), 1, 36, 40); }

  // A finished 1-step tiny run (tests/train_fixtures.h) on the cpu.
  fs::path trained_run() const {
    const fs::path run = dir_.path() / "run";
    const CliResult r = run_cli(gramgan::test::tiny_train_cli(dir_ / "content", dir_ / "style.png", run.string(), 1));
    EXPECT_EQ(r.status, 0) << r.err;
    return run;
  }

  TempDir dir_;
};

TEST_F(CliDamagedFiles, TrainResumeRefusesDamagedCheckpoint) {
  const fs::path good = trained_run();
  ASSERT_TRUE(fs::is_regular_file(good / "checkpoint.safetensors"));
  int n = 0;
  for (const Damage& damage : damages()) {
    // A weight, and an optimizer moment (checked by a different code path).
    for (const std::string tensor : {"G.head.conv.weight", "adam_d.v.layer1.conv.weight"}) {
      SCOPED_TRACE(damage.label + " " + tensor);
      const fs::path run = dir_.path() / ("damaged" + std::to_string(n++));
      fs::copy(good, run, fs::copy_options::recursive);
      damage.apply((run / "checkpoint.safetensors").string(), tensor);
      const auto before = snapshot(run);
      std::vector<std::string> fragments = damage.fragments;
      fragments.push_back("checkpoint.safetensors");
      // Truncation is noticed at whichever tensor runs past the end.
      fragments.push_back(damage.label == "truncated" ? "tensor '" : "'" + tensor + "'");
      expect_cli_error(run_cli({"train", "--resume", "--out", run.string(), "--steps", "2", "--device", "cpu"}),
                       fragments);
      EXPECT_EQ(snapshot(run), before) << "a refused resume changed the run folder";
    }
  }
}

// The configuration a checkpoint carries names its enums by string: one that names no value (a hand-edited or
// future file) is refused with the key, the string and the valid values, not read as some other value.
TEST_F(CliDamagedFiles, TrainResumeRefusesUnknownNamesInSavedConfig) {
  const fs::path good = trained_run();
  for (const auto& [key, valid] : gramgan::test::kConfigEnumKeys) {
    SCOPED_TRACE(key);
    const fs::path run = dir_.path() / (std::string("config_") + key);
    fs::copy(good, run, fs::copy_options::recursive);
    const std::string checkpoint = (run / "checkpoint.safetensors").string();
    RawFile raw = read_raw_file(checkpoint);
    nlohmann::json config = nlohmann::json::parse(raw.metadata.at("gramgan.config"));
    config[key] = "bogus";
    raw.metadata["gramgan.config"] = config.dump(2);
    write_raw_file(checkpoint, raw);
    const auto before = snapshot(run);
    expect_cli_error(run_cli({"train", "--resume", "--out", run.string(), "--steps", "2", "--device", "cpu"}),
                     {"checkpoint.safetensors", std::string("'") + key + "'", "unknown value 'bogus'", valid});
    EXPECT_EQ(snapshot(run), before) << "a refused resume changed the run folder";
  }
}

TEST_F(CliDamagedFiles, StylizeRefusesDamagedGenerator) {
  gramgan::RandomStream rng(3);
  const gramgan::gan::Generator generator({.width = 4, .residual_blocks = 1}, rng);
  const std::string good = dir_ / "generator.safetensors";
  gramgan::gan::save_generator(good, generator);
  int n = 0;
  for (const Damage& damage : damages()) {
    for (const std::string tensor : {"head.conv.weight", "res1.1.conv.weight"}) {
      ASSERT_TRUE(SafetensorsFile::open(good).contains(tensor)) << tensor;
      SCOPED_TRACE(damage.label + " " + tensor);
      const std::string model = dir_ / ("damaged" + std::to_string(n++) + ".safetensors");
      fs::copy_file(good, model);
      damage.apply(model, tensor);
      const std::string out = dir_ / "out.png";
      std::vector<std::string> fragments = damage.fragments;
      fragments.push_back(fs::path(model).filename().string());
      fragments.push_back(damage.label == "truncated" ? "tensor '" : "'" + tensor + "'");
      expect_cli_error(
          run_cli({"stylize", "--model", model, "--in", dir_ / "style.png", "--out", out, "--device", "cpu"}),
          fragments);
      EXPECT_FALSE(fs::exists(out));
    }
  }
}

}  // namespace
