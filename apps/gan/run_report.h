// `gramgan report`: a run folder read back (config.json, log.csv, the sample strips, a non-finite stop) and turned
// into one self-contained HTML page: loss curves, D(real)/D(fake), gradient norms, seconds per step, the
// configuration, the samples over time and a health panel. Reading never writes, locks or truncates anything in
// the folder, so a run in progress goes on undisturbed: a row the trainer is still appending is left out.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace gramgan::gan {

// log.csv read back, column by column. An empty cell (no discriminator: the D columns) reads as NaN.
struct RunLog {
  std::vector<std::string> names;             // the header's column names, in file order
  std::vector<std::vector<double>> columns;   // columns[c][row]
  std::vector<std::string> non_finite_cells;  // "step N: column" for each logged inf or nan (not empty cells)
  std::size_t rows() const { return columns.empty() ? 0 : columns[0].size(); }
  // The column called `name`, or nullptr when the log has none.
  const std::vector<double>* column(const std::string& name) const;
};

struct SampleStrip {
  long long step = 0;
  std::string path;  // samples/step_NNNNNN.png
};

// What a run folder holds, as far as the report needs it.
struct RunContents {
  std::string dir;
  std::string config_json;  // config.json's text; empty when the run has none (yet)
  RunLog log;
  std::vector<SampleStrip> samples;  // sorted by step
  std::string non_finite_stop;       // non_finite_stop.txt's text: what stopped the run; empty when it did not stop so
  std::string holder;                // the process training in the folder now ("" when none)
  std::vector<std::string> notes;    // what could not be read and was left out (a damaged config, a short row)
};

// Reads the run in `dir`. Throws gramgan::Error (one line, naming the folder) when `dir` is not a run folder.
RunContents read_run(const std::string& dir);

// One line of the health panel: a known failure pattern of GAN training, looked for in the log.
struct HealthCheck {
  enum class Verdict { ok, flagged, not_applicable };
  std::string title;  // what is looked for
  Verdict verdict = Verdict::ok;
  std::string detail;  // the evidence (steps, values), or why the check does not apply
};

// The health checks, in the panel's order: the D loss near 0 for many steps, the D(real) - D(fake) gap
// saturating, one weighted term dominating G's total, a non-finite stop.
std::vector<HealthCheck> check_health(const RunContents& run);

// The report page. At most `max_samples` sample strips are embedded (evenly spaced, the first and the last
// included); curves longer than a few thousand steps are averaged into buckets for drawing (the health checks
// see every row).
std::string render_report(const RunContents& run, std::size_t max_samples);

}  // namespace gramgan::gan
