// The CLI's subcommands. Each add_*_command registers one subcommand and its options on the top-level app and
// returns what main runs when that subcommand is the one given; a new subcommand is one more such function.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace gramgan::cli {

struct Command {
  CLI::App* app;             // the subcommand, to ask whether it was given
  std::function<int()> run;  // returns the exit status
};

Command add_info_command(CLI::App& app);
Command add_gradcheck_command(CLI::App& app);
Command add_train_command(CLI::App& app);
Command add_stylize_command(CLI::App& app);
Command add_transfer_command(CLI::App& app);
Command add_report_command(CLI::App& app);

}  // namespace gramgan::cli
