#include "apps/gan/run_report.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "apps/gan/run_folder.h"
#include "engine/error.h"

namespace gramgan::gan {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Health thresholds. LSGAN's D loss is mean((D(y) - 1)^2) + mean(D(G(x))^2): 0.5 when D cannot tell (scores 0.5),
// 0 when it separates perfectly. Its targets are 1 (real) and 0 (fake), so a D(real) - D(fake) gap of 0.9 is a D
// that wins almost outright.
constexpr double kDLossNearZero = 0.05;
constexpr double kGapSaturated = 0.9;
constexpr double kDominantShare = 0.9;
// "Many steps": a stretch of at least this many rows in a row, and at least a tenth of the run.
constexpr std::size_t kMinStretch = 20;
// Curves longer than this are averaged into this many buckets for drawing.
constexpr std::size_t kMaxPlottedPoints = 2500;
// The sample strips embedded in one page stay under this many bytes (fewer strips when they are large).
constexpr std::uintmax_t kSampleBudgetBytes = 32u << 20;

// The file's bytes; throws gramgan::Error naming it when it cannot be read (a report from a log it could not read
// would show an empty run as if it were one).
std::string read_file(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error(path.string() + ": cannot read: it is a folder, not a file");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad())
    throw Error(path.string() + ": cannot read: " + (errno ? std::strerror(errno) : "input/output error"));
  return text.str();
}

// log.csv as the trainer appends it: a row is complete once its newline is written; the last, unterminated row of a
// run in progress is left out, as is a row with the wrong number of fields (a kill mid-append).
RunLog parse_log(const std::string& text, const std::string& path, std::vector<std::string>& notes) {
  RunLog log;
  std::size_t line_start = 0, line_number = 0, short_rows = 0;
  while (line_start < text.size()) {
    const std::size_t end = text.find('\n', line_start);
    if (end == std::string::npos) break;  // still being written
    std::string line = text.substr(line_start, end - line_start);
    line_start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line_number == 1) {
      log.names = csv_fields(line);
      log.columns.resize(log.names.size());
      continue;
    }
    const std::vector<std::string> fields = csv_fields(line);
    if (fields.size() != log.names.size() || log.names.empty()) {
      ++short_rows;
      continue;
    }
    for (std::size_t c = 0; c < fields.size(); ++c) {
      const std::string& cell = fields[c];
      char* parse_end = nullptr;
      double value = cell.empty() ? std::nan("") : std::strtod(cell.c_str(), &parse_end);
      if (!cell.empty() && parse_end != cell.c_str() + cell.size()) value = std::nan("");
      if (!cell.empty() && !std::isfinite(value))
        log.non_finite_cells.push_back("step " + fields[0] + ": " + log.names[c] + " = " + cell);
      log.columns[c].push_back(value);
    }
  }
  if (short_rows > 0)
    notes.push_back(path + ": " + std::to_string(short_rows) + " row" + (short_rows == 1 ? "" : "s") +
                    " with the wrong number of fields left out");
  return log;
}

std::vector<SampleStrip> list_samples(const fs::path& folder) {
  std::vector<SampleStrip> samples;
  std::error_code ec;
  static const std::regex name("step_([0-9]+)\\.png");
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    std::smatch match;
    const std::string file = it->path().filename().string();
    if (std::regex_match(file, match, name) && it->is_regular_file(ec))
      samples.push_back({std::stoll(match[1].str()), it->path().string()});
  }
  std::sort(samples.begin(), samples.end(), [](const auto& a, const auto& b) { return a.step < b.step; });
  return samples;
}

// The longest run of consecutive rows where `holds` is true.
struct Stretch {
  std::size_t first = 0, length = 0;
};
template <typename Predicate>
Stretch longest_stretch(std::size_t rows, Predicate holds) {
  Stretch best, current;
  for (std::size_t r = 0; r < rows; ++r) {
    if (!holds(r)) {
      current.length = 0;
      continue;
    }
    if (current.length++ == 0) current.first = r;
    if (current.length > best.length) best = current;
  }
  return best;
}

