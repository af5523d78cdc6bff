// What the commands do with the files they are given, through the real binary: outputs are checked before any work
// and never replace an input, a folder, a device, a FIFO or a socket (links are written through); run folders are
// locked and a new run takes only an empty folder; a failed log.csv append is said and caught up; content folders
// are walked without loops or duplicates and without run folders; --resume stores absolute inputs, may re-point
// them and names what it ignores.
// Tiny sizes, narrow networks and a random VGG on the cpu throughout.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "apps/gan/checkpoint.h"
#include "cli_runner.h"
#include "engine/io/png.h"
#include "temp_dir.h"
#include "train_fixtures.h"

namespace {

namespace fs = std::filesystem;
using gramgan::test::CliResult;
using gramgan::test::expect_cli_error;
using gramgan::test::noise_image;
using gramgan::test::read_file;
using gramgan::test::run_cli;
using gramgan::test::snapshot;
using gramgan::test::TempDir;

bool is_fifo(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
}

// Waits up to `seconds` for `ready`; false on timeout.
template <class Ready>
bool wait_for(Ready ready, double seconds = 60) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// Data rows of log.csv (the header aside).
long long log_rows(const fs::path& run) {
  const std::string text = read_file(run / "log.csv");
  const long long lines = std::count(text.begin(), text.end(), '\n');
  return lines > 0 ? lines - 1 : 0;
}

class CliFiles : public ::testing::Test {
 protected:
  CliFiles() : dir_("cli_files") {
    gramgan::test::write_train_inputs(dir_.path(), 2, 36, 36);
    fs::copy_file(dir_ / "content/0.png", dir_ / "photo.png");
  }

  std::vector<std::string> transfer(const std::string& out, const std::string& content = "",
                                    const std::string& style = "", const std::string& steps = "1") const {
    return {"transfer",
            "--content",
            content.empty() ? dir_ / "photo.png" : content,
            "--style",
            style.empty() ? dir_ / "style.png" : style,
            "--out",
            out,
            "--vgg",
            "random",
            "--size",
            "32",
            "--steps",
            steps,
            "--style-layers",
            "relu1_1",
            "--content-layers",
            "relu1_2",
            "--device",
            "cpu"};
  }

  std::string generator_file() const {
    gramgan::RandomStream rng(3);
    const gramgan::gan::Generator generator({.width = 4, .residual_blocks = 1}, rng);
    const std::string path = dir_ / "generator.safetensors";
    if (!fs::exists(path)) gramgan::gan::save_generator(path, generator);
    return path;
  }

  std::vector<std::string> stylize(const std::vector<std::string>& inputs, const std::string& out) const {
    std::vector<std::string> args = {"stylize", "--model", generator_file(), "--in"};
    args.insert(args.end(), inputs.begin(), inputs.end());
    args.insert(args.end(), {"--out", out, "--device", "cpu"});
    return args;
  }

  std::vector<std::string> train(const std::string& out, long long steps, const std::string& content = "") const {
    return gramgan::test::tiny_train_cli(content.empty() ? dir_ / "content" : content, dir_ / "style.png", out, steps);
  }

