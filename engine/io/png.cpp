// PNG reading and writing with libpng's regular API.
//
// libpng reports errors by calling an error function that must not return; ours records the message and
// longjmps back to a setjmp in one of the small C-style functions below (read_info, prepare_rows, read_rows,
// write_rows). Those functions own no C++ objects and modify no locals after setjmp, so the longjmp skips no
// destructor and reads no indeterminate value; C++ exceptions are thrown only after they return, never through
// libpng's C frames.
#include "engine/io/png.h"

#include <png.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/io/atomic_file.h"

namespace gramgan {
namespace {

constexpr std::size_t kSignatureBytes = 8;
// Signature, then the IHDR chunk: length (4), type (4), data (13), CRC (4).
constexpr std::size_t kPrefixBytes = kSignatureBytes + 4 + 4 + 13 + 4;

struct ErrorSink {
  char message[256];
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* sink = static_cast<ErrorSink*>(png_get_error_ptr(png));
  std::snprintf(sink->message, sizeof sink->message, "%s", message != nullptr ? message : "unknown error");
  png_longjmp(png, 1);
}

// Warnings (unknown chunks, bad ancillary CRCs, sRGB profile quibbles) do not stop decoding and are not the
// user's concern; libpng would print them on stderr.
void on_png_warning(png_structp, png_const_charp) {}

// Where the bytes come from: an open file (read as libpng asks, so a huge file is never held whole) or a buffer.
struct ByteSource {
  std::FILE* file = nullptr;
  const unsigned char* data = nullptr;
  std::size_t size = 0, pos = 0;

