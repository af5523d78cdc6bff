#include "engine/io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "engine/error.h"

namespace gramgan {

AtomicFile::AtomicFile(const std::string& target) : target_(target) {
  static std::atomic<unsigned> counter{0};
  const std::filesystem::path target_path(target);
  const std::string file_name = target_path.filename().string();
  if (file_name.empty()) throw Error(target + ": cannot write: not a file name");
  const std::filesystem::path dir = target_path.parent_path();
  for (int attempt = 0;; ++attempt) {
    const std::string name = "." + file_name + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    temp_ = (dir / name).string();
    // 0666 lets the umask decide the final permissions, as for any newly created file.
    const int fd = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      file_ = ::fdopen(fd, "wb");
      if (file_ == nullptr) {
        const int error = errno;
        ::close(fd);
        ::unlink(temp_.c_str());
        fail(error);
      }
      return;
    }
    const int error = errno;
    if (error != EEXIST || attempt == 100) fail(error);
  }
}

AtomicFile::~AtomicFile() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFile::fail(int error) const { throw Error(target_ + ": cannot write: " + std::strerror(error)); }

void AtomicFile::write(const void* data, std::size_t size) {
  if (size != 0 && std::fwrite(data, 1, size, file_) != size) fail(errno);
}

void AtomicFile::commit() {
  // fsync before the rename so that after a crash the target holds either the old or the complete new file.
  const bool flushed = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  int error = errno;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!closed && flushed) error = errno;
  if (!flushed || !closed) fail(error);
  if (std::rename(temp_.c_str(), target_.c_str()) != 0) fail(errno);
  committed_ = true;
  // The rename is only durable once the directory entry is on disk. The target is complete at this point, so a
  // filesystem that cannot fsync a directory (EINVAL) is not a failure.
  std::string dir = std::filesystem::path(target_).parent_path().string();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(errno);
  const bool synced = ::fsync(fd) == 0 || errno == EINVAL;
  error = errno;
  ::close(fd);
  if (!synced) fail(error);
}

int remove_stale_temporaries(const std::string& target) {
  namespace fs = std::filesystem;
  const fs::path target_path(target);
  const std::string prefix = "." + target_path.filename().string() + ".tmp.";
  fs::path dir = target_path.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code error;
  int removed = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
    if (end == name.c_str() + prefix.size() || *end != '.' || pid <= 0) continue;
    const bool alive = pid != long(::getpid()) ? (::kill(pid_t(pid), 0) == 0 || errno == EPERM) : true;
    if (!alive && fs::remove(entry.path(), error)) ++removed;
  }
  return removed;
}

}  // namespace gramgan
