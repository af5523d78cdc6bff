// gramgan: the command-line entry point. Subcommands live in their own files (apps/cli/commands.h); main parses,
// runs the one given, and is the only place that turns exceptions into a message and an exit status:
// 2 for errors the user can fix (bad arguments, gramgan::Error), 1 for anything else.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "apps/cli/cli_app.h"
#include "engine/error.h"

namespace {

int fail(const char* what, int status) {
  std::fprintf(stderr, "gramgan: error: %s\n", what);
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
    return fail(("a subcommand is required (" + names + "); see gramgan --help").c_str(), 2);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app->exit(e);  // --help, --version
    return fail(e.what(), 2);
  } catch (const gramgan::Error& e) {
    return fail(e.what(), 2);
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  }
}
