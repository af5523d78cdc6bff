// AtomicFile: writes a file so that `path` holds either its old contents or the complete new ones, never a
// partial file, even across a crash.
#pragma once

#include <cstdio>
#include <string>

namespace gramgan {

// Opens a new temporary next to `target` (same directory, so the final rename stays on one filesystem).
// Write through file(), then commit(): flush, fsync the file, rename it over `target`, fsync the directory so
// the rename itself is durable. Destroying an uncommitted AtomicFile (an exception on the way) removes the
// temporary. Failures throw gramgan::Error whose message starts with "<target>: cannot write: ".
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& target);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  std::FILE* file() const { return file_; }
  const std::string& temp_path() const { return temp_; }

  // Writes `size` bytes or throws (a full disk shows here or at commit()).
  void write(const void* data, std::size_t size);
  void commit();

 private:
  [[noreturn]] void fail(int error) const;

  std::string target_;
  std::string temp_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

// Removes the temporaries a killed writer left next to `target` (".<name>.tmp.<pid>.<n>", see AtomicFile) whose
// process is gone; a live writer's are kept. Returns how many were removed.
int remove_stale_temporaries(const std::string& target);

}  // namespace gramgan
