// Runs the real gramgan binary (GRAMGAN_BINARY) in a child process: to completion with its output captured
// (run_cli), or in the background for tests that signal or kill it (spawn_cli, wait_cli); checks its error contract
// (expect_cli_error) and snapshots a folder to show a refused command left it alone.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "temp_dir.h"

extern char** environ;

namespace gramgan::test {

struct CliResult {
  int status = -1;  // the exit status; 128 + signal if the binary was killed
  std::string out, err;
};

// Starts `argv_storage` (a program and its arguments): stdin from /dev/null, stdout and stderr to the given files.
// Returns the pid, or -1 (with a test failure) if it could not start.
inline pid_t spawn_program(std::vector<std::string> argv_storage, const std::string& out_path,
                           const std::string& err_path) {
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    ADD_FAILURE() << "posix_spawn " << argv[0] << " failed: " << spawned;
    return -1;
  }
  return pid;
}

// Starts gramgan with `args`, as spawn_program does.
inline pid_t spawn_cli(const std::vector<std::string>& args, const std::string& out_path, const std::string& err_path) {
  std::vector<std::string> argv = {GRAMGAN_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return spawn_program(std::move(argv), out_path, err_path);
}

// Waits for `pid`: its exit status, or 128 + the signal that ended it.
inline int wait_cli(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs gramgan with `args` to completion, stdout and stderr captured separately. With `address_space_kib` the
// process runs under that limit of virtual memory (the shell's ulimit -v), so allocations can be made to fail.
inline CliResult run_cli(const std::vector<std::string>& args, long address_space_kib = 0) {
  const TempDir io("cli_io");
  const std::string out_path = io / "stdout", err_path = io / "stderr";
  CliResult result;
  std::vector<std::string> argv = {GRAMGAN_BINARY};
  if (address_space_kib > 0)
    argv = {"/bin/sh", "-c", "ulimit -v " + std::to_string(address_space_kib) + " && exec \"$0\" \"$@\"",
            GRAMGAN_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = spawn_program(std::move(argv), out_path, err_path);
  if (pid < 0) return result;
  result.status = wait_cli(pid);
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

// The CLI's error contract: exit status 2, and stderr is one line, "gramgan: error: " then a message holding
// every fragment.
inline void expect_cli_error(const CliResult& r, const std::vector<std::string>& fragments) {
  EXPECT_EQ(r.status, 2) << "stderr: " << r.err;
  EXPECT_EQ(r.err.rfind("gramgan: error: ", 0), 0u) << "stderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  EXPECT_FALSE(r.err.empty() || r.err.back() != '\n') << "stderr: " << r.err;
  for (const std::string& fragment : fragments)
    EXPECT_NE(r.err.find(fragment), std::string::npos) << "expected '" << fragment << "' in stderr: " << r.err;
}
inline void expect_cli_error(const CliResult& r, const std::string& fragment) {
  expect_cli_error(r, std::vector<std::string>{fragment});
}

// Every regular file under `dir` and its bytes, to show a refused command changed nothing.
inline std::map<std::string, std::string> snapshot(const std::filesystem::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) files[std::filesystem::relative(entry.path(), dir).string()] = read_file(entry.path());
  return files;
}

}  // namespace gramgan::test
