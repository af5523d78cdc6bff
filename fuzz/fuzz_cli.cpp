// libFuzzer target: the gramgan command line, parsed by the same CLI::App as the binary (apps/cli/cli_app.h) but never
// run. The input is the argument list, one argument per NUL-separated token (at most kMaxArgs of at most
// kMaxArgBytes each; argv[0] is "gramgan"). Expected outcomes: a clean parse, CLI::ParseError (bad arguments,
// --help, --version) or gramgan::Error; anything else is a finding.
#include <CLI/CLI.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "apps/cli/cli_app.h"
#include "engine/error.h"

namespace {

constexpr std::size_t kMaxArgs = 64;
constexpr std::size_t kMaxArgBytes = 256;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> args = {"gramgan"};
  const auto* text = reinterpret_cast<const char*>(data);
  for (std::size_t begin = 0; begin < size && args.size() <= kMaxArgs;) {
    std::size_t end = begin;
    while (end < size && text[end] != '\0') ++end;
    args.emplace_back(text + begin, std::min(end - begin, kMaxArgBytes));
    begin = end + 1;
  }
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  std::vector<gramgan::cli::Command> commands;
  const std::unique_ptr<CLI::App> app = gramgan::cli::make_app(commands);
  try {
    app->parse(static_cast<int>(args.size()), argv.data());
  } catch (const CLI::ParseError&) {
  } catch (const gramgan::Error&) {
  }
  return 0;
}
