// gramgan report: the run folder read back (a run in progress included), each health check against a log made to
// show its failure pattern and against a healthy one, the page's panels and its self-containment, and the CLI's
// refusals. The page as a browser draws it is tested by tests/report_render.py (headless Chromium).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <regex>
#include <string>

#include "apps/gan/run_folder.h"
#include "apps/gan/run_report.h"
#include "cli_runner.h"
#include "engine/io/png.h"
#include "expect_error.h"
#include "temp_dir.h"

namespace gramgan::test {
namespace {

using gan::HealthCheck;
using Verdict = HealthCheck::Verdict;

constexpr const char* kHeader =
    "step,content_raw,content_weighted,style_raw,style_weighted,adv_g_raw,adv_g_weighted,tv_raw,tv_weighted,"
    "g_total,d_loss_raw,d_loss_weighted,d_real_mean,d_fake_mean,g_grad_norm,d_grad_norm,step_seconds\n";

// One synthetic row: the weighted terms (raw = weighted here), the D loss and scores ("" for no discriminator).
struct Row {
  double content = 1, style = 1, adv = 0.2, tv = 0.05;
  std::string d_loss = "0.5", real = "0.6", fake = "0.4";
};

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", v);
  return text;
}

std::string log_text(int rows, const std::function<Row(int)>& row_at) {
  std::string text = kHeader;
  for (int step = 1; step <= rows; ++step) {
    const Row r = row_at(step);
    const double total = r.content + r.style + r.adv + r.tv;
    text += std::to_string(step);
    for (const double term : {r.content, r.style, r.adv, r.tv}) text += "," + number(term) + "," + number(term);
    text += "," + number(total) + "," + r.d_loss + "," + r.d_loss + "," + r.real + "," + r.fake + ",3.5," +
            (r.d_loss.empty() ? "" : "1.25") + ",0.5\n";
  }
  return text;
}

class ReportTest : public TempDirTest {
 protected:
  std::string run_dir() const { return path("run"); }
  void make_run(const std::string& log, const std::string& config = "{\"steps\": 200, \"batch\": 4}\n") const {
    std::filesystem::create_directories(run_dir() + "/samples");
    write_file(run_dir() + "/config.json", config);
    write_file(run_dir() + "/log.csv", log);
  }
  std::vector<HealthCheck> health() const { return gan::check_health(gan::read_run(run_dir())); }
  void write_strip(long long step) const {
    char name[32];
    std::snprintf(name, sizeof name, "/samples/step_%06lld.png", step);
    Image image = make_image(12, 4);
    for (float& v : image.pixels) v = float(step % 7) / 7.0f;
    write_png(run_dir() + name, image);
  }
};

HealthCheck find(const std::vector<HealthCheck>& checks, const std::string& title_fragment) {
  for (const HealthCheck& check : checks)
    if (check.title.find(title_fragment) != std::string::npos) return check;
  ADD_FAILURE() << "no health check titled '" << title_fragment << "'";
  return {};
}

TEST_F(ReportTest, HealthyRunFlagsNothing) {
  make_run(log_text(200, [](int step) {
    Row r;
    r.content = 1 + 0.1 * std::sin(step), r.style = 0.8, r.adv = 0.3, r.tv = 0.02;
    return r;
  }));
  const std::vector<HealthCheck> checks = health();
  ASSERT_EQ(checks.size(), 4u);
  for (const HealthCheck& check : checks) EXPECT_EQ(check.verdict, Verdict::ok) << check.title << ": " << check.detail;
  EXPECT_NE(find(checks, "dominating").detail.find("style"), std::string::npos);
}

TEST_F(ReportTest, DiscriminatorLossNearZeroForManyStepsIsFlaggedWithItsSteps) {
  make_run(log_text(200, [](int step) {
    Row r;
    if (step > 50 && step <= 150) r.d_loss = "0.004";
    return r;
  }));
  const HealthCheck check = find(health(), "Discriminator loss near 0");
  EXPECT_EQ(check.verdict, Verdict::flagged);
  EXPECT_NE(check.detail.find("100 steps in a row (steps 51-150)"), std::string::npos) << check.detail;
}

TEST_F(ReportTest, AShortDipOfTheDiscriminatorLossIsNotFlagged) {
  make_run(log_text(200, [](int step) {
    Row r;
    if (step > 50 && step <= 60) r.d_loss = "0.004";  // 10 steps: below the 20-step stretch that counts
    return r;
  }));
  const HealthCheck check = find(health(), "Discriminator loss near 0");
  EXPECT_EQ(check.verdict, Verdict::ok) << check.detail;
  EXPECT_NE(check.detail.find("10 steps"), std::string::npos) << check.detail;
}

TEST_F(ReportTest, SaturatedScoreGapIsFlagged) {
  make_run(log_text(100, [](int step) {
    Row r;
    if (step > 40) r.real = "0.98", r.fake = "0.03";
    return r;
  }));
  const HealthCheck check = find(health(), "gap saturating");
  EXPECT_EQ(check.verdict, Verdict::flagged);
  EXPECT_NE(check.detail.find("60 steps in a row (steps 41-100)"), std::string::npos) << check.detail;
}

TEST_F(ReportTest, OneDominatingTermIsNamedWithTheOptionToLower) {
  make_run(log_text(100, [](int step) {
    Row r;
    r.style = step > 50 ? 40 : 1;  // the last quarter is what counts
    return r;
  }));
  const HealthCheck check = find(health(), "dominating");
  EXPECT_EQ(check.verdict, Verdict::flagged);
  EXPECT_NE(check.detail.find("style makes 97%"), std::string::npos) << check.detail;
  EXPECT_NE(check.detail.find("--lambda-style"), std::string::npos) << check.detail;
}

TEST_F(ReportTest, NonFiniteStopIsFlaggedFromItsFileOrFromTheLog) {
  make_run(log_text(30, [](int) { return Row(); }));
  EXPECT_EQ(find(health(), "Non-finite").verdict, Verdict::ok);
  write_file(run_dir() + "/non_finite_stop.txt", "step 31: the generator loss is not finite (nan)\n");
  HealthCheck check = find(health(), "Non-finite");
  EXPECT_EQ(check.verdict, Verdict::flagged);
  EXPECT_EQ(check.detail, "step 31: the generator loss is not finite (nan)");

  std::filesystem::remove(run_dir() + "/non_finite_stop.txt");
  make_run(log_text(30, [](int step) {
    Row r;
    if (step == 12) r.d_loss = "inf";
    return r;
  }));
  check = find(health(), "Non-finite");
  EXPECT_EQ(check.verdict, Verdict::flagged);
  EXPECT_NE(check.detail.find("step 12: d_loss_raw = inf"), std::string::npos) << check.detail;
}

TEST_F(ReportTest, RunWithoutDiscriminatorSaysTheDChecksDoNotApply) {
  make_run(log_text(50, [](int) {
    Row r;
    r.d_loss = r.real = r.fake = "";
    r.adv = 0;
    return r;
  }));
  const std::vector<HealthCheck> checks = health();
  EXPECT_EQ(find(checks, "Discriminator loss").verdict, Verdict::not_applicable);
  EXPECT_EQ(find(checks, "gap").verdict, Verdict::not_applicable);
  const HealthCheck terms = find(checks, "dominating");
  EXPECT_EQ(terms.verdict, Verdict::ok);
  EXPECT_EQ(terms.detail.find("adv_g"), std::string::npos) << "a term with lambda 0 is not listed: " << terms.detail;
}

TEST_F(ReportTest, RowStillBeingWrittenAndShortRowsAreLeftOut) {
  std::string log = log_text(10, [](int) { return Row(); });
  log.insert(log.find("\n5,"), "\n3,0.5,0.5");  // a row cut short by a kill, then resumed
  log += "11,0.9,0.9,1,1";                      // the trainer is appending this one now
  make_run(log);
  const gan::RunContents run = gan::read_run(run_dir());
  ASSERT_EQ(run.log.rows(), 10u);
  EXPECT_EQ(run.log.column("step")->back(), 10);
  ASSERT_EQ(run.notes.size(), 1u);
  EXPECT_NE(run.notes[0].find("1 row with the wrong number of fields"), std::string::npos) << run.notes[0];
}

// A run logged before log.csv had its tf32 column, resumed: truncate_log keeps its rows under the current header,
// every value under its own column name, the new column empty (not recorded); the report reads it back.
TEST_F(ReportTest, ResumingALogWithoutTheTf32ColumnKeepsItsRowsByColumnName) {
  make_run(log_text(5, [](int step) {
    Row r;
    r.content = step;
    return r;
  }));
  gan::RunFolder(run_dir()).truncate_log(3);
  const gan::RunContents run = gan::read_run(run_dir());
  EXPECT_TRUE(run.notes.empty()) << run.notes.at(0);
  ASSERT_EQ(run.log.rows(), 3u);
  ASSERT_TRUE(run.log.column("tf32") && run.log.column("content_raw") && run.log.column("step_seconds"));
  for (std::size_t r = 0; r < 3; ++r) {
    EXPECT_TRUE(std::isnan((*run.log.column("tf32"))[r]));
    EXPECT_EQ((*run.log.column("content_raw"))[r], double(r + 1));
    EXPECT_EQ((*run.log.column("step_seconds"))[r], 0.5);
  }
  EXPECT_EQ(run.log.names.back(), "step_seconds");
}

TEST_F(ReportTest, ReadingARunInProgressLeavesItsLockWithItsHolder) {
  gan::RunFolder folder(run_dir());
  folder.lock(/*new_run=*/true);  // as train does, before it writes anything
  make_run(log_text(5, [](int) { return Row(); }));
  const gan::RunContents run = gan::read_run(run_dir());
  EXPECT_NE(run.holder.find("gramgan train (pid " + std::to_string(::getpid())), std::string::npos) << run.holder;
  // The probe must not have taken the lock from its holder: a second process is still refused.
  EXPECT_ERROR_MENTIONS(gan::RunFolder(run_dir()).check_not_in_use(), "in use by gramgan train");
  EXPECT_NE(gan::render_report(run, 4).find("in progress: gramgan train"), std::string::npos);
}

TEST_F(ReportTest, PageHoldsEveryPanelAndNeedsNoOtherFile) {
  make_run(log_text(40, [](int) { return Row(); }),
           "{\"steps\": 40, \"style\": \"/art/</script><script>alert(1)</script>.png\"}\n");
  for (long long step = 4; step <= 40; step += 4) write_strip(step);
  const std::string html = gan::render_report(gan::read_run(run_dir()), 4);
  for (const char* panel : {"panel-health", "panel-losses", "panel-discriminator", "panel-gradients", "panel-timing",
                            "panel-samples", "panel-config"})
    EXPECT_NE(html.find(std::string("id=\"") + panel + "\""), std::string::npos) << panel;
  // 4 of 10 strips, evenly spaced from the first to the last.
  const std::regex figure("<figcaption>step ([0-9]+)</figcaption>");
  std::vector<std::string> steps;
  for (std::sregex_iterator it(html.begin(), html.end(), figure), end; it != end; ++it) steps.push_back((*it)[1]);
  EXPECT_EQ(steps, (std::vector<std::string>{"4", "16", "28", "40"}));
  EXPECT_NE(html.find("4 of 10 strips"), std::string::npos);
  EXPECT_NE(html.find("src=\"data:image/png;base64,iVBORw0KGgo"), std::string::npos);
  // Self-contained: nothing fetched (the SVG namespace is a name, not a fetch), every image inline.
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(std::regex_search(html, std::regex("src=\"(?!data:)")), false);
  // The configuration's text never becomes markup: one script element per block the page itself has.
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_NE(html.find("&lt;/script&gt;&lt;script&gt;alert(1)"), std::string::npos);
}

TEST_F(ReportTest, LogThatCannotBeReadIsAnErrorNotAnEmptyRun) {
  make_run("");
  std::filesystem::remove(run_dir() + "/log.csv");
  std::filesystem::create_directories(run_dir() + "/log.csv");
  EXPECT_ERROR_MENTIONS(gan::read_run(run_dir()), "log.csv: cannot read: it is a folder");
}

TEST_F(ReportTest, CurvesOfALongRunAreAveragedForDrawing) {
  make_run(log_text(10000, [](int) { return Row(); }));
  const std::string html = gan::render_report(gan::read_run(run_dir()), 0);
  const std::size_t data = html.find("id=\"run-data\">");
  ASSERT_NE(data, std::string::npos);
  const std::string steps = html.substr(html.find("\"step\":[", data));
  // 2500 buckets of 4 rows: the first averages steps 1-4.
  EXPECT_EQ(steps.compare(0, 12, "\"step\":[2.5,"), 0) << steps.substr(0, 40);
  EXPECT_LT(html.size(), 2u << 20);
}

TEST_F(ReportTest, FolderThatIsNotARunIsRefused) {
  EXPECT_ERROR_MENTIONS(gan::read_run(""), "empty path");
  EXPECT_ERROR_MENTIONS(gan::read_run(path("missing")), "no such folder");
  std::filesystem::create_directories(path("photos"));
  EXPECT_ERROR_MENTIONS(gan::read_run(path("photos")), "not a training run");
}

TEST_F(ReportTest, CliWritesThePageIntoTheRunAndRefusesToOverwriteItsFiles) {
  make_run(log_text(20, [](int) { return Row(); }));
  write_strip(10);
  write_file(run_dir() + "/events.out.tfevents.1.host", "records");
  const auto before = snapshot(run_dir());
  expect_cli_error(run_cli({"report", run_dir(), "--out", run_dir() + "/log.csv"}), "log.csv");
  expect_cli_error(run_cli({"report", run_dir(), "--out", run_dir() + "/samples/step_000010.png"}), "step_000010");
  expect_cli_error(run_cli({"report", run_dir(), "--out", run_dir() + "/events.out.tfevents.1.host"}), "tfevents");
  expect_cli_error(run_cli({"report", path("nowhere")}), "no such folder");
  expect_cli_error(run_cli({"report", run_dir(), "--max-samples", "-1"}), "--max-samples");
  EXPECT_EQ(snapshot(run_dir()), before) << "a refused report changed the run folder";

  const CliResult ok = run_cli({"report", run_dir()});
  ASSERT_EQ(ok.status, 0) << ok.err;
  EXPECT_NE(ok.out.find("report.html: 20 steps, 1 sample strips"), std::string::npos) << ok.out;
  EXPECT_NE(read_file(run_dir() + "/report.html").find("<figcaption>step 10</figcaption>"), std::string::npos);
}

}  // namespace
}  // namespace gramgan::test
