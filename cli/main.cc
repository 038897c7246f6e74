// The `elephant` command line: generate, logits, inspect. Every user error (bad flag, bad file,
// bad config) ends with a one-line message on stderr and a non-zero exit status.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"elephant: fast inference for Mixture-of-Experts models from Hugging Face checkpoints"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "elephant 0.1.0");
  elephant::cli::register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  try {
    elephant::cli::run_selected(app);
  } catch (const elephant::Error& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  }
  return 0;
}