  TempDir dir_;
};

// ---- point 2: outputs checked before the work; an input is never overwritten -------------------------------------

// Compared as files: the same spelling, another spelling (relative), a symbolic link and a hard link to an input.
TEST_F(CliFiles, TransferRefusesAnOutThatIsItsContentOrStyle) {
  const std::string photo = dir_ / "photo.png", style = dir_ / "style.png";
  fs::create_symlink(photo, dir_ / "link.png");
  fs::create_hard_link(style, dir_ / "hard.png");
  const std::string relative = fs::relative(photo, fs::current_path()).string();
  const std::string before_photo = read_file(photo), before_style = read_file(style);
  for (const std::string& out : {photo, relative, dir_ / "link.png", style, dir_ / "hard.png"}) {
    SCOPED_TRACE(out);
    expect_cli_error(run_cli(transfer(out)), "would overwrite the input");
  }
  EXPECT_EQ(read_file(photo), before_photo);
  EXPECT_EQ(read_file(style), before_style);
  EXPECT_TRUE(fs::is_symlink(dir_ / "link.png"));
}

TEST_F(CliFiles, StylizeRefusesAnOutThatIsAnInputOrTheModel) {
  const std::string photo = dir_ / "photo.png";
  fs::create_hard_link(photo, dir_ / "hard.png");
  fs::create_symlink(generator_file(), dir_ / "model_link.png");
  const auto before = snapshot(dir_.path());
  expect_cli_error(run_cli(stylize({photo}, dir_ / "hard.png")), "would overwrite the input");
  expect_cli_error(run_cli(stylize({photo}, dir_ / "model_link.png")), "would overwrite the input");
  expect_cli_error(run_cli(stylize({photo}, generator_file())), "would overwrite the input");
  EXPECT_TRUE(snapshot(dir_.path()) == before) << "a refused stylize wrote or changed a file";
}

// A bad --out fails at once (a million transfer steps would take hours), with one line, writing nothing.
TEST_F(CliFiles, BadOutputsFailBeforeTheWork) {
  std::ofstream(dir_ / "file.txt") << "a file\n";
  fs::create_directories(dir_.path() / "folder");
  generator_file();
  const auto before = snapshot(dir_.path());
  const auto start = std::chrono::steady_clock::now();
  expect_cli_error(run_cli(transfer(dir_ / "file.txt/out.png", "", "", "1000000")), "file.txt");
  expect_cli_error(run_cli(transfer(dir_ / "folder", "", "", "1000000")), "a folder");
  expect_cli_error(run_cli(stylize({dir_ / "photo.png", dir_ / "style.png"}, dir_ / "file.txt")), "not a folder");
  expect_cli_error(run_cli(stylize({dir_ / "photo.png"}, dir_ / "file.txt/x/out.png")), "file.txt");
  expect_cli_error(run_cli(train(dir_ / "file.txt", 1000000)), "not a folder");
  expect_cli_error(run_cli(train(dir_ / "file.txt/run", 1000000)), "file.txt");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 60.0);
  EXPECT_TRUE(snapshot(dir_.path()) == before) << "a refused command wrote or changed a file";
}

// Missing folders above a file output are made (after the work).
TEST_F(CliFiles, MissingParentFoldersAreCreated) {
  const CliResult t = run_cli(transfer(dir_ / "new/deeper/out.png"));
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_EQ(gramgan::read_png(dir_ / "new/deeper/out.png").width, 32);
  const CliResult s = run_cli(stylize({dir_ / "photo.png"}, dir_ / "other/out.png"));
  ASSERT_EQ(s.status, 0) << s.err;
  EXPECT_TRUE(fs::is_regular_file(dir_ / "other/out.png"));
}

// ---- point 1: a device, FIFO or socket is never replaced; a link is written through ------------------------------

