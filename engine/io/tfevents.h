// TensorBoard event files: the TFRecord framing and the few Event / Summary protocol buffers a training run writes
// (scalars, PNG images, histograms).
//
// Written by hand rather than through protobuf or TensorFlow: the subset is a handful of fields (below), the wire
// format of those fields is stable since 2015 and tiny (varints, fixed64/fixed32, length-delimited), and a
// protobuf dependency would bring a code generator, generated sources and a second serialisation library into a
// build that has none, for perhaps 150 lines. tests/tensorboard_reader.py reads our files with TensorBoard's own
// reader, so a mistake in a field number shows there.
//
// A record: uint64 length (little-endian), uint32 masked CRC-32C of those 8 bytes, the data, uint32 masked
// CRC-32C of the data. Mask: ((crc >> 15) | (crc << 17)) + 0xa282ead8. The data is one serialized Event:
//   Event          { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary        { repeated Value value = 1; }
//   Summary.Value  { string tag = 1; float simple_value = 2; Image image = 4; HistogramProto histo = 5; }
//   Summary.Image  { int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4; }
//   HistogramProto { double min = 1; double max = 2; double num = 3; double sum = 4; double sum_squares = 5;
//                    repeated double bucket_limit = 6 [packed]; repeated double bucket = 7 [packed]; }
// (tensorflow/core/util/event.proto, tensorflow/core/framework/summary.proto.) The first record of a file is an
// Event holding file_version "brain.Event:2".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gramgan::tfevents {

inline constexpr const char* kFileVersion = "brain.Event:2";

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven; `crc` continues an earlier call's result.
std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0);
// The masked form TFRecord stores (a CRC of data that holds CRCs is weak, so TensorFlow rotates and offsets it).
std::uint32_t masked_crc32c(const void* data, std::size_t size);
// One framed record holding `data`.
std::string frame_record(const std::string& data);
// The records of a TFRecord file, in order, up to the first one that is truncated or fails a CRC (a file a killed
// process was appending to): what precedes it is kept. Throws gramgan::Error when the file cannot be read.
std::vector<std::string> read_records(const std::string& path);

// The statistics TensorBoard draws a histogram from. Buckets are (bucket_limit[i - 1], bucket_limit[i]], the first
// starting at -infinity in TensorBoard's reading; the last limit is `max`.
struct Histogram {
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::vector<double> bucket_limit, bucket;
};
// `buckets` equal-width buckets over [min, max] of the finite values (non-finite ones are left out of every field);
// one bucket when all values are equal, none when there are no finite values.
Histogram make_histogram(const std::vector<double>& values, int buckets = 30);

// One Event's Summary: values added in order, serialized by event().
class Summary {
 public:
  void add_scalar(const std::string& tag, float value);
  // `png` is a PNG file's bytes; colorspace 3 is RGB.
  void add_image(const std::string& tag, int height, int width, const std::vector<unsigned char>& png,
                 int colorspace = 3);
  void add_histogram(const std::string& tag, const Histogram& histogram);
  bool empty() const { return values_.empty(); }
  // The serialized Event { wall_time, step, summary }.
  std::string event(double wall_time, long long step) const;

 private:
  std::string values_;  // serialized `repeated Value value = 1` entries
};

// The serialized Event { wall_time, file_version }: a file's first record.
std::string file_version_event(double wall_time);
// The step of a serialized Event (0 when it has none, as protobuf reads an absent field); -1 when the data is not
// a well-formed Event.
long long event_step(const std::string& event);
// Seconds since the Unix epoch, what wall_time holds.
double wall_time_now();

// Appends events to one file, for a training run that must never stop or slow down because of them: no method
// throws. The first failure (a full disk, a removed permission, the file deleted under us) prints one warning on
// stderr naming the file and the reason; events that fail are dropped, and a record cut short is removed again
// (ftruncate to the last whole record) so that the records after it stay readable. A deleted file is created
// anew (with its file_version record) at the next write.
class EventFileWriter {
 public:
  // Creates `path` (appending if it exists) and writes its file_version record.
  explicit EventFileWriter(std::string path);
  ~EventFileWriter();
  EventFileWriter(const EventFileWriter&) = delete;
  EventFileWriter& operator=(const EventFileWriter&) = delete;

  // Appends one framed record holding `event`.
  void write(const std::string& event);
  const std::string& path() const { return path_; }
  bool failed() const { return failed_; }  // whether a write has failed since the start

 private:
  bool open();
  bool append(const std::string& record);
  void fail(int error, const char* what);

  std::string path_;
  int fd_ = -1;
  bool failed_ = false;
};

// Rewrites the event file at `path` atomically, keeping only the records whose step is at most `max_step` (the
// file_version record has step 0; reading stops at a damaged record, see read_records). Returns the number of
// records dropped. Throws gramgan::Error when the file cannot be read or written.
std::size_t cut_back_event_file(const std::string& path, long long max_step);

}  // namespace gramgan::tfevents
