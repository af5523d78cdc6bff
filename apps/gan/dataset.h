// Training data: the content photos (every PNG under a folder) as random size x size crops in a reproducible
// order, and random crops of the style image as the discriminator's real samples.
//
// All randomness is a function of (seed, epoch, position): the order of an epoch is a seeded shuffle and each
// crop's offset is drawn from a seed mixed from the three. The State (epoch, position, order) is what a
// checkpoint saves, so a resumed run draws exactly the batches an uninterrupted one would have.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "engine/tensor.h"

namespace gramgan::gan {

// Every *.png under `directory` (recursively, following folder links), each file once however many paths (links,
// hard links) lead to it, sorted by path; folders already walked (a link to "." or "..") and run folders of
// gramgan train inside it are skipped. Throws gramgan::Error if the folder is missing, unreadable, a run folder
// or holds no PNG.
std::vector<std::string> list_png_files(const std::string& directory);

// A stable 64-bit mix of a seed and two counters (splitmix64 steps), for per-sample seeds.
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b);

// Stacks equally sized images into an (N, 3, H, W) tensor.
Tensor images_to_tensor(const std::vector<Image>& images, DType dtype, const Device& device);
// Image n of an (N, 3, H, W) tensor.
Image tensor_to_image(const Tensor& images, int n);

class ContentDataset {
 public:
  struct State {
    std::int64_t epoch = 0, position = 0;
    std::vector<std::int64_t> order;  // a permutation of the image indices for this epoch
  };

  // Loads and decodes every PNG under `directory`, scaling each so its short side is `size` (area filter when
  // shrinking). A file that does not decode throws gramgan::Error naming it.
  // `on_read(done, total)` after each photo is read (progress).
  ContentDataset(const std::string& directory, int size, std::uint64_t seed,
                 const std::function<void(std::size_t, std::size_t)>& on_read = {});

  std::size_t size() const { return images_.size(); }
  const std::vector<std::string>& paths() const { return paths_; }
  // The next `batch` crops (size x size), advancing the state; epochs roll over with a fresh shuffle.
  std::vector<Image> next_batch(int batch);

  const State& state() const { return state_; }
  // Restores a saved state; throws if it does not fit this dataset (e.g. the folder changed since).
  void set_state(const State& state);

 private:
  std::vector<std::int64_t> shuffled_order(std::int64_t epoch) const;
  std::vector<std::string> paths_;
  std::vector<Image> images_;
  int size_;
  std::uint64_t seed_;
  State state_;
};

}  // namespace gramgan::gan