// "1 step", "20 steps".
std::string steps_text(std::size_t n) { return std::to_string(n) + (n == 1 ? " step" : " steps"); }

std::string number(double v, int digits = 3) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.*g", digits, v);
  return buffer;
}

std::string percent(double share) { return number(100 * share, 3) + "%"; }

std::string step_range(const std::vector<double>& steps, std::size_t first, std::size_t length) {
  return "steps " + number(steps[first], 12) + "-" + number(steps[first + length - 1], 12);
}

bool has_values(const std::vector<double>* column) {
  return column && std::any_of(column->begin(), column->end(), [](double v) { return !std::isnan(v); });
}

using Verdict = HealthCheck::Verdict;

HealthCheck check_d_loss(const RunLog& log, const std::vector<double>& steps, std::size_t window) {
  HealthCheck check{"Discriminator loss near 0 for many steps", Verdict::ok, ""};
  const std::vector<double>* d_loss = log.column("d_loss_raw");
  if (!has_values(d_loss)) return {check.title, Verdict::not_applicable, "no discriminator in this run"};
  const Stretch s = longest_stretch(log.rows(), [&](std::size_t r) { return (*d_loss)[r] < kDLossNearZero; });
  if (s.length >= window) {
    check.verdict = Verdict::flagged;
    check.detail = "the D loss stayed below " + number(kDLossNearZero) + " for " + std::to_string(s.length) +
                   " steps in a row (" + step_range(steps, s.first, s.length) +
                   "): D tells real from fake almost perfectly, so G's adversarial gradient says little. Try a "
                   "lower --lr-d or a smaller discriminator.";
  } else {
    check.detail = "longest stretch below " + number(kDLossNearZero) + ": " + steps_text(s.length) + " (flagged from " +
                   std::to_string(window) + ")";
  }
  return check;
}

HealthCheck check_gap(const RunLog& log, const std::vector<double>& steps, std::size_t window) {
  HealthCheck check{"D(real) - D(fake) gap saturating", Verdict::ok, ""};
  const std::vector<double>*real = log.column("d_real_mean"), *fake = log.column("d_fake_mean");
  if (!has_values(real) || !has_values(fake))
    return {check.title, Verdict::not_applicable, "no discriminator in this run"};
  const auto gap = [&](std::size_t r) { return (*real)[r] - (*fake)[r]; };
  const Stretch s = longest_stretch(log.rows(), [&](std::size_t r) { return gap(r) >= kGapSaturated; });
  if (s.length >= window) {
    check.verdict = Verdict::flagged;
    check.detail = "D(real) - D(fake) stayed at or above " + number(kGapSaturated) + " (the targets are 1 and 0) for " +
                   std::to_string(s.length) + " steps in a row (" + step_range(steps, s.first, s.length) +
                   "): the discriminator has won; G's samples may be collapsing or far from the paintings.";
  } else {
    const std::size_t last = log.rows() - 1;
    check.detail = "last gap " + number(gap(last)) + "; longest stretch at or above " + number(kGapSaturated) + ": " +
                   steps_text(s.length) + " (flagged from " + std::to_string(window) + ")";
  }
  return check;
}