  // Up to `count` bytes; fewer at the end or on a read error (failed() tells which).
  std::size_t read(unsigned char* out, std::size_t count) {
    if (file != nullptr) return std::fread(out, 1, count, file);
    const std::size_t n = std::min(count, size - pos);
    if (n > 0) std::memcpy(out, data + pos, n);
    pos += n;
    return n;
  }
  bool failed() const { return file != nullptr && std::ferror(file) != 0; }
};

// Serves the bytes already read for the early checks, then the rest of the source.
struct ReadSource {
  ByteSource* input;
  unsigned char prefix[kPrefixBytes];
  std::size_t prefix_size;
  std::size_t prefix_pos;
};

void read_bytes(png_structp png, png_bytep out, std::size_t count) {
  auto* source = static_cast<ReadSource*>(png_get_io_ptr(png));
  const std::size_t from_prefix = std::min(count, source->prefix_size - source->prefix_pos);
  std::memcpy(out, source->prefix + source->prefix_pos, from_prefix);
  source->prefix_pos += from_prefix;
  const std::size_t wanted = count - from_prefix;
  if (wanted == 0 || source->input->read(out + from_prefix, wanted) == wanted) return;
  if (source->input->failed()) {
    char message[128];
    std::snprintf(message, sizeof message, "read error: %s", std::strerror(errno));
    png_error(png, message);
  }
  png_error(png, "unexpected end of file");
}

struct Header {
  png_uint_32 width, height;
  int bit_depth, color_type, interlace;
};

struct RowLayout {
  int channels, bit_depth;
  std::size_t row_bytes;
};

bool read_info(png_structp png, png_infop info, Header* header) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  png_get_IHDR(png, info, &header->width, &header->height, &header->bit_depth, &header->color_type, &header->interlace,
               nullptr, nullptr);
  return true;
}

// Asks libpng for 8- or 16-bit samples, 1 to 4 channels; alpha is dropped later, so tRNS may still add a channel.
bool prepare_rows(png_structp png, png_infop info, const Header* header, RowLayout* layout) {
  if (setjmp(png_jmpbuf(png))) return false;
  if (header->color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (header->color_type == PNG_COLOR_TYPE_GRAY && header->bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  layout->channels = png_get_channels(png, info);
  layout->bit_depth = png_get_bit_depth(png, info);
  layout->row_bytes = png_get_rowbytes(png, info);
  return true;
}

bool read_rows(png_structp png, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  png_read_end(png, nullptr);
  return true;
}

bool write_rows(png_structp png, png_infop info, png_uint_32 width, png_uint_32 height, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  return true;
}

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

struct ReadStruct {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~ReadStruct() { png_destroy_read_struct(&png, &info, nullptr); }
};

struct WriteStruct {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~WriteStruct() { png_destroy_write_struct(&png, &info); }
};

std::uint32_t load_be32(const unsigned char* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | std::uint32_t{p[3]};
}

void check_dimensions(const std::string& path, std::uint32_t width, std::uint32_t height) {
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  if (width == 0 || height == 0) throw Error(path + ": image has zero width or height (" + size + ")");
  if (width > static_cast<std::uint32_t>(kMaxImageSide) || height > static_cast<std::uint32_t>(kMaxImageSide) ||
      std::uint64_t{width} * height > static_cast<std::uint64_t>(kMaxImagePixels))
    throw Error(path + ": image too large: " + size + " pixels (limit " + std::to_string(kMaxImageSide) +
                " per side, " + std::to_string(kMaxImagePixels) + " pixels)");
}

// Judges the size from the raw IHDR before libpng sees the file, so an absurd header is reported as such even
// when nothing valid follows it. A header that is not a well-formed first IHDR is left for libpng to reject.
void check_dimensions_early(const std::string& path, const ReadSource& source) {
  if (source.prefix_size < kPrefixBytes) return;
  const unsigned char* chunk = source.prefix + kSignatureBytes;
  if (load_be32(chunk) != 13 || std::memcmp(chunk + 4, "IHDR", 4) != 0) return;
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), chunk + 4, 4 + 13);
  if (crc != load_be32(chunk + 4 + 4 + 13)) return;
  check_dimensions(path, load_be32(chunk + 8), load_be32(chunk + 12));
}

Error corrupt(const std::string& path, const ErrorSink& sink) {
  return Error(path + ": truncated or corrupt PNG (libpng: " + sink.message + ")");
}

// Callers copy errno first: building the message allocates, which may change it.
std::string errno_text(int error) { return std::strerror(error); }

// The whole decoder; read_png and read_png_memory differ only in where the bytes come from.
Image decode_png(const std::string& path, ByteSource& input) {
  ReadSource source{};
  source.input = &input;
  source.prefix_size = input.read(source.prefix, kPrefixBytes);
  if (input.failed()) {
    const int error = errno;
    throw Error(path + ": cannot read: " + errno_text(error));
  }
  if (source.prefix_size == 0) throw Error(path + ": not a PNG file (empty file)");
  if (png_sig_cmp(source.prefix, 0, std::min(source.prefix_size, kSignatureBytes)) != 0)
    throw Error(path + ": not a PNG file (bad signature)");
  if (source.prefix_size < kSignatureBytes)
    throw Error(path + ": truncated or corrupt PNG (file ends inside the signature)");
  check_dimensions_early(path, source);

  ErrorSink sink{};
  ReadStruct reader;
  reader.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &sink, on_png_error, on_png_warning);
  if (reader.png == nullptr) throw Error(path + ": cannot decode: libpng initialisation failed");
  reader.info = png_create_info_struct(reader.png);
  if (reader.info == nullptr) throw Error(path + ": cannot decode: libpng initialisation failed");
  png_set_read_fn(reader.png, &source, read_bytes);
  // libpng's own limit (1e6 per side) would turn an oversized header into a libpng error; ours are tighter.
  png_set_user_limits(reader.png, kMaxImageSide, kMaxImageSide);
  // Skip every ancillary chunk but tRNS, unread: none changes what we decode (no gamma, background or profile is
  // applied), and libpng allocates a text, profile or eXIf chunk's declared length, up to 2 GB, before finding
  // that the file ends (an 81-byte file took 1.5 GB: a fuzzing finding). Negative count: known chunks too.
  png_set_keep_unknown_chunks(reader.png, PNG_HANDLE_CHUNK_NEVER, nullptr, -1);

  Header header{};
  if (!read_info(reader.png, reader.info, &header)) throw corrupt(path, sink);
  check_dimensions(path, header.width, header.height);
  RowLayout layout{};
  if (!prepare_rows(reader.png, reader.info, &header, &layout)) throw corrupt(path, sink);
  const std::size_t sample_bytes = layout.bit_depth == 16 ? 2 : 1;
  if (layout.channels < 1 || layout.channels > 4 || (layout.bit_depth != 8 && layout.bit_depth != 16) ||
      layout.row_bytes != header.width * layout.channels * sample_bytes)
    throw Error(path + ": cannot decode: unexpected libpng row layout (" + std::to_string(layout.channels) +
                " channels, " + std::to_string(layout.bit_depth) + "-bit)");

  const int width = static_cast<int>(header.width), height = static_cast<int>(header.height);
  std::vector<png_byte> bytes(layout.row_bytes * header.height);
  std::vector<png_bytep> rows(header.height);
  for (int y = 0; y < height; ++y) rows[y] = bytes.data() + y * layout.row_bytes;
  if (!read_rows(reader.png, rows.data())) throw corrupt(path, sink);

