// The `elephant` command line. Every user error (bad flag, bad file, bad config) ends with a
// one-line message on stderr and a non-zero exit status: 1 for errors, CLI11's code for bad flags.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>

#include "cli/common.h"
#include "core/error.h"

int main(int argc, char** argv) {
  // Idle OpenMP workers spin for 1000 pauses (libgomp; 20-40 µs) before they sleep. A decode step
  // forks tens to hundreds of times a few µs apart, and waking a sleeping worker costs more than a
  // small matmul: Zen 5, 2 threads, the embedded tiny LM's tg 0.55 -> 0.14 ms/token, Mixtral-2L
  // int4 tg 2-3% faster. Spinning much longer (libgomp's default is ~7 ms here) starves other
  // processes on shared cores; even this costs them: two tiny-LM benches on the same 2 cores run
  // tg 0.62 ms each against 0.21 with workers that sleep at once (OMP_WAIT_POLICY=passive). Set
  // before the OpenMP runtime starts; a user's OMP_WAIT_POLICY or GOMP_SPINCOUNT wins. LLVM's
  // libomp (a clang build) ignores GOMP_SPINCOUNT and counts its spin in milliseconds (200 by
  // default), so there workers still sleep at once (KMP_BLOCKTIME=0); libgomp ignores KMP_*.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("GOMP_SPINCOUNT", "1000", 0);
    setenv("KMP_BLOCKTIME", "0", 0);
  }
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
