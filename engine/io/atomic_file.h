// AtomicFile: writes a file so that `path` holds either its old contents or the complete new ones, never a
// partial file, even across a crash. Also what every output path is checked against before a command does its
// work (check_output_file, check_output_folder), so a refusal comes first and says the same thing.
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <string>

namespace gramgan {

// Opens a new temporary next to the file `target` names and writes through file(), then commit(): flush, fsync
// the file, rename it over that file, fsync the directory so the rename itself is durable. Destroying an
// uncommitted AtomicFile (an exception on the way) removes the temporary. Failures throw gramgan::Error whose
// message starts with "<target>: cannot write: ".
//
// What `target` names: a symbolic link is followed (through a chain of links, to a file that may not exist yet)
// and the file it points to is replaced, so the link itself stays a link, as `cp` or a shell's `>` would leave it.
// An existing file keeps its permission bits. A target that exists but is not a regular file (a folder, a device
// such as /dev/null, a FIFO, a socket) is refused: the rename would replace it with a regular file, and writing
// into it instead could block forever (a FIFO without a reader) or go nowhere.
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

  std::string target_;    // as given, for messages
  std::string resolved_;  // the file renamed over: target_ with its symbolic links followed
  std::string temp_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

// `path` with symbolic links at its end followed, link by link, to what they finally name (which need not exist:
// a dangling link names the file it would create). A path that is not a link is returned as given. Throws
// gramgan::Error for a loop of links.
std::string follow_links(const std::string& path);

// Checks, before any work, that a file can be written at `target` as AtomicFile writes it: after following links
// it is missing or a regular file we may write, and the folder it goes into exists (or its nearest existing
// ancestor is a folder where we may create folders: make_parent_folders creates the rest). Throws gramgan::Error,
// one line starting with "<target>: " that says what is wrong.
void check_output_file(const std::string& target);

// The same for a folder that outputs go into (a run folder, stylize's output folder): it is a folder we may create
// files in, or it is missing and can be created.
void check_output_folder(const std::string& dir);

// Creates the folders missing above `target` (check_output_file allows them). Throws gramgan::Error naming the
// folder that could not be made.
void make_parent_folders(const std::string& target);
// Creates `dir` and the folders missing above it; throws gramgan::Error naming it.
void make_folders(const std::string& dir);

// True when `a` and `b` name the same existing file: same device and inode once links are followed, so relative
// and absolute spellings, `..`, symbolic links and hard links all compare equal. False when either is missing.
bool same_file(const std::string& a, const std::string& b);

// What `mode` (st_mode) is in words, for messages: "a folder", "a character device", "a FIFO", ...
const char* file_kind(mode_t mode);

// Removes the temporaries a killed writer left next to `target` (".<name>.tmp.<pid>.<n>", see AtomicFile) whose
// process is gone; a live writer's are kept. Returns how many were removed.
int remove_stale_temporaries(const std::string& target);

}  // namespace gramgan
