// gramgan: the command-line entry point. Subcommands live in their own files (apps/cli/commands.h); main parses,
// runs the one given, and is the only place that turns exceptions into a message and an exit status (one line on
// stderr, "gramgan: error: ..."):
//   2  the user can fix it: bad arguments (CLI11), gramgan::Error (bad input, out of device memory, ...), a
//      filesystem error on a path the user named, host memory exhausted (std::bad_alloc);
//   1  anything else, a fault of gramgan's, said to be one.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "apps/cli/cli_app.h"
#include "engine/allocator.h"
#include "engine/error.h"

namespace {

struct Failure {
  std::string message;
  int status;
};

// The one mapping from an exception to what the user reads. Multi-line texts become one line.
Failure describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const CLI::ParseError& e) {
    return {e.what(), 2};
  } catch (const gramgan::Error& e) {
    return {e.what(), 2};
  } catch (const std::filesystem::filesystem_error& e) {
    // "filesystem error: cannot create directories: Not a directory [out/x]" -> "out/x: Not a directory ...".
    std::string paths = e.path1().string();
    if (!e.path2().empty()) paths += " -> " + e.path2().string();
    return {paths + ": " + e.code().message() +
                " (check that the path is a writable folder or file on a disk with free space, or choose another)",
            2};
  } catch (const std::bad_alloc&) {
    // Host memory (images, host copies) ran out outside the device allocator, which names its phase itself.
    return {"out of host memory; " + gramgan::out_of_memory_advice(), 2};
  } catch (const std::exception& e) {
    return {std::string("internal error (please report it): ") + e.what(), 1};
  } catch (...) {
    return {"internal error (please report it): unknown exception", 1};
  }
}

int fail(std::string message, int status) {
  for (char& c : message)
    if (c == '\n' || c == '\r') c = ' ';
  std::fprintf(stderr, "gramgan: error: %s\n", message.c_str());
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<gramgan::cli::Command> commands;
  const std::unique_ptr<CLI::App> app = gramgan::cli::make_app(commands);
  try {
    app->parse(argc, argv);
    for (const auto& command : commands)
      if (command.app->parsed()) return command.run();
    std::string names;
    for (const auto& command : commands) names += (names.empty() ? "" : ", ") + command.app->get_name();
    return fail("a subcommand is required (" + names + "); see gramgan --help", 2);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app->exit(e);  // --help, --version
    const Failure failure = describe(std::current_exception());
    return fail(failure.message, failure.status);
  } catch (...) {
    const Failure failure = describe(std::current_exception());
    return fail(failure.message, failure.status);
  }
}
