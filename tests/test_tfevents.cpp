// TensorBoard event files (engine/io/tfevents.h) and what a training run writes into them: CRC-32C against known
// vectors and a bitwise reference, the record framing, the protobuf fields read back by a parser written here (not
// the library's), damaged files, the cut-back a resume makes, and a failing disk that warns once while training
// goes on unchanged. tests/tensorboard_reader.py reads a real run with TensorBoard's own reader.
#include "engine/io/tfevents.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/gan/trainer.h"
#include "engine/io/png.h"
#include "temp_dir.h"
#include "train_fixtures.h"

namespace {

namespace fs = std::filesystem;
namespace tfevents = gramgan::tfevents;
using gramgan::test::TempDir;

// ---- independent references ----------------------------------------------------------------------------------

// CRC-32C bit by bit (no table), the polynomial written out.
std::uint32_t crc32c_bitwise(const std::string& data) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::uint64_t little_endian(const std::string& s, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t(static_cast<unsigned char>(s.at(at + i))) << (8 * i);
  return v;
}

// A protobuf message as its fields in order: number, wire type, and the varint / fixed bits or the bytes.
struct Field {
  int number = 0, wire = 0;
  std::uint64_t bits = 0;
  std::string bytes;
  double as_double() const {
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  float as_float() const {
    const auto b = std::uint32_t(bits);
    float f;
    std::memcpy(&f, &b, sizeof f);
    return f;
  }
};

std::vector<Field> parse_message(const std::string& m) {
  std::vector<Field> fields;
  std::size_t pos = 0;
  const auto varint = [&] {
    std::uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      if (pos >= m.size() || shift > 63) throw std::runtime_error("truncated varint");
      const auto byte = static_cast<unsigned char>(m[pos++]);
      v |= std::uint64_t(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
    }
  };
  while (pos < m.size()) {
    const std::uint64_t key = varint();
    Field f;
    f.number = int(key >> 3);
    f.wire = int(key & 7);
    if (f.wire == 0) {
      f.bits = varint();
    } else if (f.wire == 1 || f.wire == 5) {
      const int n = f.wire == 1 ? 8 : 4;
      if (m.size() - pos < std::size_t(n)) throw std::runtime_error("truncated fixed field");
      f.bits = little_endian(m, pos, n);
      pos += std::size_t(n);
    } else if (f.wire == 2) {
      const std::uint64_t n = varint();
      if (n > m.size() - pos) throw std::runtime_error("truncated bytes");
      f.bytes = m.substr(pos, n);
      pos += n;
    } else {
      throw std::runtime_error("unknown wire type " + std::to_string(f.wire));
    }
    fields.push_back(f);
  }
  return fields;
}

// The fields numbered `number` (repeated ones in order).
std::vector<Field> fields_of(const std::vector<Field>& fields, int number) {
  std::vector<Field> out;
  for (const Field& f : fields)
    if (f.number == number) out.push_back(f);
  return out;
}
Field field(const std::vector<Field>& fields, int number) {
  const std::vector<Field> all = fields_of(fields, number);
  if (all.size() != 1) throw std::runtime_error("field " + std::to_string(number) + " is not there once");
  return all[0];
}

std::vector<double> packed_doubles(const std::string& bytes) {
  std::vector<double> values;
  for (std::size_t at = 0; at + 8 <= bytes.size(); at += 8) {
    const std::uint64_t b = little_endian(bytes, at, 8);
    double d;
    std::memcpy(&d, &b, sizeof d);
    values.push_back(d);
  }
  return values;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string scalar_event(long long step, float value) {
  tfevents::Summary s;
  s.add_scalar("x", value);
  return s.event(1.0, step);
}

// ---- format ------------------------------------------------------------------------------------------------------

TEST(TfEvents, Crc32cKnownVectors) {
  EXPECT_EQ(tfevents::crc32c("123456789", 9), 0xE3069283u);
  const std::string zeros(32, '\0'), ones(32, '\xff');
  EXPECT_EQ(tfevents::crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(tfevents::crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(tfevents::crc32c("", 0), 0u);
}

TEST(TfEvents, Crc32cMatchesABitwiseReferenceAndContinues) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(char((i * 131 + 7) & 0xff));
  for (std::size_t n : {1u, 3u, 17u, 256u, 1000u})
    EXPECT_EQ(tfevents::crc32c(data.data(), n), crc32c_bitwise(data.substr(0, n))) << n;
  EXPECT_EQ(tfevents::crc32c(data.data() + 400, 600, tfevents::crc32c(data.data(), 400)), crc32c_bitwise(data));
}

TEST(TfEvents, RecordFraming) {
  const std::string data = "hello, events";
  const std::string record = tfevents::frame_record(data);
  ASSERT_EQ(record.size(), data.size() + 16);
  EXPECT_EQ(little_endian(record, 0, 8), data.size());
  const auto masked = [](std::uint32_t crc) { return std::uint32_t(((crc >> 15) | (crc << 17)) + 0xa282ead8u); };
  EXPECT_EQ(little_endian(record, 8, 4), masked(crc32c_bitwise(record.substr(0, 8))));
  EXPECT_EQ(record.substr(12, data.size()), data);
  EXPECT_EQ(little_endian(record, 12 + data.size(), 4), masked(crc32c_bitwise(data)));
  EXPECT_EQ(tfevents::masked_crc32c(data.data(), data.size()), masked(crc32c_bitwise(data)));
}

TEST(TfEvents, FileVersionEvent) {
  const auto fields = parse_message(tfevents::file_version_event(1234.5));
  EXPECT_EQ(field(fields, 1).wire, 1);
  EXPECT_EQ(field(fields, 1).as_double(), 1234.5);
  EXPECT_EQ(field(fields, 3).bytes, "brain.Event:2");
  EXPECT_TRUE(fields_of(fields, 2).empty());
}

TEST(TfEvents, ScalarImageAndHistogramFields) {
  tfevents::Summary summary;
  summary.add_scalar("G_loss/g_total", 1.5f);
  const std::vector<unsigned char> png = {0x89, 'P', 'N', 'G', 0, 1, 2};
  summary.add_image("samples", 32, 104, png);
  tfevents::Histogram h;
  h.min = -1;
  h.max = 2;
  h.num = 4;
  h.sum = 3;
  h.sum_squares = 7;
  h.bucket_limit = {0.5, 2};
  h.bucket = {1, 3};
  summary.add_histogram("params/G.w", h);
  const std::string event = summary.event(99.25, 123456789012LL);
  EXPECT_EQ(tfevents::event_step(event), 123456789012LL);

  const auto e = parse_message(event);
  EXPECT_EQ(field(e, 1).as_double(), 99.25);
  EXPECT_EQ(field(e, 2).wire, 0);
  EXPECT_EQ(field(e, 2).bits, 123456789012ull);
  const auto values = fields_of(parse_message(field(e, 5).bytes), 1);
  ASSERT_EQ(values.size(), 3u);

  const auto scalar = parse_message(values[0].bytes);
  EXPECT_EQ(field(scalar, 1).bytes, "G_loss/g_total");
  EXPECT_EQ(field(scalar, 2).wire, 5);
  EXPECT_EQ(field(scalar, 2).as_float(), 1.5f);

  const auto image_value = parse_message(values[1].bytes);
  EXPECT_EQ(field(image_value, 1).bytes, "samples");
  const auto image = parse_message(field(image_value, 4).bytes);
  EXPECT_EQ(field(image, 1).bits, 32u);
  EXPECT_EQ(field(image, 2).bits, 104u);
  EXPECT_EQ(field(image, 3).bits, 3u);
  EXPECT_EQ(field(image, 4).bytes, std::string(png.begin(), png.end()));

  const auto histo_value = parse_message(values[2].bytes);
  EXPECT_EQ(field(histo_value, 1).bytes, "params/G.w");
  const auto histo = parse_message(field(histo_value, 5).bytes);
  EXPECT_EQ(field(histo, 1).as_double(), -1.0);
  EXPECT_EQ(field(histo, 2).as_double(), 2.0);
  EXPECT_EQ(field(histo, 3).as_double(), 4.0);
  EXPECT_EQ(field(histo, 4).as_double(), 3.0);
  EXPECT_EQ(field(histo, 5).as_double(), 7.0);
  EXPECT_EQ(field(histo, 6).wire, 2);  // packed
  EXPECT_EQ(packed_doubles(field(histo, 6).bytes), h.bucket_limit);
  EXPECT_EQ(packed_doubles(field(histo, 7).bytes), h.bucket);
}

TEST(TfEvents, EventStepOfMalformedData) {
  EXPECT_EQ(tfevents::event_step(tfevents::file_version_event(1)), 0);
  EXPECT_EQ(tfevents::event_step(std::string("\x10", 1)), -1);      // a varint cut off
  EXPECT_EQ(tfevents::event_step(std::string("\x0f\x00", 2)), -1);  // wire type 7
}

TEST(TfEvents, HistogramBuckets) {
  const tfevents::Histogram h = tfevents::make_histogram({0, 1, 2, 3, 4, 4, std::nan(""), INFINITY}, 4);
  EXPECT_EQ(h.min, 0);
  EXPECT_EQ(h.max, 4);
  EXPECT_EQ(h.num, 6);  // the non-finite values are left out
  EXPECT_EQ(h.sum, 14);
  EXPECT_EQ(h.sum_squares, 46);
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(h.bucket, (std::vector<double>{2, 1, 1, 2}));  // (-inf, 1], (1, 2], (2, 3], (3, 4]

  const tfevents::Histogram flat = tfevents::make_histogram({0.5, 0.5, 0.5});
  EXPECT_EQ(flat.bucket_limit, std::vector<double>{0.5});
  EXPECT_EQ(flat.bucket, std::vector<double>{3});
  EXPECT_TRUE(tfevents::make_histogram({}).bucket.empty());
}

TEST(TfEvents, ReadRecordsStopsAtTheFirstDamagedRecord) {
  const TempDir dir("tfevents_damaged");
  const std::string path = dir / "events";
  const std::string a = tfevents::frame_record("first"), b = tfevents::frame_record("second");
  write_bytes(path, a + b + b.substr(0, 9));  // a third record cut off, as a killed writer leaves it
  EXPECT_EQ(tfevents::read_records(path), (std::vector<std::string>{"first", "second"}));
  std::string flipped = a + b;
  flipped[a.size() + 14] ^= 1;  // the second record's data
  write_bytes(path, flipped);
  EXPECT_EQ(tfevents::read_records(path), std::vector<std::string>{"first"});
  flipped = a + b;
  flipped[a.size() + 1] ^= 1;  // the second record's length
  write_bytes(path, flipped);
  EXPECT_EQ(tfevents::read_records(path), std::vector<std::string>{"first"});
}

TEST(TfEvents, CutBackKeepsStepsUpToTheGivenOne) {
  const TempDir dir("tfevents_cut");
  const std::string path = dir / "events.out.tfevents.1.host";
  std::string bytes = tfevents::frame_record(tfevents::file_version_event(1));
  for (long long step : {1, 2, 3, 4}) bytes += tfevents::frame_record(scalar_event(step, float(step)));
  write_bytes(path, bytes + "\x05garbage");
  EXPECT_EQ(tfevents::cut_back_event_file(path, 2), 2u);
  const std::vector<std::string> kept = tfevents::read_records(path);
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(tfevents::event_step(kept[1]), 1);
  EXPECT_EQ(tfevents::event_step(kept[2]), 2);
  EXPECT_EQ(file_bytes(path).size(),
            tfevents::frame_record(kept[0]).size() + 2 * tfevents::frame_record(kept[1]).size());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"events.out.tfevents.1.host"}) << "temporary left behind";
  EXPECT_EQ(tfevents::cut_back_event_file(path, 2), 0u);
}

// ---- the writer --------------------------------------------------------------------------------------------------

TEST(TfEvents, WriterStartsWithTheFileVersion) {
  const TempDir dir("tfevents_writer");
  const std::string path = dir / "events";
  {
    tfevents::EventFileWriter writer(path);
    writer.write(scalar_event(7, 0.25f));
    EXPECT_FALSE(writer.failed());
  }
  const std::vector<std::string> records = tfevents::read_records(path);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(field(parse_message(records[0]), 3).bytes, "brain.Event:2");
  EXPECT_EQ(tfevents::event_step(records[1]), 7);
}

TEST(TfEvents, AFailingDiskWarnsOnceAndNeverThrows) {
  testing::internal::CaptureStderr();
  {
    tfevents::EventFileWriter writer("/dev/full");  // every write: ENOSPC
    for (int i = 0; i < 5; ++i) EXPECT_NO_THROW(writer.write(scalar_event(i, 1.0f)));
    EXPECT_TRUE(writer.failed());
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("/dev/full: TensorBoard events"), std::string::npos) << err;
  EXPECT_NE(err.find("No space left on device"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

TEST(TfEvents, AFolderWeCannotWriteWarnsOnce) {
  testing::internal::CaptureStderr();
  {
    tfevents::EventFileWriter writer("/nonexistent-folder/events");
    writer.write(scalar_event(1, 1.0f));
    writer.write(scalar_event(2, 1.0f));
    EXPECT_TRUE(writer.failed());
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

TEST(TfEvents, ADeletedFileIsStartedAgain) {
  const TempDir dir("tfevents_deleted");
  const std::string path = dir / "events";
  testing::internal::CaptureStderr();
  {
    tfevents::EventFileWriter writer(path);
    writer.write(scalar_event(1, 1.0f));
    fs::remove(path);
    writer.write(scalar_event(2, 2.0f));
    writer.write(scalar_event(3, 3.0f));
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  const std::vector<std::string> records = tfevents::read_records(path);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(field(parse_message(records[0]), 3).bytes, "brain.Event:2");
  EXPECT_EQ(tfevents::event_step(records[1]), 2);
  EXPECT_EQ(tfevents::event_step(records[2]), 3);
}

TEST(TfEvents, EncodePngIsWhatWritePngWrites) {
  const TempDir dir("tfevents_png");
  const gramgan::Image image = gramgan::test::noise_image(7, 5, 3);
  gramgan::write_png(dir / "a.png", image);
  const std::vector<unsigned char> png = gramgan::encode_png(image);
  EXPECT_EQ(std::string(png.begin(), png.end()), file_bytes(dir / "a.png"));
}

// ---- a training run ----------------------------------------------------------------------------------------------

using namespace gramgan::gan;

class TfEventsRun : public ::testing::Test {
 protected:
  TfEventsRun() : dir_("tfevents_run") { gramgan::test::write_train_inputs(dir_.path(), 2, 40, 40); }
  TrainConfig config(const std::string& run) const {
    return gramgan::test::tiny_train_config(dir_ / "content", dir_ / "style.png", dir_ / run);
  }
  // The event files of a run folder, sorted by name (TensorBoard's order).
  std::vector<std::string> event_files(const std::string& run) const {
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(dir_.path() / run))
      if (entry.path().filename().string().starts_with(RunFolder::kEventsPrefix)) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    return files;
  }
  // The steps of the events in `path` after its file_version record.
  static std::vector<long long> steps_in(const std::string& path) {
    std::vector<long long> steps;
    const std::vector<std::string> records = tfevents::read_records(path);
    for (std::size_t i = 1; i < records.size(); ++i) steps.push_back(tfevents::event_step(records[i]));
    return steps;
  }
  // log.csv without its last column (seconds differ from run to run).
  std::string log_without_seconds(const std::string& run) const {
    std::ifstream in(dir_ / (run + "/log.csv"));
    std::string line, out;
    while (std::getline(in, line)) out += line.substr(0, line.rfind(',')) + "\n";
    return out;
  }

  TempDir dir_;
};

TEST_F(TfEventsRun, RecordingEveryStepChangesNoTrainingNumber) {
  TrainConfig quiet = config("quiet"), busy = config("busy");
  quiet.histogram_every = 0;
  busy.sample_every = 1;
  busy.histogram_every = 1;
  Trainer(quiet, false).run({});
  Trainer(busy, false).run({});
  gramgan::test::expect_same_tensors(dir_ / "quiet/checkpoint.safetensors", dir_ / "busy/checkpoint.safetensors");
  EXPECT_EQ(log_without_seconds("quiet"), log_without_seconds("busy"));
  // busy: per step one scalar event, and at each step also a sample image, activations and G's and D's histograms.
  ASSERT_EQ(event_files("busy").size(), 1u);
  EXPECT_EQ(steps_in(event_files("busy")[0]),
            (std::vector<long long>{1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4}));
  EXPECT_EQ(steps_in(event_files("quiet")[0]), (std::vector<long long>{1, 2, 3, 4}));
}

TEST_F(TfEventsRun, ResumeCutsOlderFilesBackToTheCheckpoint) {
  TrainConfig c = config("run");
  c.histogram_every = 0;
  Trainer(c, false).run({});  // steps 1-4, checkpoint at 4
  // Events of steps 5 and 6 that a killed process wrote after the step-4 checkpoint, and a record cut short.
  const std::string first = event_files("run").at(0);
  {
    std::ofstream out(first, std::ios::binary | std::ios::app);
    out << tfevents::frame_record(scalar_event(5, 1.0f)) << tfevents::frame_record(scalar_event(6, 1.0f)) << "\x07";
  }
  // A non-finite stop after the checkpoint is redone too: its record goes, as log.csv's rows after the checkpoint.
  const std::string stop = dir_ / ("run/" + std::string(RunFolder::kNonFiniteStopName));
  write_bytes(stop, "{}");
  c.steps = 6;
  Trainer(c, true).run({});
  EXPECT_FALSE(fs::exists(stop));
  const std::vector<std::string> files = event_files("run");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], first);
  EXPECT_EQ(steps_in(files[0]), (std::vector<long long>{1, 2, 3, 4}));
  EXPECT_EQ(steps_in(files[1]), (std::vector<long long>{5, 6}));
  EXPECT_EQ(tfevents::cut_back_event_file(files[0], 4), 0u) << "the garbage tail stayed";
}

// The fd of the open events file, found through /proc: how the test pulls the disk from under the writer.
int events_fd() {
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const fs::path target = fs::read_symlink(entry.path(), ec);
    if (!ec && target.filename().string().starts_with(RunFolder::kEventsPrefix))
      return std::stoi(entry.path().filename().string());
  }
  return -1;
}

TEST_F(TfEventsRun, AFullDiskWarnsOnceAndTrainingGoesOnUnchanged) {
  TrainConfig normal = config("normal"), full = config("full");
  normal.sample_every = full.sample_every = 1;
  normal.histogram_every = full.histogram_every = 1;
  Trainer(normal, false).run({});
  testing::internal::CaptureStderr();
  {
    Trainer trainer(full, false);
    trainer.run([&](const StepLog& log) {
      if (log.step != 1) return;
      const int fd = events_fd();
      ASSERT_GE(fd, 0);
      const int dev_full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
      ASSERT_GE(dev_full, 0);
      ASSERT_EQ(::dup2(dev_full, fd), fd);
      ::close(dev_full);
    });
    EXPECT_EQ(trainer.step(), 4);
  }
  const std::string err = testing::internal::GetCapturedStderr();
  std::size_t warnings = 0;
  for (std::size_t at = err.find("TensorBoard events"); at != std::string::npos;
       at = err.find("TensorBoard events", at + 1))
    ++warnings;
  EXPECT_EQ(warnings, 1u) << err;
  EXPECT_NE(err.find("No space left on device"), std::string::npos) << err;
  gramgan::test::expect_same_tensors(dir_ / "normal/checkpoint.safetensors", dir_ / "full/checkpoint.safetensors");
  EXPECT_EQ(log_without_seconds("normal"), log_without_seconds("full"));
  EXPECT_TRUE(fs::exists(dir_.path() / "full/samples/step_000004.png"));
  // What reached the file before the disk filled: step 1's scalars, nothing after.
  EXPECT_EQ(steps_in(event_files("full").at(0)), (std::vector<long long>{1}));
}

// --lr-d 1e38 overflows D in the G step of the first iteration (test_robustness.cpp): non_finite_stop.txt says
// so, in what the report reads (its first line, the error message) and a line naming step, network and columns.
TEST_F(TfEventsRun, ANonFiniteStopIsRecordedInTheRunFolder) {
  TrainConfig c = config("run");
  c.lr_d = 1e38;
  std::string message;
  try {
    Trainer(c, false).run({});
  } catch (const NonFiniteLoss& e) {
    message = e.what();
  }
  ASSERT_FALSE(message.empty());
  const std::string path = dir_ / ("run/" + std::string(RunFolder::kNonFiniteStopName));
  ASSERT_TRUE(fs::exists(path));
  const std::string text = file_bytes(path);
  EXPECT_EQ(text.substr(0, text.find('\n')), message);
  EXPECT_EQ(message.rfind("step 1: the generator loss is not finite", 0), 0u) << message;
  const std::string second = text.substr(text.find('\n') + 1);
  EXPECT_EQ(second.rfind("step 1; network G; non-finite columns: ", 0), 0u) << second;
  EXPECT_NE(second.find("adv_g_raw"), std::string::npos) << second;
  EXPECT_NE(second.find("g_total"), std::string::npos) << second;
}

}  // namespace
