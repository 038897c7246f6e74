// `elephant serve`: the OpenAI-compatible HTTP server (src/server) on one model directory.
// SIGINT and SIGTERM stop it gracefully: no new connections, running requests get --grace-seconds
// to finish, the rest are cancelled, and the process exits 0.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "cli/common.h"
#include "cli/device.h"
#include "core/error.h"
#include "server/server.h"
#include "tokenizer/tokenizer.h"

namespace elephant::cli {
namespace {

struct ServeFlags {
  ModelFlags model;
  server::ServerOptions server;
  double grace_seconds = 10.0;
  bool quiet = false;
  int64_t kv_budget_mib = 0;  // 0: the engine's default
  bool max_n_given = false;  // else --max-n's default shrinks to fit a small --parallel + --max-queue
};

std::string default_model_name(const std::string& model_dir) {
  const auto name = std::filesystem::weakly_canonical(model_dir).filename().string();
  return name.empty() ? "elephant" : name;
}

void run(ServeFlags& flags) {
  // Blocked before any thread exists (OpenMP's, httplib's, the engine's), so every thread
  // inherits the mask and the signals reach only the sigwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto model = load_model(flags.model);
  const auto tokenizer = tokenizer::Tokenizer::load(flags.model.model_dir);
  std::optional<chat::Json> chat_config;
  std::string chat_unavailable;
  try {
    chat_config = load_chat_config(flags.model.model_dir, "serve");
  } catch (const Error& error) {
    chat_unavailable = error.what();
    std::fprintf(stderr, "warning: /v1/chat/completions is disabled: %s\n", error.what());
  }
  if (flags.server.model_name.empty()) flags.server.model_name = default_model_name(flags.model.model_dir);
  if (!flags.max_n_given) {
    flags.server.max_sequences_per_request =
        std::min(flags.server.max_sequences_per_request, flags.server.parallel + flags.server.max_queue);
  }
  flags.server.log_requests = !flags.quiet;

  flags.server.kv_budget_bytes = flags.kv_budget_mib << 20;
  const DeviceRunner device(*model, flags.model.device, flags.server.parallel, flags.server.max_step_rows);
  flags.server.forward = device.forward();
  server::Server server({*model, *tokenizer, std::move(chat_config), chat_unavailable}, flags.server);
  const double kv_mib = static_cast<double>(server.kv_pool_bytes()) / (1 << 20);
  const double sequence_mib = static_cast<double>(model->kv_sequence_bytes()) / (1 << 20);
  std::fprintf(stderr,
               "elephant serve: model '%s' (%s), context %lld, parallel %d, KV pool %.0f MiB (%.2f MiB per "
               "full-context sequence); listening on http://%s:%d/v1\n",
               flags.server.model_name.c_str(), flags.model.model_dir.c_str(),
               static_cast<long long>(model->context_length()), flags.server.parallel, kv_mib, sequence_mib,
               flags.server.host.c_str(), server.port());
  if (flags.model.device == "cuda") std::fprintf(stderr, "elephant serve: steps run on %s\n", device.description().c_str());
  std::fflush(stderr);

  const auto grace = std::chrono::milliseconds(static_cast<int64_t>(flags.grace_seconds * 1000.0));
  std::thread signal_thread([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    std::fprintf(stderr, "elephant serve: %s: stopping (grace %.1f s)\n", strsignal(signal_number),
                 flags.grace_seconds);
    server.shutdown(grace);
  });
  server.run();
  // run() returns on its own only if listening failed; wake the signal thread so it can end.
  server.shutdown(std::chrono::milliseconds(0));
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  std::fprintf(stderr, "elephant serve: stopped\n");
}

}  // namespace

void register_serve(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers) {
  static ServeFlags flags;
  auto& options = flags.server;
  auto* command = app.add_subcommand("serve", "serve the model over an OpenAI-compatible HTTP API");
  add_model_flags(command, flags.model);
  add_device_flag(command, flags.model.device);
  command->add_option("--ctx", flags.model.context, "same as --context")
      ->check(CLI::PositiveNumber)
      ->excludes("--context");
  command->add_option("--host", options.host, "address to listen on (default 127.0.0.1: this machine only)");
  command->add_option("--port", options.port, "TCP port; 0 picks a free one (default 8080)")
      ->check(CLI::Range(0, 65535));
  command->add_option("--model-name", options.model_name, "model id in the API (default: the model directory's name)");
  command->add_option("--api-key", options.api_key, "require 'Authorization: Bearer KEY' (except on /health)")
      ->envname("ELEPHANT_API_KEY");
  command->add_option("--parallel", options.parallel, "sequences decoded together (default 8)")
      ->check(CLI::Range(1, 4096));
  command
      ->add_option("--max-queue", options.max_queue,
                   "sequences that may wait beyond --parallel; more get 429 (default 64)")
      ->check(CLI::Range(0, 1 << 20));
  command
      ->add_option("--max-tokens-limit", options.max_tokens, "largest max_tokens a request may ask for (default 4096)")
      ->check(CLI::Range(1, 1 << 24));
  command->add_option("--max-n", options.max_sequences_per_request, "largest n × prompts per request (default 8)")
      ->check(CLI::Range(1, 4096));
  command->add_option("--max-logprobs", options.max_logprobs, "largest top_logprobs (default 20)")
      ->check(CLI::Range(0, 1000));
  command->add_option("--max-step-rows", options.max_step_rows, "rows (tokens) per engine step (default 512)")
      ->check(CLI::Range(1, 1 << 20));
  command
      ->add_option("--kv-budget-mib", flags.kv_budget_mib,
                   "KV-cache pool shared by the sequences; requests wait when it is full (default: --parallel "
                   "full contexts, at most half the machine's memory, at least one full context)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  command
      ->add_option("--http-threads", options.http_threads,
                   "connections served at once; more wait to be accepted (default 32)")
      ->check(CLI::Range(1, 4096));
  command
      ->add_option("--max-body-bytes", options.max_body_bytes, "largest request body; larger get 413 (default 1 MiB)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 34));
  command
      ->add_option("--max-header-bytes", options.max_header_bytes,
                   "largest total of request headers; larger get 431 (default 16 KiB)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  command
      ->add_option("--grace-seconds", flags.grace_seconds,
                   "on SIGINT/SIGTERM, how long running requests may finish before they are cancelled (default 10)")
      ->check(CLI::Range(0.0, 86400.0));
  command->add_flag("--quiet", flags.quiet, "no per-request log lines on stderr");
  handlers.emplace_back(command, [command] {
    flags.max_n_given = command->count("--max-n") > 0;
    run(flags);
  });
}

}  // namespace elephant::cli
