#include "engine/io/tfevents.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/error.h"
#include "engine/io/atomic_file.h"

namespace gramgan::tfevents {
namespace {

// ---- CRC-32C -----------------------------------------------------------------------------------------------------

constexpr std::uint32_t kCastagnoli = 0x82F63B78u;  // reflected
constexpr std::uint32_t kMaskDelta = 0xa282ead8u;

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kCastagnoli : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<std::uint32_t, 256> kCrcTable = make_crc_table();

void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_le(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

// ---- protobuf wire format ----------------------------------------------------------------------------------------

enum WireType : int { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_key(std::string& out, int field, WireType type) { put_varint(out, std::uint64_t(field) << 3 | type); }
void put_double(std::string& out, int field, double v) {
  std::uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_key(out, field, kFixed64);
  put_le(out, bits, 8);
}
void put_float(std::string& out, int field, float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_key(out, field, kFixed32);
  put_le(out, bits, 4);
}
void put_int(std::string& out, int field, std::int64_t v) {
  put_key(out, field, kVarint);
  put_varint(out, static_cast<std::uint64_t>(v));  // negative int64: ten bytes, as protobuf writes it
}
void put_bytes(std::string& out, int field, const void* data, std::size_t size) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, size);
  out.append(static_cast<const char*>(data), size);
}
void put_bytes(std::string& out, int field, const std::string& data) {
  put_bytes(out, field, data.data(), data.size());
}
void put_packed_doubles(std::string& out, int field, const std::vector<double>& values) {
  std::string packed;
  for (double v : values) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    put_le(packed, bits, 8);
  }
  put_bytes(out, field, packed);
}

bool get_varint(const std::string& in, std::size_t& pos, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && pos < in.size(); shift += 7) {
    const auto byte = static_cast<unsigned char>(in[pos++]);
    v |= std::uint64_t(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

// Field numbers (see the header).
namespace event_field {
constexpr int kWallTime = 1, kStep = 2, kFileVersion = 3, kSummary = 5;
}
namespace value_field {
constexpr int kTag = 1, kSimpleValue = 2, kImage = 4, kHisto = 5;
}
namespace image_field {
constexpr int kHeight = 1, kWidth = 2, kColorspace = 3, kEncoded = 4;
}
namespace histogram_field {
constexpr int kMin = 1, kMax = 2, kNum = 3, kSum = 4, kSumSquares = 5, kBucketLimit = 6, kBucket = 7;
}
constexpr int kSummaryValue = 1;

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) crc = kCrcTable[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::uint32_t masked_crc32c(const void* data, std::size_t size) {
  const std::uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}

std::string frame_record(const std::string& data) {
  std::string record;
  record.reserve(data.size() + 16);
  put_le(record, data.size(), 8);
  put_le(record, masked_crc32c(record.data(), 8), 4);
  record += data;
  put_le(record, masked_crc32c(data.data(), data.size()), 4);
  return record;
}

std::vector<std::string> read_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot read: " + std::strerror(errno));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(path + ": cannot read: " + std::strerror(errno));
  std::vector<std::string> records;
  std::size_t pos = 0;
  while (bytes.size() - pos >= 12) {
    const char* header = bytes.data() + pos;
    if (get_le(header + 8, 4) != masked_crc32c(header, 8)) break;
    const std::uint64_t length = get_le(header, 8);
    if (length > bytes.size() - pos - 16) break;
    const char* data = header + 12;
    if (get_le(data + length, 4) != masked_crc32c(data, length)) break;
    records.emplace_back(data, length);
    pos += 16 + length;
  }
  return records;
}

Histogram make_histogram(const std::vector<double>& values, int buckets) {
  Histogram h;
  bool any = false;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    h.min = any ? std::min(h.min, v) : v;
    h.max = any ? std::max(h.max, v) : v;
    any = true;
    h.num += 1;
    h.sum += v;
    h.sum_squares += v * v;
  }
  if (!any) return h;
  const int n = h.max > h.min ? std::max(buckets, 1) : 1;
  const double width = (h.max - h.min) / n;
  for (int i = 0; i < n; ++i) h.bucket_limit.push_back(i + 1 == n ? h.max : h.min + width * (i + 1));
  h.bucket.assign(std::size_t(n), 0.0);
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    // Bucket i holds (limit[i - 1], limit[i]]; the minimum goes into the first.
    const auto it = std::lower_bound(h.bucket_limit.begin(), h.bucket_limit.end(), v);
    h.bucket[std::size_t(std::min<std::ptrdiff_t>(it - h.bucket_limit.begin(), n - 1))] += 1;
  }
  return h;
}

void Summary::add_scalar(const std::string& tag, float value) {
  std::string v;
  put_bytes(v, value_field::kTag, tag);
  put_float(v, value_field::kSimpleValue, value);
  put_bytes(values_, kSummaryValue, v);
}

