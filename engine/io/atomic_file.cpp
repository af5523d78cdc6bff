#include "engine/io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "engine/error.h"

namespace gramgan {
namespace fs = std::filesystem;

namespace {

constexpr int kMaxLinks = 40;  // as the kernel's ELOOP limit

std::string parent_folder(const std::string& path) {
  const std::string dir = fs::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

// Why a file cannot be written at `path` (after following links), or "" when it can: it is missing, or a regular
// file we may write. `shown` is the path as the user gave it.
std::string file_problem(const std::string& shown, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return "";  // missing; its folders are checked separately
    return std::strerror(errno);
  }
  const std::string what = path == shown ? "it is " : "it links to " + path + ", ";
  if (S_ISDIR(st.st_mode)) return what + "a folder; name a file (or a new name)";
  if (!S_ISREG(st.st_mode))
    return what + file_kind(st.st_mode) +
           ", not a regular file; gramgan writes a new file and renames it into place, which would replace it: name "
           "a regular file";
  if (::faccessat(AT_FDCWD, path.c_str(), W_OK, AT_EACCESS) != 0) return std::strerror(errno);
  return "";
}

// Why folders cannot be created (or files in them) at `dir`, or "" when they can: `dir` is a folder we may write,
// or its nearest existing ancestor is.
std::string folder_problem(const std::string& dir) {
  fs::path p(dir);
  struct stat st {};
  while (::stat(p.c_str(), &st) != 0) {
    const bool missing = errno == ENOENT || errno == ENOTDIR;
    if (!missing || p == "." || p == p.root_path()) return p.string() + ": " + std::strerror(errno);
    p = p.has_parent_path() ? p.parent_path() : fs::path(".");
  }
  if (!S_ISDIR(st.st_mode))
    return (p == fs::path(dir) ? std::string("it") : p.string()) + " is " + file_kind(st.st_mode) + ", not a folder";
  if (::faccessat(AT_FDCWD, p.c_str(), W_OK | X_OK, AT_EACCESS) != 0)
    return "cannot create files in " + p.string() + ": " + std::strerror(errno);
  return "";
}

}  // namespace

const char* file_kind(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

std::string follow_links(const std::string& path) {
  std::string current = path;
  for (int hops = 0; hops <= kMaxLinks; ++hops) {
    struct stat st {};
    if (::lstat(current.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return current;
    std::error_code ec;
    const fs::path link = fs::read_symlink(current, ec);
    if (ec) throw Error(path + ": cannot read the symbolic link " + current + ": " + ec.message());
    current = link.is_absolute() ? link.string() : (fs::path(current).parent_path() / link).string();
  }
  throw Error(path + ": cannot write: too many levels of symbolic links (a loop?)");
}

void check_output_file(const std::string& target) {
  if (fs::path(target).filename().empty()) throw Error(target + ": cannot write: not a file name");
  const std::string resolved = follow_links(target);
  if (const std::string problem = file_problem(target, resolved); !problem.empty())
    throw Error(target + ": cannot write: " + problem);
  if (const std::string problem = folder_problem(parent_folder(resolved)); !problem.empty())
    throw Error(target + ": cannot write: " + problem);
}

void check_output_folder(const std::string& dir) {
  if (const std::string problem = folder_problem(dir); !problem.empty())
    throw Error(dir + ": cannot write: " + problem);
}

void make_folders(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create the folder: " + ec.message());
}

void make_parent_folders(const std::string& target) { make_folders(parent_folder(follow_links(target))); }

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

AtomicFile::AtomicFile(const std::string& target) : target_(target) {
  static std::atomic<unsigned> counter{0};
  const std::string file_name = fs::path(target).filename().string();
  if (file_name.empty()) throw Error(target + ": cannot write: not a file name");
  resolved_ = follow_links(target);
  struct stat existing {};
  const bool exists = ::stat(resolved_.c_str(), &existing) == 0;
  if (exists && !S_ISREG(existing.st_mode)) throw Error(target + ": cannot write: " + file_problem(target, resolved_));
  const fs::path dir = fs::path(resolved_).parent_path();
  const std::string resolved_name = fs::path(resolved_).filename().string();
  for (int attempt = 0;; ++attempt) {
    const std::string name =
        "." + resolved_name + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    temp_ = (dir / name).string();
    // 0666 lets the umask decide the permissions of a new file; a replaced one keeps its own (below).
    const int fd = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      if ((exists && ::fchmod(fd, existing.st_mode & 0777) != 0) || (file_ = ::fdopen(fd, "wb")) == nullptr) {
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
  // Checked again just before the rename: something other than a regular file may have appeared meanwhile.
  struct stat st {};
  if (::lstat(resolved_.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    throw Error(target_ + ": cannot write: " + resolved_ + " is now " + file_kind(st.st_mode) +
                ", not a regular file; it was left as it is");
  if (std::rename(temp_.c_str(), resolved_.c_str()) != 0) fail(errno);
  committed_ = true;
  // The rename is only durable once the directory entry is on disk. The target is complete at this point, so a
  // filesystem that cannot fsync a directory (EINVAL) is not a failure.
  const std::string dir = parent_folder(resolved_);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(errno);
  const bool synced = ::fsync(fd) == 0 || errno == EINVAL;
  error = errno;
  ::close(fd);
  if (!synced) fail(error);
}

int remove_stale_temporaries(const std::string& target) {
  const fs::path target_path(follow_links(target));
  std::string prefix = ".";  // appended, not "." + name: GCC 12 warns (-Wrestrict) on the inlined operator+
  prefix += target_path.filename().string();
  prefix += ".tmp.";
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