  Image image = make_image(width, height);
  const std::size_t plane = image.plane_size();
  const std::size_t pixel_bytes = layout.channels * sample_bytes;
  // Gray (+alpha) feeds all three planes from sample 0; RGB(A) takes samples 0..2; alpha, the last sample of 2 or 4,
  // composites the colour onto kPngBackground.
  const bool gray = layout.channels < 3;
  const bool alpha = layout.channels == 2 || layout.channels == 4;
  const auto value = [&](const png_byte* sample) {
    return sample_bytes == 2 ? static_cast<float>(sample[0] << 8 | sample[1]) / 65535.0f
                             : static_cast<float>(sample[0]) / 255.0f;
  };
  for (int y = 0; y < height; ++y) {
    const png_byte* row = rows[y];
    for (int x = 0; x < width; ++x) {
      const png_byte* pixel = row + x * pixel_bytes;
      const std::size_t offset = static_cast<std::size_t>(y) * width + x;
      const float a = alpha ? value(pixel + (layout.channels - 1) * sample_bytes) : 1.0f;
      for (int c = 0; c < Image::kChannels; ++c) {
        const float colour = value(pixel + (gray ? 0 : c * sample_bytes));
        image.pixels[c * plane + offset] = alpha ? a * colour + (1.0f - a) * kPngBackground : colour;
      }
    }
  }
  image.source = path;
  return image;
}

}  // namespace

Image read_png(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    const int error = errno;
    throw Error(path + ": cannot open: " + errno_text(error));
  }
  // fopen succeeds on a directory on Linux; only the first read would fail.
  struct stat status {};
  if (::fstat(::fileno(file.get()), &status) == 0 && S_ISDIR(status.st_mode))
    throw Error(path + ": cannot open: " + errno_text(EISDIR));

  ByteSource input;
  input.file = file.get();
  return decode_png(path, input);
}

Image read_png_memory(const void* data, std::size_t size, const std::string& name) {
  ByteSource input;
  input.data = static_cast<const unsigned char*>(data);
  input.size = size;
  return decode_png(name, input);
}

namespace {

// Writes `image` as 8-bit RGB PNG to `file`; `name` is the path (or what stands for it) in messages.
void write_png_to(std::FILE* file, const Image& image, const std::string& name) {
  check_image(image, name + ": cannot write");
  const int width = image.width, height = image.height;
  const std::size_t plane = image.plane_size();
  std::vector<png_byte> bytes(3 * plane);
  for (std::size_t i = 0; i < plane; ++i)
    for (int c = 0; c < Image::kChannels; ++c) {
      float v = image.pixels[c * plane + i];
      if (!(v > 0.0f)) v = 0.0f;  // also NaN
      if (v > 1.0f) v = 1.0f;
      bytes[3 * i + c] = static_cast<png_byte>(std::lround(v * 255.0f));
    }
  std::vector<png_bytep> rows(height);
  for (int y = 0; y < height; ++y) rows[y] = bytes.data() + static_cast<std::size_t>(y) * width * 3;

  ErrorSink sink{};
  WriteStruct writer;
  writer.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, on_png_error, on_png_warning);
  if (writer.png == nullptr) throw Error(name + ": cannot write: libpng initialisation failed");
  writer.info = png_create_info_struct(writer.png);
  if (writer.info == nullptr) throw Error(name + ": cannot write: libpng initialisation failed");
  png_init_io(writer.png, file);
  if (!write_rows(writer.png, writer.info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height),
                  rows.data()))
    throw Error(name + ": cannot write (libpng: " + sink.message + ")");
}

}  // namespace

void write_png(const std::string& path, const Image& image) {
  check_image(image, path + ": cannot write");
  AtomicFile temp(path);
  write_png_to(temp.file(), image, path);
  temp.commit();
}

std::vector<unsigned char> encode_png(const Image& image) {
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* stream = ::open_memstream(&buffer, &size);
  if (stream == nullptr) throw Error("PNG in memory: cannot write: " + errno_text(errno));
  try {
    write_png_to(stream, image, "PNG in memory");
  } catch (...) {
    std::fclose(stream);
    std::free(buffer);
    throw;
  }
  const bool closed = std::fclose(stream) == 0;  // sets buffer and size
  std::vector<unsigned char> png(buffer, buffer + (closed ? size : 0));
  std::free(buffer);
  if (!closed) throw Error("PNG in memory: cannot write: out of memory");
  return png;
}

}  // namespace gramgan
