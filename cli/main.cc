// The `elephant` command line. Every user error (bad flag, bad file, bad config) ends with a
// one-line message on stderr and a non-zero exit status: 1 for errors, CLI11's code for bad flags.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>

#include "cli/common.h"
#include "core/error.h"

int main(int argc, char** argv) {
  // Idle OpenMP workers sleep instead of spinning: on a machine whose cores are shared (or when
  // several processes run), spinning workers starve the threads doing real work. Set before the
  // OpenMP runtime starts; a user's own OMP_WAIT_POLICY wins.
  setenv("OMP_WAIT_POLICY", "passive", 0);
  CLI::App app{"elephant: fast inference for Mixture-of-Experts models from Hugging Face checkpoints"};
  app.require_subcommand(1);
  // A bad command line prints the usage, then what was wrong.
  app.failure_message(CLI::FailureMessage::help);
  app.set_version_flag("--version", "elephant 0.1.0");
  std::vector<std::pair<CLI::App*, elephant::cli::Handler>> handlers;
  elephant::cli::register_generate(app, handlers);
  elephant::cli::register_logits(app, handlers);
  elephant::cli::register_inspect(app, handlers);
  elephant::cli::register_bench(app, handlers);
  elephant::cli::register_quantize(app, handlers);
  elephant::cli::register_perplexity(app, handlers);
  elephant::cli::register_chat(app, handlers);
  elephant::cli::register_serve(app, handlers);
  elephant::cli::register_translate(app, handlers);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  try {
    for (const auto& [command, handler] : handlers) {
      if (command->parsed()) handler();
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  }
  return 0;
}