TEST_F(CliFiles, OutputsNeverReplaceAFifoDeviceOrSocket) {
  const std::string fifo = dir_ / "fifo.png";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0) << std::strerror(errno);
  expect_cli_error(run_cli(transfer(fifo)), "a FIFO");
  expect_cli_error(run_cli(stylize({dir_ / "photo.png"}, fifo)), "a FIFO");
  fs::create_symlink(fifo, dir_ / "to_fifo.png");
  expect_cli_error(run_cli(transfer(dir_ / "to_fifo.png")), "a FIFO");
  EXPECT_TRUE(is_fifo(fifo));

  // A device node of our own (the null device's numbers), never a real one in /dev.
  const std::string device = dir_ / "null.png";
  if (::mknod(device.c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0) {
    expect_cli_error(run_cli(stylize({dir_ / "photo.png"}, device)), "a character device");
    struct stat st {};
    ASSERT_EQ(::lstat(device.c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
  }

  const std::string socket_path = dir_ / "sock.png";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (fd >= 0 && socket_path.size() < sizeof address.sun_path) {
    std::strcpy(address.sun_path, socket_path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0) << std::strerror(errno);
    expect_cli_error(run_cli(transfer(socket_path)), "a socket");
    struct stat st {};
    ASSERT_EQ(::lstat(socket_path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
  }
  if (fd >= 0) ::close(fd);
}

// The link stays a link and its target gets the image, also through a dangling link; a replaced file keeps its mode.
TEST_F(CliFiles, OutputThroughASymlinkWritesItsTarget) {
  fs::create_directories(dir_.path() / "real");
  std::ofstream(dir_ / "real/old.png") << "old";
  ::chmod((dir_ / "real/old.png").c_str(), 0640);
  fs::create_symlink("real/old.png", dir_.path() / "link.png");
  fs::create_symlink("real/new.png", dir_.path() / "dangling.png");
  ASSERT_EQ(run_cli(transfer(dir_ / "link.png")).status, 0);
  const CliResult r = run_cli(stylize({dir_ / "photo.png"}, dir_ / "dangling.png"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(dir_ / "link.png"));
  EXPECT_TRUE(fs::is_symlink(dir_ / "dangling.png"));
  EXPECT_EQ(gramgan::read_png(dir_ / "real/old.png").width, 32);
  EXPECT_EQ(gramgan::read_png(dir_ / "real/new.png").width, 36);
  EXPECT_EQ(fs::status(dir_ / "real/old.png").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
}

// ---- point 4: one process per run folder; a new run only in an empty or new folder -------------------------------

TEST_F(CliFiles, NewRunRefusesAFolderThatIsNotEmpty) {
  const fs::path other = dir_.path() / "other";
  fs::create_directories(other);
  std::ofstream(other / "notes.txt") << "mine\n";
  expect_cli_error(run_cli(train(other.string(), 1)), "notes.txt");
  EXPECT_EQ(snapshot(other), (std::map<std::string, std::string>{{"notes.txt", "mine\n"}}));

  // The files of a run killed before its first checkpoint: nothing to resume, and not overwritten.
  const fs::path stopped = dir_.path() / "stopped";
  fs::create_directories(stopped / "samples");
  std::ofstream(stopped / "config.json") << "{}\n";
  std::ofstream(stopped / "log.csv") << "step\n";
  const auto before = snapshot(stopped);
  expect_cli_error(run_cli(train(stopped.string(), 1)), "stopped before its first checkpoint");
  EXPECT_TRUE(snapshot(stopped) == before) << "a refused run changed the folder";

  // An empty folder is fine.
  fs::create_directories(dir_.path() / "empty");
  const CliResult r = run_cli(train(dir_ / "empty", 1));
  EXPECT_EQ(r.status, 0) << r.err;
}

// While a run trains, a second train or --resume on its folder fails at once naming the holder's pid.
TEST_F(CliFiles, ASecondProcessOnARunFolderIsRefused) {
  const std::string run = dir_ / "run";
  const pid_t pid = gramgan::test::spawn_cli(train(run, 100000), dir_ / "first.out", dir_ / "first.err");
  ASSERT_GT(pid, 0);
  const bool started = wait_for([&] { return fs::exists(fs::path(run) / "log.csv") && log_rows(run) >= 1; });
  if (started) {
    const std::string holder = "pid " + std::to_string(pid);
    expect_cli_error(run_cli({"train", "--resume", "--out", run, "--device", "cpu"}), holder);
    expect_cli_error(run_cli(train(run, 3)), holder);
  }
  ::kill(pid, SIGTERM);
  EXPECT_EQ(gramgan::test::wait_cli(pid), 128 + SIGTERM) << read_file(dir_.path() / "first.err");
  ASSERT_TRUE(started) << read_file(dir_.path() / "first.err");
  // The lock went with the process: the run resumes.
  const std::string next = std::to_string(log_rows(run) + 1);
  const CliResult r = run_cli({"train", "--resume", "--out", run, "--device", "cpu", "--steps", next});
  EXPECT_EQ(r.status, 0) << r.err;
}

// ---- point 5: a failed log.csv append is said, kept, and written once it can be ----------------------------------

// log.csv swapped for a link to /dev/full (every write fails with ENOSPC, as on a full disk) while the run trains,
// then swapped back: a warning names the step and the reason, and in the end every step has its row, once.
TEST_F(CliFiles, FailedLogAppendsAreReportedAndCaughtUp) {
  const fs::path run = dir_.path() / "run";
  const std::string err = dir_ / "train.err";
  const long long steps = 60;
  const pid_t pid = gramgan::test::spawn_cli(train(run.string(), steps), dir_ / "train.out", err);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_for([&] { return fs::exists(run / "log.csv") && log_rows(run) >= 2; }));
  // Stopped while the log is swapped, so the swap lands before the run can end, however fast it goes.
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  ASSERT_LT(log_rows(run), steps) << "the run ended before it could be stopped";
  fs::create_hard_link(run / "log.csv", dir_.path() / "kept.csv");  // the rows written so far stay with it
  fs::create_symlink("/dev/full", dir_.path() / "full.csv");
  fs::rename(dir_.path() / "full.csv", run / "log.csv");
  ASSERT_EQ(::kill(pid, SIGCONT), 0);
  const bool warned = wait_for([&] { return read_file(err).find("cannot append") != std::string::npos; });
  fs::rename(dir_.path() / "kept.csv", run / "log.csv");
  EXPECT_EQ(gramgan::test::wait_cli(pid), 0) << read_file(err);
  ASSERT_TRUE(warned) << "the run finished before an append failed";
  const std::string text = read_file(err);
  EXPECT_NE(text.find("log.csv: cannot append the row of step"), std::string::npos) << text;
  EXPECT_NE(text.find("No space left on device"), std::string::npos) << text;
  EXPECT_NE(text.find("are written now"), std::string::npos) << text;
  std::ifstream log(run / "log.csv");
  std::string line;
  std::getline(log, line);
  std::vector<long long> logged;
  while (std::getline(log, line)) logged.push_back(std::atoll(line.c_str()));
  std::vector<long long> expected(steps);
  for (long long i = 0; i < steps; ++i) expected[std::size_t(i)] = i + 1;
  EXPECT_EQ(logged, expected);
}

// Rows that still cannot be written when the run ends make it fail, naming them, after the checkpoint is saved.
TEST_F(CliFiles, LogRowsStillUnwrittenAtTheEndAreAnError) {
  const fs::path run = dir_.path() / "run";
  const std::string err = dir_ / "train.err";
  const long long steps = 40;
  const pid_t pid = gramgan::test::spawn_cli(train(run.string(), steps), dir_ / "train.out", err);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_for([&] { return fs::exists(run / "log.csv") && log_rows(run) >= 2; }));
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);  // as above: the swap lands before the run can end
  ASSERT_LT(log_rows(run), steps) << "the run ended before it could be stopped";
  fs::create_symlink("/dev/full", dir_.path() / "full.csv");
  fs::rename(dir_.path() / "full.csv", run / "log.csv");
  ASSERT_EQ(::kill(pid, SIGCONT), 0);
  const int status = gramgan::test::wait_cli(pid);
  const std::string text = read_file(err);
  EXPECT_NE(text.find("cannot append"), std::string::npos) << text;
  EXPECT_EQ(status, 2) << text;
  EXPECT_NE(text.find("gramgan: error: " + (run / "log.csv").string() + ": the rows of steps"), std::string::npos)
      << text;
  EXPECT_NE(text.find("to 40 could not be written"), std::string::npos) << text;
  EXPECT_TRUE(fs::is_regular_file(run / "checkpoint.safetensors"));
}

// A sample that cannot be written is a warning; a checkpoint that cannot be written stops training with an error
// that names the checkpoint kept and how to continue. RLIMIT_FSIZE (4 KiB, SIGXFSZ ignored) makes every larger file
// fail with EFBIG, as a full disk would: the samples (about 8 KiB) and the checkpoint (about 260 KiB), not the log.
TEST_F(CliFiles, FailedSampleIsAWarningAndFailedCheckpointNamesTheOneKept) {
  const std::string run = dir_ / "run";
  ASSERT_EQ(run_cli(train(run, 1)).status, 0);
  rlimit previous{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &previous), 0);
  const rlimit small{4096, previous.rlim_max};
  const auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0) << std::strerror(errno);
  const pid_t pid = gramgan::test::spawn_cli(
      {"train", "--resume", "--out", run, "--steps", "2", "--sample-every", "1", "--device", "cpu"}, dir_ / "train.out",
      dir_ / "train.err");
  ::setrlimit(RLIMIT_FSIZE, &previous);
  std::signal(SIGXFSZ, previous_handler);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(gramgan::test::wait_cli(pid), 2);
  const std::string err = read_file(dir_.path() / "train.err");
  EXPECT_NE(err.find("WARNING: the sample of step 2 is lost"), std::string::npos) << err;
  EXPECT_NE(err.find("training stopped after step 2 and the checkpoint of step 1 is kept; once the cause is fixed, "
                     "continue with gramgan train --resume --out " +
                     run),
            std::string::npos)
      << err;
  EXPECT_EQ(log_rows(run), 2);
}

// ---- point 3: content folders without loops, duplicates or run folders -------------------------------------------

// Links to "." and "..", a hard link and a file link: still the 2 photos, and no hang.
TEST_F(CliFiles, ContentFolderLinksNeitherLoopNorMultiplyPhotos) {
  const fs::path content = dir_.path() / "content";
  fs::create_directory_symlink(".", content / "self");
  fs::create_directory_symlink("..", content / "up");
  fs::create_hard_link(content / "0.png", content / "hard.png");
  fs::create_symlink("1.png", content / "soft.png");
  fs::create_directories(content / "sub");
  fs::create_directory_symlink("../..", content / "sub" / "upup");
  const CliResult r = run_cli(train(dir_ / "run", 1));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto config = nlohmann::json::parse(read_file(dir_.path() / "run/config.json"));
  EXPECT_EQ(config.at("content_images").get<int>(), 2);
}

// A run folder inside the content folder: its samples are not read as photos (so --resume still fits the data
// order), and a run folder given as --content is refused.
TEST_F(CliFiles, RunFoldersAreNeverReadAsContent) {
  const std::string run = dir_ / "content/run";
  std::vector<std::string> args = train(run, 2);
  std::replace(args.begin(), args.end(), std::string("0"), std::string("1"));  // --sample-every 1
  const CliResult first = run_cli(args);
  ASSERT_EQ(first.status, 0) << first.err;
  ASSERT_TRUE(fs::exists(fs::path(run) / "samples/step_000001.png"));
  EXPECT_EQ(nlohmann::json::parse(read_file(fs::path(run) / "config.json")).at("content_images").get<int>(), 2);
  const CliResult resumed = run_cli({"train", "--resume", "--out", run, "--steps", "3", "--device", "cpu"});
  EXPECT_EQ(resumed.status, 0) << resumed.err;
  expect_cli_error(run_cli(train(dir_ / "run2", 1, run)), "a run folder");
  EXPECT_FALSE(fs::exists(dir_.path() / "run2"));
}

// ---- point 7: resume -----------------------------------------------------------------------------------------------

// Relative inputs are stored absolute, so --resume works from anywhere; moved inputs are re-pointed with --content
// and --style, and config.json follows (its steps, the new paths), repaired if damaged.
TEST_F(CliFiles, ResumeStoresAbsoluteInputsAndReachesMovedOnes) {
  const std::string run = dir_ / "run";
  const std::string content = fs::relative(dir_.path() / "content", fs::current_path()).string();
  ASSERT_TRUE(fs::path(content).is_relative());
  ASSERT_EQ(run_cli(train(run, 1, content)).status, 0);
  const auto config = nlohmann::json::parse(read_file(fs::path(run) / "config.json"));
  EXPECT_EQ(config.at("content_dir").get<std::string>(), (dir_.path() / "content").string());

  fs::rename(dir_.path() / "style.png", dir_.path() / "moved_style.png");
  fs::rename(dir_.path() / "content", dir_.path() / "moved_content");
  expect_cli_error(run_cli({"train", "--resume", "--out", run, "--steps", "2", "--device", "cpu"}), "style.png");
  std::ofstream(fs::path(run) / "config.json") << "{ damaged";
  const CliResult r = run_cli({"train", "--resume", "--out", run, "--steps", "2", "--device", "cpu", "--content",
                               dir_ / "moved_content", "--style", dir_ / "moved_style.png"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto updated = nlohmann::json::parse(read_file(fs::path(run) / "config.json"));
  EXPECT_EQ(updated.at("steps").get<long long>(), 2);
  EXPECT_EQ(updated.at("style").get<std::string>(), dir_ / "moved_style.png");
  EXPECT_EQ(updated.at("content_dir").get<std::string>(), dir_ / "moved_content");

  // A re-pointed content folder with other photos does not fit the saved data order.
  fs::create_directories(dir_.path() / "three");
  for (int i = 0; i < 3; ++i) fs::copy_file(dir_ / "photo.png", dir_ / ("three/" + std::to_string(i) + ".png"));
  expect_cli_error(
      run_cli({"train", "--resume", "--out", run, "--steps", "3", "--device", "cpu", "--content", dir_ / "three"}),
      "data order");
}

TEST_F(CliFiles, ResumeRefusesStepsAtOrBelowTheCheckpointAndNamesIgnoredOptions) {
  const std::string run = dir_ / "run";
  ASSERT_EQ(run_cli(train(run, 2)).status, 0);
  const auto before = snapshot(run);
  for (const char* steps : {"2", "1"}) {
    SCOPED_TRACE(steps);
    expect_cli_error(run_cli({"train", "--resume", "--out", run, "--steps", steps, "--device", "cpu"}),
                     "already at step 2");
  }
  EXPECT_TRUE(snapshot(run) == before) << "a refused resume changed the run folder";
  const CliResult r =
      run_cli({"train", "--resume", "--out", run, "--steps", "3", "--device", "cpu", "--size", "64", "--lr-g", "0.5"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("ignored with --resume: --size, --lr-g"), std::string::npos) << r.err;
}

}  // namespace
