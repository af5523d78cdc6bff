#include "apps/gan/dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

#include "apps/gan/run_folder.h"

#include "engine/error.h"
#include "engine/io/png.h"

namespace gramgan::gan {
namespace fs = std::filesystem;

namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

bool has_png_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext == ".png";
}

}  // namespace

std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b) {
  std::uint64_t state = seed;
  std::uint64_t h = splitmix64(state);
  state = h ^ a;
  h = splitmix64(state);
  state = h ^ b;
  return splitmix64(state);
}

namespace {

// Depth-first, entries in name order so that which of two paths to one file is kept does not depend on the
// order the filesystem lists them. Folder symbolic links are followed, but a folder (or a file) already seen, by
// device and inode, is not walked (counted) again, and neither is the walked folder or one of its ancestors: a
// link to "." or ".." neither loops nor multiplies photos.
// Run folders (gramgan train's, see is_run_folder) are skipped: their sample strips are not photos.
void walk_png_files(const fs::path& dir, std::set<std::pair<dev_t, ino_t>>& seen, std::vector<std::string>& paths) {
  std::error_code ec;
  std::vector<fs::path> entries;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) entries.push_back(it->path());
  if (ec) throw Error(dir.string() + ": cannot read the folder: " + ec.message());
  std::sort(entries.begin(), entries.end());
  for (const fs::path& path : entries) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) continue;  // a dangling link
    if (S_ISDIR(st.st_mode)) {
      if (!seen.insert({st.st_dev, st.st_ino}).second) continue;
      if (is_run_folder(path.string())) continue;
      walk_png_files(path, seen, paths);
    } else if (S_ISREG(st.st_mode) && has_png_extension(path) && seen.insert({st.st_dev, st.st_ino}).second) {
      paths.push_back(path.string());
    }
  }
}

}  // namespace

std::vector<std::string> list_png_files(const std::string& directory) {
  struct stat st {};
  if (::stat(directory.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw Error(directory + ": not a folder (--content expects a folder of PNGs)");
  if (is_run_folder(directory))
    throw Error(directory +
                ": a run folder of gramgan train, not a folder of photos; give --content the photos' folder");
  // The folder and its ancestors count as seen: a link to any of them is a loop, and following it would also read
  // photos from outside the folder.
  std::set<std::pair<dev_t, ino_t>> seen;
  std::error_code ec;
  for (fs::path p = fs::canonical(directory, ec); !ec && !p.empty(); p = p.parent_path()) {
    struct stat above {};
    if (::stat(p.c_str(), &above) == 0) seen.insert({above.st_dev, above.st_ino});
    if (p == p.root_path()) break;
  }
  seen.insert({st.st_dev, st.st_ino});
  std::vector<std::string> paths;
  walk_png_files(directory, seen, paths);
  if (paths.empty()) throw Error(directory + ": no PNG files in the folder (searched recursively for *.png)");
  std::sort(paths.begin(), paths.end());
  return paths;
}

Tensor images_to_tensor(const std::vector<Image>& images, DType dtype, const Device& device) {
  if (images.empty()) throw Error("images_to_tensor: no images");
  const int h = images[0].height, w = images[0].width;
  std::vector<float> values;
  values.reserve(images.size() * images[0].pixels.size());
  for (const Image& image : images) {
    if (image.height != h || image.width != w) throw Error("images_to_tensor: images differ in size");
    values.insert(values.end(), image.pixels.begin(), image.pixels.end());
  }
  const Shape shape{std::int64_t(images.size()), 3, h, w};
  Tensor t = Tensor::from_host(std::span<const float>(values), shape, device);
  if (dtype == DType::float32) return t;
  const std::vector<double> wide(values.begin(), values.end());
  return Tensor::from_host(std::span<const double>(wide), shape, device);
}

Image tensor_to_image(const Tensor& images, int n) {
  const Shape& s = images.shape();
  if (s.ndim() != 4 || s[1] != 3 || n < 0 || n >= s[0])
    throw Error("tensor_to_image: need (N, 3, H, W) and 0 <= n < N; got " + s.to_string());
  Image image = make_image(int(s[3]), int(s[2]));
  const std::size_t plane = std::size_t(3) * s[2] * s[3];
  if (images.dtype() == DType::float32) {
    const std::vector<float> values = images.to_host<float>();
    std::copy_n(values.begin() + std::ptrdiff_t(n * plane), plane, image.pixels.begin());
  } else {
    const std::vector<double> values = images.to_host<double>();
    std::transform(values.begin() + std::ptrdiff_t(n * plane), values.begin() + std::ptrdiff_t((n + 1) * plane),
                   image.pixels.begin(), [](double v) { return float(v); });
  }
  return image;
}

ContentDataset::ContentDataset(const std::string& directory, int size, std::uint64_t seed,
                               const std::function<void(std::size_t, std::size_t)>& on_read)
    : paths_(list_png_files(directory)), size_(size), seed_(seed) {
  images_.reserve(paths_.size());
  for (const std::string& path : paths_) {
    images_.push_back(resize_short_side(read_png(path), size));
    if (on_read) on_read(images_.size(), paths_.size());
  }
  state_.order = shuffled_order(0);
}

std::vector<std::int64_t> ContentDataset::shuffled_order(std::int64_t epoch) const {
  std::vector<std::int64_t> order(images_.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = std::int64_t(i);
  std::uint64_t state = mix_seed(seed_, 0x0dde7ull, std::uint64_t(epoch));
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[splitmix64(state) % i]);  // Fisher-Yates
  return order;
}

std::vector<Image> ContentDataset::next_batch(int batch) {
  std::vector<Image> out;
  out.reserve(std::size_t(batch));
  for (int i = 0; i < batch; ++i) {
    if (state_.position == std::int64_t(images_.size())) {
      state_.order = shuffled_order(++state_.epoch);
      state_.position = 0;
    }
    const Image& image = images_[std::size_t(state_.order[std::size_t(state_.position)])];
    const std::uint64_t crop_seed = mix_seed(seed_, std::uint64_t(state_.epoch), std::uint64_t(state_.position));
    out.push_back(random_crop(image, size_, size_, crop_seed));
    ++state_.position;
  }
  return out;
}

void ContentDataset::set_state(const State& state) {
  const std::int64_t n = std::int64_t(images_.size());
  std::vector<std::int64_t> sorted = state.order;
  std::sort(sorted.begin(), sorted.end());
  bool permutation = std::int64_t(sorted.size()) == n;
  for (std::int64_t i = 0; permutation && i < n; ++i) permutation = sorted[std::size_t(i)] == i;
  if (!permutation || state.position < 0 || state.position > n || state.epoch < 0)
    throw Error("the checkpoint's data order does not fit the " + std::to_string(n) +
                " images of the content folder (was the folder changed since the run started?)");
  state_ = state;
}

}  // namespace gramgan::gan
