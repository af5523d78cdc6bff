// safetensors: write/read round trips compared bitwise, files built byte by byte (independent of the writer),
// every malformed header SafetensorsFile::open refuses, and the atomic write. With the real VGG-19 file present
// (weights/fetch_vgg19.sh), its conv tensors up to relu5_1 are checked too.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/io/safetensors.h"
#include "expect_error.h"
#include "temp_dir.h"

namespace gramgan {
namespace {

namespace fs = std::filesystem;

class SafetensorsTest : public test::TempDirTest {};

std::string le64(std::uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(value >> (8 * i));
  return bytes;
}

// A file as the format lays it out: length, header text (unpadded unless the caller pads), data.
std::string file_of(const std::string& header, const std::string& data = "") {
  return le64(header.size()) + header + data;
}

std::string hex_bytes(std::initializer_list<int> values) {
  std::string bytes;
  for (const int v : values) bytes += static_cast<char>(v);
  return bytes;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// The message SafetensorsFile::open throws for `path`, or "" when it opens.
std::string open_error(const std::string& path) {
  try {
    SafetensorsFile::open(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// ---------------------------------------------------------------------------------------------------------------
// Round trips

TEST_F(SafetensorsTest, RoundTripIsBitwise) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> floats = {0.0f,
                                     -0.0f,
                                     1.0f / 3.0f,
                                     -inf,
                                     inf,
                                     std::numeric_limits<float>::denorm_min(),
                                     std::numeric_limits<float>::max(),
                                     42.5f,
                                     -7.25f,
                                     1e-30f,
                                     3.0f,
                                     -1.0f};
  const std::vector<double> doubles = {1.0 / 3.0, -2.5, std::numeric_limits<double>::denorm_min(), 1e300, -0.0, 7.0};
  const std::vector<std::int64_t> step = {std::numeric_limits<std::int64_t>::min(), -1, 0, 123456789012345};
  const std::vector<std::uint64_t> rng = {std::numeric_limits<std::uint64_t>::max(), 0x0123456789abcdefULL};
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"gramgan", "checkpoint v1"}};

  const std::string file = path("ckpt.safetensors");
  write_safetensors(file,
                    {{"net.weight", Tensor::from_host(std::span<const float>(floats), {2, 3, 2})},
                     {"net.bias64", Tensor::from_host(std::span<const double>(doubles), {6})},
                     {"step", step},
                     {"rng", rng}},
                    metadata);
  EXPECT_EQ(entries(), std::vector<std::string>{"ckpt.safetensors"}) << "temporary file left behind";

  const SafetensorsFile st = SafetensorsFile::open(file);
  EXPECT_EQ(st.metadata(), metadata);
  EXPECT_EQ(st.names(), (std::vector<std::string>{"net.bias64", "net.weight", "rng", "step"}));
  EXPECT_EQ(st.info("net.weight").dtype, SafetensorsDType::F32);
  EXPECT_EQ(st.info("net.weight").shape, (std::vector<std::int64_t>{2, 3, 2}));
  EXPECT_EQ(st.info("net.bias64").dtype, SafetensorsDType::F64);
  EXPECT_EQ(st.info("step").dtype, SafetensorsDType::I64);
  EXPECT_EQ(st.info("step").shape, (std::vector<std::int64_t>{4}));
  EXPECT_EQ(st.info("rng").dtype, SafetensorsDType::U64);

  const Tensor weight = st.read("net.weight");
  EXPECT_EQ(weight.dtype(), DType::float32);
  EXPECT_EQ(weight.shape(), Shape({2, 3, 2}));
  EXPECT_TRUE(same_bits(weight.to_host<float>(), floats));
  const Tensor bias = st.read("net.bias64");
  EXPECT_EQ(bias.dtype(), DType::float64);
  EXPECT_TRUE(same_bits(bias.to_host<double>(), doubles));
  EXPECT_EQ(st.read_int64("step"), step);
  EXPECT_EQ(st.read_uint64("rng"), rng);

  // Layout as the reference writes it: metadata first, data in the given order, header padded to 8 bytes.
  const std::string bytes = test::read_file(file);
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = header_size << 8 | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(header_size % 8, 0u);
  const std::string header = bytes.substr(8, header_size);
  EXPECT_EQ(header.rfind("{\"__metadata__\":", 0), 0u) << header;
  EXPECT_LT(header.find("net.weight"), header.find("net.bias64"));
  EXPECT_EQ(st.info("net.weight").begin, 0u);
  EXPECT_EQ(bytes.size(), 8 + header_size + floats.size() * 4 + doubles.size() * 8 + step.size() * 8 + rng.size() * 8);
}

TEST_F(SafetensorsTest, RoundTripsScalarsEmptyTensorsAndNoMetadata) {
  const std::vector<float> one = {2.5f};
  const std::string file = path("small.safetensors");
  write_safetensors(file, {{"scalar", Tensor::from_host(std::span<const float>(one), Shape{})},
                           {"empty", Tensor::zeros({0, 3})},
                           {"no_steps", std::vector<std::int64_t>{}}});
  const SafetensorsFile st = SafetensorsFile::open(file);
  EXPECT_TRUE(st.metadata().empty());
  EXPECT_EQ(test::read_file(file).find("__metadata__"), std::string::npos);
  EXPECT_EQ(st.info("scalar").shape, std::vector<std::int64_t>{});
  EXPECT_EQ(st.read("scalar").to_host<float>(), one);
  EXPECT_EQ(st.read("scalar").dims(), 0);
  EXPECT_EQ(st.read("empty").shape(), Shape({0, 3}));
  EXPECT_EQ(st.info("empty").nbytes(), 0u);
  EXPECT_TRUE(st.read_int64("no_steps").empty());
}

TEST_F(SafetensorsTest, ReadConvertsToTheRequestedDtype) {
  const std::vector<float> floats = {1.0f / 3.0f, -1e-20f, 16777215.0f};
  const std::vector<double> doubles = {1.0 / 3.0, 1e300, -0.1};
  const std::string file = path("mixed.safetensors");
  write_safetensors(file, {{"f", Tensor::from_host(std::span<const float>(floats), {3})},
                           {"d", Tensor::from_host(std::span<const double>(doubles), {3})}});
  const SafetensorsFile st = SafetensorsFile::open(file);
  // float -> double is exact; double -> float rounds to nearest (1e300 overflows to inf).
  const std::vector<double> widened(floats.begin(), floats.end());
  EXPECT_TRUE(same_bits(st.read("f", DType::float64).to_host<double>(), widened));
  std::vector<float> narrowed;
  for (const double v : doubles) narrowed.push_back(static_cast<float>(v));
  EXPECT_TRUE(same_bits(st.read("d", DType::float32).to_host<float>(), narrowed));
  EXPECT_EQ(st.read("d", DType::float64).dtype(), DType::float64);
}

// ---------------------------------------------------------------------------------------------------------------
// A file built byte by byte, as torchvision / timm name VGG tensors; other dtypes in the header must not stop it.

TEST_F(SafetensorsTest, ReadsHandBuiltFileWithTorchvisionKeys) {
  // Offsets out of key order on purpose: the weight's data comes first. Header padded with spaces to 8 bytes.
  std::string header = R"({"__metadata__":{"format":"pt"},)"
                       R"("features.0.bias":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},)"
                       R"("features.0.weight":{"dtype":"F32","shape":[2,1,2,1],"data_offsets":[0,16]},)"
                       R"("half":{"dtype":"F16","shape":[1],"data_offsets":[24,26]},)"
                       R"("flag":{"dtype":"U8","shape":[2],"data_offsets":[26,28]},)"
                       R"("step":{"dtype":"I64","shape":[],"data_offsets":[28,36]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  const std::string data = hex_bytes({0x00, 0x00, 0x80, 0x3f,    // 1.0f
                                      0x00, 0x00, 0x00, 0xc0,    // -2.0f
                                      0x00, 0x00, 0x00, 0x3f,    // 0.5f
                                      0x00, 0x00, 0x40, 0x40,    // 3.0f
                                      0x00, 0x00, 0x20, 0xc1,    // -10.0f
                                      0x00, 0x00, 0xc8, 0x42,    // 100.0f
                                      0x00, 0x3c,                // F16 1.0
                                      0x07, 0xff,                // U8 7, 255
                                      0x2a, 0x00, 0x00, 0x00,    // I64 42 ...
                                      0x00, 0x00, 0x00, 0x00});  // ... high word
  const std::string file = path("vgg_like.safetensors");
  test::write_file(file, file_of(header, data));

