// The gramgan command-line app: the top-level CLI::App with every subcommand registered. main parses and runs it;
// the CLI fuzz target (fuzz/fuzz_cli.cpp) builds the same app and only parses.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <vector>

#include "apps/cli/commands.h"

namespace gramgan::cli {

// Fills `commands` with one entry per subcommand, in the order they are listed in --help. The entries point into
// the returned app, which must outlive them.
std::unique_ptr<CLI::App> make_app(std::vector<Command>& commands);

}  // namespace gramgan::cli
