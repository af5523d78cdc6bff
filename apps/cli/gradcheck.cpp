// gramgan gradcheck: autograd's analytic gradients against central finite differences, op by op and through a
// small composed graph (autograd/gradcheck.h). Exit status 0 when every case passes, 1 when one fails.
#include <cstdio>
#include <memory>
#include <string>

#include "apps/cli/cli_support.h"
#include "apps/cli/commands.h"
#include "apps/gan/enum_names.h"
#include "autograd/gradcheck.h"
#include "engine/device.h"
#include "engine/error.h"

namespace gramgan::cli {
namespace {

struct GradcheckArgs {
  std::string op = "all", device = "cpu",
              dtype = gan::enum_name(gan::kGradcheckDTypeNames, autograd::gradcheck::Options{}.dtype);
  std::uint64_t seed = 0;
};

int run_gradcheck(const GradcheckArgs& args) {
  namespace gc = autograd::gradcheck;
  gc::Options options;
  options.device = Device::parse(args.device);
  if (options.device.is_cuda() && !cuda_available())
    throw Error("--device " + args.device + ": no GPU (" + cuda_unavailable_reason() + ")");
  options.dtype = gan::parse_enum(gan::kGradcheckDTypeNames, args.dtype, "--dtype");
  options.seed = args.seed;
  const auto cases = gc::make_cases(args.op, options);  // throws for an unknown op, before any output

  std::printf("gradcheck on %s in %s, seed %llu\n", options.device.to_string().c_str(), args.dtype.c_str(),
              static_cast<unsigned long long>(args.seed));
  std::printf("%-15s %-44s %4s %11s %11s %9s %7s %8s %s\n", "op", "shape", "n", "max abs err", "max rel err",
              "max atol", "rtol", "kinks", "result");
  int passed = 0, failed = 0;
  long shrunk = 0, resampled = 0;
  for (const auto& c : cases) {
    const gc::CaseResult r = gc::check(c, options);
    const std::string kinks = std::to_string(r.shrunk) + "/" + std::to_string(r.resampled);
    std::printf("%-15s %-44s %4ld %11.3e %11.3e %9.2e %7.0e %8s %s\n", r.op.c_str(), r.shape.c_str(), r.checked,
                r.max_abs_error, r.max_rel_error, r.atol, r.rtol, kinks.c_str(), r.pass ? "PASS" : "FAIL");
    std::fflush(stdout);
    (r.pass ? passed : failed) += 1;
    shrunk += r.shrunk;
    resampled += r.resampled;
  }
  std::printf(
      "n: elements compared; rel err = |a - n| / max(|a|, |n|, atol / rtol) with the element's atol, pass "
      "when < rtol; kinks: coordinates whose step shrank / that were resampled (%ld / %ld in all)\n",
      shrunk, resampled);
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace

Command add_gradcheck_command(CLI::App& app) {
  auto args = std::make_shared<GradcheckArgs>();
  CLI::App* cmd = app.add_subcommand(
      "gradcheck", "Compare autograd's gradients with central finite differences, op by op (exit 1 if any fails)");
  std::string ops = "all";
  for (const auto& n : autograd::gradcheck::op_names()) ops += ", " + n;
  cmd->add_option("--op", args->op, "Op to check: " + ops)->capture_default_str();
  cmd->add_option("--device", args->device, "Device: cpu (the simulator) or cuda[:N]")->capture_default_str();
  const auto name = [](DType dtype) { return gan::enum_name(gan::kGradcheckDTypeNames, dtype); };
  const auto rtol = [](DType dtype) { return short_number(autograd::gradcheck::relative_tolerance(dtype)); };
  cmd->add_option("--dtype", args->dtype,
                  name(DType::float64) + " (rtol " + rtol(DType::float64) + ", atol " +
                      short_number(autograd::gradcheck::kDoubleAtolOfLargest) + " of the largest gradient) or " +
                      name(DType::float32) + " (rtol " + rtol(DType::float32) +
                      ", atol the measured finite-difference noise floor)")
      ->check(CLI::IsMember(gan::enum_names(gan::kGradcheckDTypeNames)))
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed of the random inputs")->check(seed_option())->capture_default_str();
  return {cmd, [args] { return run_gradcheck(*args); }};
}

}  // namespace gramgan::cli