  const SafetensorsFile st = SafetensorsFile::open(file);
  EXPECT_EQ(st.metadata().at("format"), "pt");
  EXPECT_EQ(st.names(), (std::vector<std::string>{"features.0.bias", "features.0.weight", "flag", "half", "step"}));
  st.expect("features.0.weight", SafetensorsDType::F32, {2, 1, 2, 1});
  const Tensor weight = st.read("features.0.weight");
  EXPECT_EQ(weight.shape(), Shape({2, 1, 2, 1}));
  EXPECT_EQ(weight.to_host<float>(), (std::vector<float>{1.0f, -2.0f, 0.5f, 3.0f}));
  EXPECT_EQ(st.read("features.0.bias").to_host<float>(), (std::vector<float>{-10.0f, 100.0f}));
  EXPECT_EQ(st.read("features.0.bias", DType::float64).to_host<double>(), (std::vector<double>{-10.0, 100.0}));
  EXPECT_EQ(st.read_int64("step"), std::vector<std::int64_t>{42});
  EXPECT_EQ(st.read_raw("flag"), (std::vector<std::uint8_t>{7, 255}));
  EXPECT_EQ(st.read_raw("half"), (std::vector<std::uint8_t>{0x00, 0x3c}));
  EXPECT_EQ(st.info("half").dtype, SafetensorsDType::F16);