void Summary::add_image(const std::string& tag, int height, int width, const std::vector<unsigned char>& png,
                        int colorspace) {
  std::string image;
  put_int(image, image_field::kHeight, height);
  put_int(image, image_field::kWidth, width);
  put_int(image, image_field::kColorspace, colorspace);
  put_bytes(image, image_field::kEncoded, png.data(), png.size());
  std::string v;
  put_bytes(v, value_field::kTag, tag);
  put_bytes(v, value_field::kImage, image);
  put_bytes(values_, kSummaryValue, v);
}

void Summary::add_histogram(const std::string& tag, const Histogram& h) {
  std::string histo;
  put_double(histo, histogram_field::kMin, h.min);
  put_double(histo, histogram_field::kMax, h.max);
  put_double(histo, histogram_field::kNum, h.num);
  put_double(histo, histogram_field::kSum, h.sum);
  put_double(histo, histogram_field::kSumSquares, h.sum_squares);
  put_packed_doubles(histo, histogram_field::kBucketLimit, h.bucket_limit);
  put_packed_doubles(histo, histogram_field::kBucket, h.bucket);
  std::string v;
  put_bytes(v, value_field::kTag, tag);
  put_bytes(v, value_field::kHisto, histo);
  put_bytes(values_, kSummaryValue, v);
}

std::string Summary::event(double wall_time, long long step) const {
  std::string event;
  put_double(event, event_field::kWallTime, wall_time);
  put_int(event, event_field::kStep, step);
  put_bytes(event, event_field::kSummary, values_);
  return event;
}

std::string file_version_event(double wall_time) {
  std::string event;
  put_double(event, event_field::kWallTime, wall_time);
  put_bytes(event, event_field::kFileVersion, std::string(kFileVersion));
  return event;
}

long long event_step(const std::string& event) {
  long long step = 0;
  std::size_t pos = 0;
  while (pos < event.size()) {
    std::uint64_t key = 0, v = 0;
    if (!get_varint(event, pos, key)) return -1;
    switch (key & 7) {
      case kVarint:
        if (!get_varint(event, pos, v)) return -1;
        if ((key >> 3) == event_field::kStep) step = static_cast<long long>(v);
        break;
      case kFixed64:
        if (event.size() - pos < 8) return -1;
        pos += 8;
        break;
      case kFixed32:
        if (event.size() - pos < 4) return -1;
        pos += 4;
        break;
      case kLengthDelimited:
        if (!get_varint(event, pos, v) || v > event.size() - pos) return -1;
        pos += v;
        break;
      default: return -1;
    }
  }
  return step;
}

double wall_time_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// ---- EventFileWriter ---------------------------------------------------------------------------------------------

EventFileWriter::EventFileWriter(std::string path) : path_(std::move(path)) { open(); }

EventFileWriter::~EventFileWriter() {
  if (fd_ >= 0) ::close(fd_);
}

bool EventFileWriter::open() {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (fd_ < 0) {
    fail(errno, "cannot create it");
    return false;
  }
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && st.st_size > 0) return true;  // appending to a file that has its first record
  return append(frame_record(file_version_event(wall_time_now())));
}

void EventFileWriter::write(const std::string& event) {
  if (fd_ >= 0) {
    // Written through an unlinked inode, events would vanish without an error: start the file again instead.
    struct stat st {};
    if (::fstat(fd_, &st) == 0 && st.st_nlink == 0) {
      ::close(fd_);
      fd_ = -1;
      fail(ENOENT, "it was deleted; a new one is started");
    }
  }
  if (fd_ < 0 && !open()) return;
  append(frame_record(event));
}

bool EventFileWriter::append(const std::string& record) {
  const off_t start = ::lseek(fd_, 0, SEEK_END);
  std::size_t done = 0;
  while (done < record.size()) {
    const ssize_t n = ::write(fd_, record.data() + done, record.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : EIO;
      // A record cut short would hide every later one from readers: take it back (best effort).
      if (done > 0 && start >= 0 && ::ftruncate(fd_, start) != 0) {
      }
      fail(error, "cannot append an event");
      return false;
    }
    done += std::size_t(n);
  }
  return true;
}

void EventFileWriter::fail(int error, const char* what) {
  if (!failed_)
    std::fprintf(stderr,
                 "gramgan: WARNING: %s: TensorBoard events: %s: %s; training goes on, and events that cannot be "
                 "written are dropped (warned once)\n",
                 path_.c_str(), what, std::strerror(error));
  failed_ = true;
}

std::size_t cut_back_event_file(const std::string& path, long long max_step) {
  const std::vector<std::string> records = read_records(path);
  std::string kept;
  std::size_t kept_count = 0;
  for (const std::string& event : records) {
    const long long step = event_step(event);
    if (step < 0 || step > max_step) continue;
    kept += frame_record(event);
    ++kept_count;
  }
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (kept_count == records.size() && !ec && size == kept.size()) return 0;  // nothing to cut
  AtomicFile file(path);
  file.write(kept.data(), kept.size());
  file.commit();
  return records.size() - kept_count;
}

}  // namespace gramgan::tfevents
