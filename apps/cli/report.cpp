// gramgan report: one self-contained HTML page on a training run (apps/gan/run_report.h), also while it runs.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/cli/cli_support.h"
#include "apps/cli/commands.h"
#include "apps/cli/outputs.h"
#include "apps/gan/run_report.h"
#include "engine/io/atomic_file.h"

namespace gramgan::cli {
namespace {
namespace fs = std::filesystem;

struct ReportArgs {
  std::string run, out;
  long long max_samples = 16;
};

int run_report(const ReportArgs& args) {
  gan::RunContents run = gan::read_run(args.run);
  const std::string out = args.out.empty() ? (fs::path(args.run) / "report.html").string() : args.out;
  // The page must not replace anything the run wrote: its files (config, log, checkpoints, events, the lock, a
  // non-finite stop), and its sample strips. An earlier report.html is ours to replace.
  std::vector<std::string> inputs;
  std::error_code ec;
  for (fs::directory_iterator it(args.run, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename() != "report.html" && !it->is_directory(ec)) inputs.push_back(it->path().string());
  for (const gan::SampleStrip& strip : run.samples) inputs.push_back(strip.path);
  check_file_output(out, inputs);

  const std::string html = gan::render_report(run, std::size_t(args.max_samples));
  make_parent_folders(out);
  AtomicFile file(out);
  file.write(html.data(), html.size());
  file.commit();

  std::size_t flagged = 0;
  std::string titles;
  for (const gan::HealthCheck& check : gan::check_health(run))
    if (check.verdict == gan::HealthCheck::Verdict::flagged) {
      ++flagged;
      titles += (titles.empty() ? " (" : "; ") + check.title;
    }
  if (flagged) titles += ")";
  std::printf("%s: %zu steps, %zu sample strips, %.1f MiB; health: %zu flagged%s\n", out.c_str(), run.log.rows(),
              run.samples.size(), double(html.size()) / double(1 << 20), flagged, titles.c_str());
  return 0;
}

}  // namespace

Command add_report_command(CLI::App& app) {
  auto args = std::make_shared<ReportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "report",
      "Write one self-contained HTML page on a training run: loss curves, D(real)/D(fake), gradient norms, seconds "
      "per step, the configuration, the sample strips over time and a health panel. Reads a run in progress "
      "without disturbing it; the page needs no network and no other file");
  cmd->add_option("RUN", args->run, "The run folder (train --out)")->check(value_option())->required();
  cmd->add_option("--out", args->out, "The HTML file to write (default: RUN/report.html)")->check(value_option());
  cmd->add_option("--max-samples", args->max_samples,
                  "Sample strips to embed, evenly spaced from the first to the last (0: none)")
      ->check(integer_option(0, 100000))
      ->capture_default_str();
  return {cmd, [args] { return run_report(*args); }};
}

}  // namespace gramgan::cli
