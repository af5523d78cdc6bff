// The CLI's subcommands. Each add_*_command registers one subcommand and its options on the top-level app and
// returns what main runs when that subcommand is the one given; a new subcommand is one more such function.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <limits>

namespace gramgan::cli {

// Integer bounds for options. CLI11's PositiveNumber and NonNegativeNumber check doubles and refuse a value as "not
// in range 0.000000 to 179769313486231570814527...", which reads as if 0 were allowed.
inline const CLI::Range kPositive(1, std::numeric_limits<int>::max(), "POSITIVE");
inline const CLI::Range kNonNegative(0LL, std::numeric_limits<long long>::max(), "NONNEGATIVE");

struct Command {
  CLI::App* app;             // the subcommand, to ask whether it was given
  std::function<int()> run;  // returns the exit status
};

Command add_info_command(CLI::App& app);
Command add_gradcheck_command(CLI::App& app);
Command add_train_command(CLI::App& app);
Command add_stylize_command(CLI::App& app);
Command add_transfer_command(CLI::App& app);

}  // namespace gramgan::cli
