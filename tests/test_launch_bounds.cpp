// Every kernel that nvcc compiles states its launch bounds twice, alike: __launch_bounds__(args) on its
// declaration, for nvcc (which caps the kernel's registers to fit such a block, and the GPU refuses a larger one),
// and GG_KERNEL_BOUNDS(args) as the first statement of its body, for the simulator, which cannot read the
// attribute (cudasim/cudasim.h). A kernel without bounds has no register budget the simulator could check, so none
// may ship; and two spellings that disagree would let the simulator accept a block the GPU refuses.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

// `text` from `open` (an opening parenthesis) to just past its matching closing one; npos if unbalanced.
std::size_t past_matching_paren(const std::string& text, std::size_t open) {
  int depth = 0;
  for (std::size_t i = open; i < text.size(); ++i) {
    if (text[i] == '(') ++depth;
    if (text[i] == ')' && --depth == 0) return i + 1;
  }
  return std::string::npos;
}

std::string without_spaces(const std::string& text) {
  std::string out;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) out += c;
  return out;
}

std::size_t skip_spaces(const std::string& text, std::size_t i) {
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  return i;
}

struct Scan {
  int kernels = 0;
  std::vector<std::string> problems;
};

// Checks every `__global__` kernel definition in `text` (a source file named `name`).
void scan_kernels(const std::string& name, const std::string& text, Scan& scan) {
  const std::string global = "__global__", bounds = "__launch_bounds__", check = "GG_KERNEL_BOUNDS";
  for (std::size_t at = text.find(global); at != std::string::npos; at = text.find(global, at + 1)) {
    const auto line = std::to_string(1 + std::count(text.begin(), text.begin() + at, '\n'));
    const std::string where = name + ":" + line;
    ++scan.kernels;
    // __global__ void __launch_bounds__(args) name(parameters) {
    std::size_t i = skip_spaces(text, at + global.size());
    if (text.compare(i, 4, "void") != 0) {
      scan.problems.push_back(where + ": expected `__global__ void`");
      continue;
    }
    i = skip_spaces(text, i + 4);
    if (text.compare(i, bounds.size(), bounds) != 0) {
      scan.problems.push_back(where + ": a kernel without __launch_bounds__");
      continue;
    }
    const std::size_t args_open = skip_spaces(text, i + bounds.size());
    const std::size_t args_end = text[args_open] == '(' ? past_matching_paren(text, args_open) : std::string::npos;
    const std::size_t params_open = args_end == std::string::npos ? args_end : text.find('(', args_end);
    const std::size_t params_end =
        params_open == std::string::npos ? params_open : past_matching_paren(text, params_open);
    const std::size_t body = params_end == std::string::npos ? params_end : skip_spaces(text, params_end);
    if (body == std::string::npos || body >= text.size() || text[body] != '{') {
      scan.problems.push_back(where + ": cannot read the declaration");
      continue;
    }
    const std::string args = without_spaces(text.substr(args_open, args_end - args_open));
    const std::size_t first = skip_spaces(text, body + 1);
    if (text.compare(first, check.size(), check) != 0) {
      scan.problems.push_back(where + ": the body does not open with GG_KERNEL_BOUNDS" + args);
      continue;
    }
    const std::size_t check_open = skip_spaces(text, first + check.size());
    const std::size_t check_end = text[check_open] == '(' ? past_matching_paren(text, check_open) : std::string::npos;
    const std::string check_args =
        check_end == std::string::npos ? "" : without_spaces(text.substr(check_open, check_end - check_open));
    if (check_args != args)
      scan.problems.push_back(where + ": __launch_bounds__" + args + " but GG_KERNEL_BOUNDS" + check_args);
  }
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(LaunchBounds, EveryKernelStatesTheSameBoundsForNvccAndTheSimulator) {
  const fs::path root = GRAMGAN_SOURCE_DIR;
  Scan scan;
  int files = 0;
  for (const char* folder : {"kernels", "tests/sample_kernels"}) {
    for (const auto& entry : fs::directory_iterator(root / folder)) {
      const std::string ext = entry.path().extension().string();
      if (ext != ".cu" && ext != ".cuh") continue;
      ++files;
      scan_kernels(std::string(folder) + "/" + entry.path().filename().string(), read_file(entry.path()), scan);
    }
  }
  // The scan must have seen the kernels, or it proves nothing: conv2d.cu alone defines eight.
  EXPECT_GE(files, 20);
  EXPECT_GE(scan.kernels, 35);
  for (const auto& problem : scan.problems) ADD_FAILURE() << problem;
}

TEST(LaunchBounds, TheScanReportsEachWayAKernelCanBreakTheRule) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"__global__ void k(int* out) {\n  out[0] = 1;\n}", "without __launch_bounds__"},
      {"__global__ void __launch_bounds__(256) k(int* out) {\n  out[0] = 1;\n}", "does not open with"},
      {"__global__ void __launch_bounds__(kThreads, 2)\n    k(int* out) {\n  GG_KERNEL_BOUNDS(kThreads);\n}",
       "__launch_bounds__(kThreads,2) but GG_KERNEL_BOUNDS(kThreads)"},
  };
  for (const auto& [source, expected] : cases) {
    Scan scan;
    scan_kernels("case.cu", source, scan);
    ASSERT_EQ(scan.problems.size(), 1u) << source;
    EXPECT_NE(scan.problems[0].find(expected), std::string::npos) << scan.problems[0];
  }
  Scan good;
  scan_kernels("good.cu",
               "template <class T>\n__global__ void __launch_bounds__(kThreads, Cfg::kMinBlocks)\n"
               "    k(T* out, int n) {\n  GG_KERNEL_BOUNDS(kThreads, Cfg::kMinBlocks);\n  out[0] = n;\n}",
               good);
  EXPECT_EQ(good.kernels, 1);
  EXPECT_TRUE(good.problems.empty());
}

}  // namespace