  EXPECT_ERROR_MENTIONS(st.read("half"), "tensor 'half' has dtype F16; only F32 and F64");
  EXPECT_ERROR_MENTIONS(st.read("step", DType::float64), "tensor 'step' has dtype I64");
  EXPECT_ERROR_MENTIONS(st.read_int64("features.0.bias"), "tensor 'features.0.bias' has dtype F32, expected I64");
  EXPECT_ERROR_MENTIONS(st.read_uint64("step"), "tensor 'step' has dtype I64, expected U64");
}

TEST_F(SafetensorsTest, ExpectNamesTheFileTheTensorAndTheProblem) {
  const std::string file = path("w.safetensors");
  write_safetensors(file, {{"features.0.weight", Tensor::zeros({64, 3, 3, 3})}});
  const SafetensorsFile st = SafetensorsFile::open(file);
  EXPECT_TRUE(st.contains("features.0.weight"));
  EXPECT_FALSE(st.contains("features.2.weight"));
  EXPECT_EQ(st.expect("features.0.weight", {64, 3, 3, 3}).nbytes(), 64u * 27 * 4);
  EXPECT_ERROR_MENTIONS(st.expect("features.2.weight", {64, 64, 3, 3}), file + ": missing tensor 'features.2.weight'");
  EXPECT_ERROR_MENTIONS(st.read("features.2.weight"), file + ": missing tensor 'features.2.weight'");
  EXPECT_ERROR_MENTIONS(st.expect("features.0.weight", SafetensorsDType::F32, {64, 3, 4, 4}),
                        file + ": tensor 'features.0.weight' has shape [64, 3, 3, 3], expected [64, 3, 4, 4]");
  EXPECT_ERROR_MENTIONS(st.expect("features.0.weight", SafetensorsDType::F64, {64, 3, 3, 3}),
                        "tensor 'features.0.weight' has dtype F32, expected F64");
}

TEST_F(SafetensorsTest, TensorsOfMoreThanFourDimensionsListButDoNotRead) {
  const std::string header = R"({"w5":{"dtype":"F32","shape":[1,1,1,1,2],"data_offsets":[0,8]}})";
  const std::string file = path("5d.safetensors");
  test::write_file(file, file_of(header, std::string(8, '\0')));
  const SafetensorsFile st = SafetensorsFile::open(file);
  EXPECT_EQ(st.info("w5").shape.size(), 5u);
  EXPECT_EQ(st.read_raw("w5").size(), 8u);
  EXPECT_ERROR_MENTIONS(st.read("w5"), "tensor 'w5' has 5 dimensions [1, 1, 1, 1, 2]; tensors hold at most 4");
}

// Offsets past 4 GiB, in a sparse file (no disk space used): 64-bit seeking and sizes end to end.
TEST_F(SafetensorsTest, ReadsTensorsPastFourGigabytes) {
  constexpr std::uint64_t kPad = 5'000'000'000ULL;
  const std::string header = R"({"pad":{"dtype":"U8","shape":[5000000000],"data_offsets":[0,5000000000]},)"
                             R"("w":{"dtype":"F32","shape":[2],"data_offsets":[5000000000,5000000008]}})";
  const std::string file = path("big.safetensors");
  test::write_file(file, file_of(header));
  std::error_code error;
  fs::resize_file(file, 8 + header.size() + kPad, error);
  if (error) GTEST_SKIP() << "cannot make a 5 GB sparse file here: " << error.message();
  {
    std::ofstream out(file, std::ios::binary | std::ios::app);
    out.write(hex_bytes({0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x80, 0xbf}).data(), 8);  // 1.0f, -1.0f
  }
  const SafetensorsFile st = SafetensorsFile::open(file);
  EXPECT_EQ(st.info("pad").numel(), 5'000'000'000LL);
  EXPECT_EQ(st.info("w").begin, kPad);
  EXPECT_EQ(st.read("w").to_host<float>(), (std::vector<float>{1.0f, -1.0f}));
}

TEST_F(SafetensorsTest, FileThatShrinksAfterOpenFailsOnRead) {
  const std::string file = path("shrinks.safetensors");
  write_safetensors(file, {{"a", Tensor::zeros({4})}, {"b", Tensor::zeros({4})}});
  const SafetensorsFile st = SafetensorsFile::open(file);
  fs::resize_file(file, fs::file_size(file) - 4);
  EXPECT_NO_THROW(st.read("a"));
  EXPECT_ERROR_MENTIONS(st.read("b"), "tensor 'b': unexpected end of file");
}

// ---------------------------------------------------------------------------------------------------------------
// Malformed files: each message starts with the path and names the problem (and the tensor, where there is one).

struct Malformed {
  const char* what;
  std::string bytes;
  std::string fragment;
};

std::string entry(const std::string& name, const std::string& body) { return "\"" + name + "\":" + body; }

TEST_F(SafetensorsTest, RejectsMalformedFiles) {
  const std::string w8 = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::vector<Malformed> cases = {
      {"empty file", "", "0 bytes, shorter than the 8-byte header length"},
      {"5 bytes", std::string("\x05\0\0\0\0", 5), "5 bytes, shorter than the 8-byte header length"},
      {"absurd header length", le64(std::uint64_t{1} << 40) + "{}", "header length 1099511627776 is over the limit"},
      {"header past the end", le64(100) + "{}", "header length 100 runs past the end of the file (10 bytes"},
      {"not JSON", file_of("{\"w\": "), "header is not valid JSON"},
      {"invalid UTF-8", file_of("{\"w\xff\": {}}"), "ill-formed UTF-8 byte; last read: '\"w\\xff'"},
      {"JSON array", file_of("[1, 2]"), "header is not a JSON object but [1,2]"},
      {"entry not an object", file_of("{" + entry("w", "[0, 8]") + "}"), "tensor 'w': entry is not an object"},
      {"no dtype", file_of("{" + entry("w", R"({"shape":[2],"data_offsets":[0,8]})") + "}", std::string(8, '\0')),
       "tensor 'w': entry has no \"dtype\""},
      {"no shape", file_of("{" + entry("w", R"({"dtype":"F32","data_offsets":[0,8]})") + "}", std::string(8, '\0')),
       "tensor 'w': entry has no \"shape\""},
      {"no data_offsets", file_of("{" + entry("w", R"({"dtype":"F32","shape":[2]})") + "}", std::string(8, '\0')),
       "tensor 'w': entry has no \"data_offsets\""},
      {"dtype not a string", file_of("{" + entry("w", R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})") + "}"),
       "tensor 'w': dtype is not a string but 4"},
      {"unknown dtype", file_of("{" + entry("w", R"({"dtype":"F33","shape":[2],"data_offsets":[0,8]})") + "}"),
       "tensor 'w': unknown dtype 'F33' (known: BOOL, U8"},
      {"lower-case dtype", file_of("{" + entry("w", R"({"dtype":"f32","shape":[2],"data_offsets":[0,8]})") + "}"),
       "tensor 'w': unknown dtype 'f32'"},
      {"shape not an array", file_of("{" + entry("w", R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})") + "}"),
       "tensor 'w': shape is not an array but 2"},
      {"negative dimension", file_of("{" + entry("w", R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})") + "}"),
       "tensor 'w': shape [-2] has a negative dimension"},
      {"fractional dimension", file_of("{" + entry("w", R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,8]})") + "}"),
       "tensor 'w': shape [2.5] has a dimension that is not an integer"},
      {"string dimension", file_of("{" + entry("w", R"({"dtype":"F32","shape":["2"],"data_offsets":[0,8]})") + "}"),
       "tensor 'w': shape [\"2\"] has a dimension that is not an integer"},
      {"dimension over int64",
       file_of("{" + entry("w", R"({"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,8]})") + "}"),
       "tensor 'w': shape [9223372036854775808] has a dimension over 2^63 - 1"},
      {"byte size overflow",
       file_of("{" + entry("w", R"({"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]})") + "}"),
       "tensor 'w': shape [4294967296, 4294967296] of F64 is over 2^64 bytes"},
      {"data_offsets of three",
       file_of("{" + entry("w", R"({"dtype":"F32","shape":[2],"data_offsets":[0,4,8]})") + "}"),
       "tensor 'w': data_offsets is not [begin, end] of two non-negative integers but [0,4,8]"},
      {"negative offset", file_of("{" + entry("w", R"({"dtype":"F32","shape":[2],"data_offsets":[-8,0]})") + "}"),
       "tensor 'w': data_offsets is not [begin, end] of two non-negative integers"},
      {"begin after end", file_of("{" + entry("w", R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})") + "}"),
       "tensor 'w': data_offsets [8, 0] has begin after end"},
      {"size mismatch",
       file_of("{" + entry("w", R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})") + "}", std::string(8, '\0')),
       "tensor 'w': data_offsets [0, 8] span 8 bytes but F32 shape [3] needs 12"},
      {"end past the buffer", file_of("{" + entry("w", w8) + "}", std::string(4, '\0')),
       "tensor 'w': data_offsets [0, 8] run past the end of the data buffer (4 bytes)"},
      {"overlap",
       file_of("{" + entry("a", w8) + "," + entry("b", R"({"dtype":"F32","shape":[2],"data_offsets":[4,12]})") + "}",
               std::string(12, '\0')),
       "tensors 'a' [0, 8] and 'b' [4, 12] overlap"},
      {"same offsets", file_of("{" + entry("a", w8) + "," + entry("b", w8) + "}", std::string(8, '\0')),
       "tensors 'a' [0, 8] and 'b' [0, 8] overlap"},
      {"gap",
       file_of("{" + entry("a", w8) + "," + entry("b", R"({"dtype":"F32","shape":[2],"data_offsets":[12,20]})") + "}",
               std::string(20, '\0')),
       "bytes [8, 12) of the data buffer belong to no tensor (a gap before 'b')"},
      {"trailing bytes", file_of("{" + entry("w", w8) + "}", std::string(9, '\0')),
       "data buffer has 1 byte after the last tensor"},
      {"tensor listed twice", file_of("{" + entry("w", w8) + "," + entry("w", w8) + "}", std::string(8, '\0')),
       "header lists 'w' twice"},
      {"key twice in an entry",
       file_of("{" + entry("w", R"({"dtype":"F32","dtype":"F64","shape":[2],"data_offsets":[0,8]})") + "}",
               std::string(8, '\0')),
       "header entry 'w' has key 'dtype' twice"},
      {"metadata not an object", file_of(R"({"__metadata__":["a"]})"), "__metadata__ is not an object of strings"},
      {"metadata value not a string", file_of(R"({"__metadata__":{"epoch":3}})"),
       "__metadata__ value for 'epoch' is not a string but 3"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].what);
    const std::string file = path("bad" + std::to_string(i) + ".safetensors");
    test::write_file(file, cases[i].bytes);
    const std::string message = open_error(file);
    EXPECT_EQ(message.rfind(file + ": ", 0), 0u) << "message: " << message;
    EXPECT_NE(message.find(cases[i].fragment), std::string::npos) << "message: " << message;
  }
}