HealthCheck check_dominant_term(const RunLog& log, const std::vector<double>& steps) {
  HealthCheck check{"One term dominating G's weighted total", Verdict::ok, ""};
  const std::vector<double>* total = log.column("g_total");
  const char* names[] = {"content", "style", "adv_g", "tv"};
  // Over the last quarter of the run: what G is optimising now.
  const std::size_t rows = log.rows(), first = rows - std::max<std::size_t>(1, rows / 4);
  std::vector<std::pair<std::string, double>> shares;
  double sum_total = 0;
  for (std::size_t r = first; total && r < rows; ++r) sum_total += (*total)[r];
  for (const char* name : names) {
    const std::vector<double>* weighted = log.column(std::string(name) + "_weighted");
    if (!weighted || std::all_of(weighted->begin(), weighted->end(), [](double v) { return v == 0; })) continue;
    double sum = 0;
    for (std::size_t r = first; r < rows; ++r) sum += (*weighted)[r];
    shares.emplace_back(name, sum / sum_total);
  }
  if (!total || shares.size() < 2 || !(sum_total > 0))
    return {check.title, Verdict::not_applicable, "fewer than two loss terms are active"};
  std::string listed;
  for (const auto& [name, share] : shares) listed += (listed.empty() ? "" : ", ") + name + " " + percent(share);
  const auto top =
      std::max_element(shares.begin(), shares.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  const std::string over = " over " + step_range(steps, first, rows - first);
  if (top->second > kDominantShare) {
    check.verdict = Verdict::flagged;
    check.detail = top->first + " makes " + percent(top->second) + " of the weighted total" + over + " (" + listed +
                   "): the other terms barely steer G. Lower --lambda-" +
                   (top->first == "adv_g" ? std::string("adv") : top->first) + " or raise the others.";
  } else {
    check.detail = "shares of the weighted total" + over + ": " + listed;
  }
  return check;
}

HealthCheck check_non_finite(const RunContents& run) {
  HealthCheck check{"Non-finite stop", Verdict::ok, "every logged value is finite"};
  if (!run.non_finite_stop.empty()) {
    check.verdict = Verdict::flagged;
    check.detail = run.non_finite_stop;
  } else if (!run.log.non_finite_cells.empty()) {
    check.verdict = Verdict::flagged;
    check.detail = std::to_string(run.log.non_finite_cells.size()) +
                   " logged values are not finite, the first: " + run.log.non_finite_cells.front();
  }
  return check;
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// JSON that can sit inside <script>: no "</script>" or "<!--" can form.
std::string script_safe(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace), out;
  for (const char c : text) {
    if (c == '<')
      out += "\\u003c";
    else if (c == '>')
      out += "\\u003e";
    else if (c == '&')
      out += "\\u0026";
    else
      out += c;
  }
  return out;
}

std::string base64(const std::string& bytes) {
  static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t group = 0;
    for (std::size_t k = 0; k < 3; ++k) group = group << 8 | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    for (std::size_t k = 0; k < 4; ++k) out += k <= n ? digits[(group >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

// The curves to draw: every column, averaged into buckets when the run is long.
json plotted_columns(const RunLog& log) {
  const std::size_t rows = log.rows(), buckets = std::min(rows, kMaxPlottedPoints);
  json columns = json::object();
  for (std::size_t c = 0; c < log.names.size(); ++c) {
    json values = json::array();
    for (std::size_t b = 0; b < buckets; ++b) {
      const std::size_t begin = b * rows / buckets, end = (b + 1) * rows / buckets;
      double sum = 0;
      std::size_t n = 0;
      for (std::size_t r = begin; r < end; ++r)
        if (std::isfinite(log.columns[c][r])) sum += log.columns[c][r], ++n;
      values.push_back(n ? json(sum / double(n)) : json(nullptr));
    }
    columns[log.names[c]] = std::move(values);
  }
  return columns;
}

// config.json as rows of a table: nested keys joined with '.', lists written as JSON.
void flatten(const json& value, const std::string& prefix, std::vector<std::pair<std::string, std::string>>& rows) {
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) flatten(item, prefix.empty() ? key : prefix + "." + key, rows);
  } else {
    rows.emplace_back(prefix, value.is_string() ? value.get<std::string>() : value.dump());
  }
}

std::string config_panel(const RunContents& run) {
  if (run.config_json.empty()) return "<p>This run has no config.json yet.</p>";
  std::vector<std::pair<std::string, std::string>> rows;
  try {
    flatten(json::parse(run.config_json), "", rows);
  } catch (const json::exception&) {
    return "<p>config.json is not valid JSON; its text:</p><pre>" + html_escape(run.config_json) + "</pre>";
  }
  std::string html = "<table class=\"config\">";
  for (const auto& [key, value] : rows)
    html += "<tr><th>" + html_escape(key) + "</th><td>" + html_escape(value) + "</td></tr>";
  return html + "</table>";
}

std::string health_panel(const std::vector<HealthCheck>& checks) {
  std::string html = "<ul class=\"health\">";
  for (const HealthCheck& check : checks) {
    const char* verdict = check.verdict == Verdict::flagged ? "flagged" : check.verdict == Verdict::ok ? "ok" : "n/a";
    const char* css = check.verdict == Verdict::flagged ? "flagged" : check.verdict == Verdict::ok ? "ok" : "na";
    html += "<li class=\"" + std::string(css) + "\"><span class=\"verdict\">" + verdict + "</span><b>" +
            html_escape(check.title) + "</b><br>" + html_escape(check.detail) + "</li>";
  }
  return html + "</ul>";
}

// Evenly spaced strips, the first and the last included, as many as `max_samples` and the byte budget allow.
std::string samples_panel(const RunContents& run, std::size_t max_samples, std::vector<std::string>& notes) {
  const std::vector<SampleStrip>& all = run.samples;
  if (all.empty()) return "<p>No sample strips yet (samples/ is empty).</p>";
  if (max_samples == 0) return "<p>Sample strips left out (--max-samples 0).</p>";
  std::vector<std::uintmax_t> sizes;
  for (const SampleStrip& s : all) {
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(s.path, ec);
    sizes.push_back(ec ? 0 : size);
  }
  std::size_t count = std::min(max_samples, all.size());
  std::vector<std::size_t> chosen;
  for (;;) {
    chosen.clear();
    std::uintmax_t bytes = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t index = count == 1 ? all.size() - 1 : i * (all.size() - 1) / (count - 1);
      chosen.push_back(index);
      bytes += sizes[index];
    }
    if (bytes <= kSampleBudgetBytes || count == 1) break;
    count = count * 3 / 4;
  }
  std::string html;
  if (chosen.size() < all.size())
    html += "<p>" + std::to_string(chosen.size()) + " of " + std::to_string(all.size()) +
            " strips, evenly spaced (--max-samples, and at most 32 MiB of images per page).</p>";
  html += "<p class=\"legend\">Each strip: content crop, G's output, style crop.</p>";
  for (const std::size_t index : chosen) {
    std::string bytes;
    try {
      bytes = read_file(all[index].path);
    } catch (const Error&) {
      // Left out like a damaged strip, below: one picture is not worth failing the page over.
    }
    if (bytes.size() < 8 || bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) {
      notes.push_back(all[index].path + ": not a readable PNG, left out");
      continue;
    }
    html += "<figure><img alt=\"step " + std::to_string(all[index].step) + "\" src=\"data:image/png;base64," +
            base64(bytes) + "\"><figcaption>step " + std::to_string(all[index].step) + "</figcaption></figure>";
  }
  return html;
}

// The page's script: draws every chart from the embedded data as inline SVG (no network, no library).
constexpr const char* kScript = R"JS(
const RUN = JSON.parse(document.getElementById('run-data').textContent);
const SVGNS = 'http://www.w3.org/2000/svg';
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
function el(name, attrs, parent) {
  const node = document.createElementNS(SVGNS, name);
  for (const k in attrs) node.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(node);
  return node;
}
function fmt(v) {
  const a = Math.abs(v);
  return (a !== 0 && (a < 1e-3 || a >= 1e5)) ? v.toExponential(1) : String(+v.toPrecision(3));
}
function ticks(lo, hi, log) {
  const out = [];
  if (log) {
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) if (e >= lo - 1e-9 && e <= hi + 1e-9) out.push(e);
    if (out.length < 2) { out.length = 0; out.push(lo, hi); }
    return out;
  }
  const raw = (hi - lo) / 5, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw);
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(t);
  return out;
}
function ema(ys, weight) {
  let last = null;
  return ys.map(y => (y === null ? null : (last = last === null ? y : weight * last + (1 - weight) * y)));
}
// One chart: `series` is [{name, column}] of RUN.columns; options.log, options.smooth.
function draw(svg, series, options) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const W = 860, H = 280, L = 64, R = 170, T = 12, B = 34;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const xs = RUN.columns.step || [];
  const scale = y => (y === null ? null : options.log ? Math.log10(y) : y);
  const lines = series.filter(s => RUN.columns[s.column]).map((s, i) => {
    const raw = RUN.columns[s.column].map(y => (y === null || (options.log && !(y > 0)) ? null : y));
    // Smoothed: the EMA drawn over the raw curve, which stays visible but faint (as TensorBoard draws it).
    return {name: s.name, color: COLORS[i % COLORS.length], raw: raw.map(scale),
            ys: options.smooth ? ema(raw, 0.9).map(scale) : raw.map(scale)};
  });
  const finite = lines.flatMap(l => l.raw).filter(y => y !== null && isFinite(y));
  if (xs.length === 0 || finite.length === 0) {
    el('text', {x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty'}, svg).textContent =
        options.log ? 'no positive values to draw on a log scale' : 'no values logged yet';
    return;
  }
  let lo = Math.min(...finite), hi = Math.max(...finite);
  if (hi - lo < 1e-12) { lo -= 0.5; hi += 0.5; }
  const x0 = xs[0], x1 = xs.length > 1 ? xs[xs.length - 1] : xs[0] + 1;
  const px = x => L + (x - x0) / (x1 - x0 || 1) * (W - L - R), py = y => T + (hi - y) / (hi - lo) * (H - T - B);
  for (const t of ticks(lo, hi, options.log)) {
    el('line', {x1: L, x2: W - R, y1: py(t), y2: py(t), class: 'grid'}, svg);
    el('text', {x: L - 6, y: py(t) + 4, 'text-anchor': 'end', class: 'tick'}, svg).textContent =
        options.log ? fmt(Math.pow(10, t)) : fmt(t);
  }
  for (const t of ticks(x0, x1, false)) {
    el('line', {x1: px(t), x2: px(t), y1: T, y2: H - B, class: 'grid'}, svg);
    el('text', {x: px(t), y: H - B + 16, 'text-anchor': 'middle', class: 'tick'}, svg).textContent = fmt(t);
  }
  el('text', {x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle', class: 'axis'}, svg).textContent = 'step';
  const curve = ys => {
    let d = '', pen = false;
    ys.forEach((y, k) => {
      if (y === null || !isFinite(y)) { pen = false; return; }
      d += (pen ? 'L' : 'M') + px(xs[k]).toFixed(1) + ' ' + py(y).toFixed(1);
      pen = true;
    });
    return d;
  };
  lines.forEach((line, i) => {
    if (options.smooth) el('path', {d: curve(line.raw), stroke: line.color, class: 'curve raw'}, svg);
    const path = el('path', {d: curve(line.ys), stroke: line.color, class: 'curve'}, svg);
    el('title', {}, path).textContent = line.name;
    el('rect', {x: W - R + 12, y: T + 4 + 18 * i, width: 12, height: 3, fill: line.color}, svg);
    el('text', {x: W - R + 30, y: T + 9 + 18 * i, class: 'tick'}, svg).textContent = line.name;
  });
}
const CHARTS = {
  'chart-losses': form => {
    const kind = form.querySelector('input[name=kind]:checked').value;
    const terms = ['content', 'style', 'adv_g', 'tv'].map(t => ({name: t + ' (' + kind + ')', column: t + '_' + kind}));
    if (kind === 'weighted') terms.push({name: 'G total', column: 'g_total'});
    return terms;
  },
  'chart-discriminator': () => [{name: 'mean D(real)', column: 'd_real_mean'}, {name: 'mean D(fake)', column: 'd_fake_mean'},
                                {name: 'D loss (raw)', column: 'd_loss_raw'}],
  'chart-gradients': () => [{name: '|grad G|', column: 'g_grad_norm'}, {name: '|grad D|', column: 'd_grad_norm'}],
  'chart-timing': () => [{name: 'seconds per step', column: 'step_seconds'}],
};
for (const id in CHARTS) {
  const svg = document.getElementById(id), form = svg.parentNode.querySelector('form');
  const redraw = () => draw(svg, CHARTS[id](form), {log: form.elements.log.checked, smooth: form.elements.smooth.checked});
  form.addEventListener('change', redraw);
  redraw();
}
)JS";

constexpr const char* kStyle = R"CSS(
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 16px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 0 0 8px; }
section { border: 1px solid #ddd; border-radius: 6px; padding: 12px 16px; margin: 12px 0; background: #fff; }
.status { color: #555; margin: 0; }
svg.chart { width: 100%; height: auto; display: block; }
svg .grid { stroke: #eee; } svg .tick { font-size: 11px; fill: #555; } svg .axis { font-size: 12px; fill: #333; }
svg .curve { fill: none; stroke-width: 1.5; } svg .raw { stroke-opacity: 0.25; stroke-width: 1; } svg .empty { fill: #888; font-size: 14px; }
form { font-size: 13px; color: #444; margin-bottom: 4px; } form label { margin-right: 12px; }
table.config { border-collapse: collapse; font-size: 13px; } table.config th { text-align: left; padding-right: 16px; }
table.config th, table.config td { border-bottom: 1px solid #f0f0f0; padding: 2px 8px 2px 0; vertical-align: top; }
ul.health { list-style: none; padding: 0; margin: 0; } ul.health li { padding: 6px 8px; margin: 4px 0; border-radius: 4px; }
li.ok { background: #eef8ee; } li.flagged { background: #fdecea; } li.na { background: #f3f3f3; }
.verdict { display: inline-block; min-width: 64px; font-weight: bold; text-transform: uppercase; font-size: 12px; }
li.flagged .verdict { color: #b71c1c; } li.ok .verdict { color: #2e7d32; } li.na .verdict { color: #777; }
figure { margin: 8px 0; } figure img { width: 100%; max-width: 960px; image-rendering: pixelated; border: 1px solid #ddd; }
figcaption { font-size: 12px; color: #555; } .legend { color: #555; font-size: 13px; }
ul.notes { color: #8a6d00; }
)CSS";

std::string chart_panel(const std::string& id, const std::string& title, const std::string& extra_controls) {
  return "<section id=\"panel-" + id + "\"><h2>" + title + "</h2><form>" + extra_controls +
         "<label><input type=\"checkbox\" name=\"log\"> log scale</label>"
         "<label><input type=\"checkbox\" name=\"smooth\" checked> smooth (EMA 0.9)</label></form>"
         "<svg class=\"chart\" id=\"chart-" +
         id + "\" xmlns=\"http://www.w3.org/2000/svg\"></svg></section>";
}

std::string now_utc() {
  const std::time_t now = std::time(nullptr);
  char text[32] = "";
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  return text;
}

}  // namespace

const std::vector<double>* RunLog::column(const std::string& name) const {
  const auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? nullptr : &columns[std::size_t(it - names.begin())];
}

RunContents read_run(const std::string& dir) {
  if (dir.empty()) throw Error("the run folder is an empty path; give the --out folder of a gramgan train run");
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(dir + ": " + (fs::exists(dir, ec) ? "not a folder" : "no such folder") +
                "; give the --out folder of a gramgan train run");
  if (!is_run_folder(dir))
    throw Error(dir +
                ": not a training run (no config.json and log.csv, checkpoint or gramgan.lock); give the --out "
                "folder of a gramgan train run");
  RunContents run;
  run.dir = dir;
  const fs::path folder(dir);
  const RunFolder files(dir);
  if (fs::exists(files.config_path(), ec)) run.config_json = read_file(files.config_path());
  if (fs::exists(files.log_path(), ec))
    run.log = parse_log(read_file(files.log_path()), files.log_path(), run.notes);
  else
    run.notes.push_back(files.log_path() + ": missing (the run has logged no step yet)");
  if (run.log.rows() > 0 && !run.log.column("step"))
    throw Error(files.log_path() + ": no 'step' column; not a gramgan log");
  run.samples = list_samples(folder / "samples");
  if (fs::exists(folder / RunFolder::kNonFiniteStopName, ec)) {
    run.non_finite_stop = read_file(folder / RunFolder::kNonFiniteStopName);
    while (!run.non_finite_stop.empty() && std::isspace(static_cast<unsigned char>(run.non_finite_stop.back())))
      run.non_finite_stop.pop_back();
    if (run.non_finite_stop.empty()) run.non_finite_stop = "the run stopped on a non-finite loss";
  }
  run.holder = run_folder_holder(dir);
  return run;
}

std::vector<HealthCheck> check_health(const RunContents& run) {
  const RunLog& log = run.log;
  std::vector<HealthCheck> checks;
  if (log.rows() == 0) {
    for (const char* title : {"Discriminator loss near 0 for many steps", "D(real) - D(fake) gap saturating",
                              "One term dominating G's weighted total"})
      checks.push_back({title, Verdict::not_applicable, "no steps logged yet"});
  } else {
    const std::vector<double>& steps = *log.column("step");
    const std::size_t window = std::max(kMinStretch, log.rows() / 10);
    checks.push_back(check_d_loss(log, steps, window));
    checks.push_back(check_gap(log, steps, window));
    checks.push_back(check_dominant_term(log, steps));
  }
  checks.push_back(check_non_finite(run));
  return checks;
}

std::string render_report(const RunContents& run, std::size_t max_samples) {
  std::vector<std::string> notes = run.notes;
  const std::string samples = samples_panel(run, max_samples, notes);
  long long configured_steps = 0;
  try {
    configured_steps = json::parse(run.config_json).value("steps", 0LL);
  } catch (const json::exception&) {
  }
  const std::size_t rows = run.log.rows();
  std::string status = std::to_string(rows) + " steps logged";
  if (rows > 0) status = "step " + number(run.log.column("step")->back(), 12) + " logged";
  if (configured_steps > 0) status += " of " + std::to_string(configured_steps);
  status += run.holder.empty() ? "; no process is training in the folder" : "; in progress: " + run.holder;
  if (!run.non_finite_stop.empty()) status += "; stopped on a non-finite loss";

  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>gramgan report: " +
                     html_escape(run.dir) + "</title><style>" + kStyle +
                     "</style></head><body>\n<h1>gramgan run report: " + html_escape(run.dir) +
                     "</h1><p class=\"status\" id=\"status\">" + html_escape(status) + ". Written " + now_utc() +
                     ".</p>\n";
  html += "<section id=\"panel-health\"><h2>Health</h2>" + health_panel(check_health(run)) + "</section>\n";
  html += chart_panel("losses", "Loss terms of G",
                      "<label><input type=\"radio\" name=\"kind\" value=\"raw\"> raw</label>"
                      "<label><input type=\"radio\" name=\"kind\" value=\"weighted\" checked> weighted</label>") +
          "\n";
  html += chart_panel("discriminator", "Discriminator: mean D(real), mean D(fake), D loss", "") + "\n";
  html += chart_panel("gradients", "Gradient L2 norms of G and D", "") + "\n";
  html += chart_panel("timing", "Seconds per step", "") + "\n";
  html += "<section id=\"panel-samples\"><h2>Samples over time</h2>" + samples + "</section>\n";
  html += "<section id=\"panel-config\"><h2>Configuration</h2>" + config_panel(run) + "</section>\n";
  if (!notes.empty()) {
    html += "<section id=\"panel-notes\"><h2>Left out</h2><ul class=\"notes\">";
    for (const std::string& note : notes) html += "<li>" + html_escape(note) + "</li>";
    html += "</ul></section>\n";
  }
  html += "<script type=\"application/json\" id=\"run-data\">" + script_safe({{"columns", plotted_columns(run.log)}}) +
          "</script>\n<script>" + kScript + "</script>\n</body></html>\n";
  return html;
}

}  // namespace gramgan::gan
