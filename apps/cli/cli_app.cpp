#include "apps/cli/cli_app.h"

#include <string>

namespace gramgan::cli {

std::unique_ptr<CLI::App> make_app(std::vector<Command>& commands) {
  auto app = std::make_unique<CLI::App>("gramgan: GAN style transfer trained on hand-written CUDA kernels", "gramgan");
  app->set_version_flag("--version", std::string("gramgan ") + GRAMGAN_VERSION);
  // At most one here, so a stray word is reported as unexpected rather than as a missing subcommand.
  app->require_subcommand(0, 1);
  commands = {
      add_info_command(*app),     add_train_command(*app),  add_stylize_command(*app),
      add_transfer_command(*app), add_report_command(*app), add_gradcheck_command(*app),
  };
  // After the subcommands: CLI11 copies a parent's footer into subcommands made after it is set.
  app->footer(
      "One subcommand is required; 'gramgan SUBCOMMAND --help' lists its options. GRAMGAN_VGG19=PATH sets "
      "the default --vgg of train and transfer.");
  return app;
}

}  // namespace gramgan::cli