TEST_F(SafetensorsTest, AcceptsEmptyHeaderAndZeroSizeTensorsBetweenOthers) {
  const std::string empty = path("empty.safetensors");
  test::write_file(empty, file_of("{}"));
  EXPECT_TRUE(SafetensorsFile::open(empty).tensors().empty());
  // A zero-size tensor where one tensor ends and the next begins covers nothing and overlaps nothing.
  const std::string zero = path("zero.safetensors");
  test::write_file(zero, file_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                 R"("z":{"dtype":"F64","shape":[0,5],"data_offsets":[4,4]},)"
                                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                 std::string(8, '\0')));
  const SafetensorsFile st = SafetensorsFile::open(zero);
  EXPECT_EQ(st.read("z").shape(), Shape({0, 5}));
}

TEST_F(SafetensorsTest, RejectsUnreadablePaths) {
  EXPECT_ERROR_MENTIONS(SafetensorsFile::open(path("missing.safetensors")),
                        path("missing.safetensors") + ": cannot open");
  const std::string dir = dir_.path().string();
  EXPECT_ERROR_MENTIONS(SafetensorsFile::open(dir), dir + ": cannot open: Is a directory");
}

TEST_F(SafetensorsTest, FromFdReadsAnOpenDescriptorAndOwnsIt) {
  const std::string file = path("fd.safetensors");
  test::write_file(file, file_of(R"({"a":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})", le64(7) + le64(9)));
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  {
    const SafetensorsFile st = SafetensorsFile::from_fd(fd, "descriptor");
    EXPECT_EQ(st.path(), "descriptor");
    EXPECT_EQ(st.read_int64("a"), (std::vector<std::int64_t>{7, 9}));
  }
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "the descriptor was not closed";
  // Refusals name the given path, and close the descriptor too.
  test::write_file(file, "tiny");
  const int short_fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(short_fd, 0);
  EXPECT_ERROR_MENTIONS(SafetensorsFile::from_fd(short_fd, "descriptor"), "descriptor: not a safetensors file");
  EXPECT_EQ(::fcntl(short_fd, F_GETFD), -1) << "the descriptor was not closed";
  EXPECT_ERROR_MENTIONS(SafetensorsFile::from_fd(-1, "nothing"), "nothing: cannot open");
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

TEST_F(SafetensorsTest, WriteRejectsBadEntries) {
  const std::string file = path("bad.safetensors");
  EXPECT_ERROR_MENTIONS(write_safetensors(file, {{"w", Tensor()}}), file + ": cannot write: entry 'w' is an undefined");
  EXPECT_ERROR_MENTIONS(write_safetensors(file, {{"w", Tensor::zeros({1})}, {"w", std::vector<std::int64_t>{1}}}),
                        "entry 'w' appears twice");
  EXPECT_ERROR_MENTIONS(write_safetensors(file, {{"__metadata__", Tensor::zeros({1})}}),
                        "entry '__metadata__' uses the reserved name");
  EXPECT_TRUE(entries().empty());
}

TEST_F(SafetensorsTest, WriteIntoMissingDirectoryLeavesNothing) {
  const std::string file = path("no/such/dir/w.safetensors");
  EXPECT_ERROR_MENTIONS(write_safetensors(file, {{"w", Tensor::zeros({2})}}), file + ": cannot write");
  EXPECT_TRUE(entries().empty());
}

TEST_F(SafetensorsTest, WriteOverDirectoryLeavesNoTemporary) {
  // The temporary is written fine; the final rename fails, and the temporary must go.
  fs::create_directory(path("target"));
  EXPECT_ERROR_MENTIONS(write_safetensors(path("target"), {{"w", Tensor::zeros({2})}}),
                        path("target") + ": cannot write");
  EXPECT_EQ(entries(), std::vector<std::string>{"target"});
}

// A write that fails halfway (here: the file size limit, which binds root too) keeps the old file intact.
TEST_F(SafetensorsTest, FailedWriteKeepsTheExistingFile) {
  const std::string file = path("ckpt.safetensors");
  write_safetensors(file, {{"step", std::vector<std::int64_t>{1}}});
  const std::string before = test::read_file(file);

  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit limited = saved;
  limited.rlim_cur = 4096;
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // else the kernel kills the process at the limit
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  std::string message;
  try {
    write_safetensors(file, {{"step", std::vector<std::int64_t>{2}}, {"big", Tensor::zeros({1 << 16})}});
  } catch (const Error& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);

  EXPECT_NE(message.find(file + ": cannot write"), std::string::npos) << "message: " << message;
  EXPECT_EQ(test::read_file(file), before);
  EXPECT_EQ(entries(), std::vector<std::string>{"ckpt.safetensors"}) << "temporary file left behind";
  EXPECT_EQ(SafetensorsFile::open(file).read_int64("step"), std::vector<std::int64_t>{1});
}

TEST_F(SafetensorsTest, WriteReplacesExistingFile) {
  const std::string file = path("w.safetensors");
  write_safetensors(file, {{"a", Tensor::full({3}, 1.0)}});
  write_safetensors(file, {{"b", Tensor::full({2}, 2.0, DType::float64)}});
  const SafetensorsFile st = SafetensorsFile::open(file);
  EXPECT_EQ(st.names(), std::vector<std::string>{"b"});
  EXPECT_EQ(st.read("b").to_host<double>(), (std::vector<double>{2.0, 2.0}));
  EXPECT_EQ(entries(), std::vector<std::string>{"w.safetensors"});
}

// ---------------------------------------------------------------------------------------------------------------
// The published VGG-19 file, when weights/fetch_vgg19.sh has fetched it.

TEST(SafetensorsVgg19, ConvTensorsUpToRelu51HaveTorchvisionKeysAndShapes) {
  const std::string file = std::string(GRAMGAN_WEIGHTS_DIR) + "/vgg19.safetensors";
  if (!fs::exists(file)) GTEST_SKIP() << file << " not present (run weights/fetch_vgg19.sh)";
  const SafetensorsFile st = SafetensorsFile::open(file);
  // features index and output channels of the 13 convs of configuration E up to conv5_1.
  const int index[] = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28};
  const std::int64_t out[] = {64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512};
  std::int64_t in = 3;
  for (int i = 0; i < 13; ++i) {
    const std::string prefix = "features." + std::to_string(index[i]);
    st.expect(prefix + ".weight", SafetensorsDType::F32, {out[i], in, 3, 3});
    st.expect(prefix + ".bias", SafetensorsDType::F32, {out[i]});
    in = out[i];
  }
  const std::vector<float> bias = st.read("features.0.bias").to_host<float>();
  EXPECT_TRUE(std::all_of(bias.begin(), bias.end(), [](float v) { return std::isfinite(v); }));
}

}  // namespace
}  // namespace gramgan
