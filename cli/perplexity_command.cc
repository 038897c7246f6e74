// `elephant perplexity`: sliding-window perplexity of a model on a text file (engine/perplexity.h
// has the exact window semantics, shared with tools/eval/lm_eval.py).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "core/error.h"
#include "engine/perplexity.h"
#include "tokenizer/tokenizer.h"

namespace elephant::cli {
namespace {

struct PerplexityFlags {
  ModelFlags model;
  std::string file;
  int64_t window = 0;
  int64_t stride = 0;
  std::string reference_dir;
  bool json = false;
};

std::string read_text_file(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) fail("{}: cannot open the text file", path);
  std::string text{std::istreambuf_iterator<char>(stream), {}};
  if (stream.bad()) fail("{}: read error", path);
  return text;
}

void run(const PerplexityFlags& flags) {
  auto model = load_model(flags.model);
  const auto tokenizer = tokenizer::Tokenizer::load(flags.model.model_dir);
  const std::vector<int32_t> tokens = tokenizer->encode(read_text_file(flags.file), true);
  if (tokens.size() < 2) fail("{}: {} token(s); perplexity needs at least 2", flags.file, tokens.size());

  std::unique_ptr<models::Model> reference;
  if (!flags.reference_dir.empty()) {
    ModelFlags reference_flags = flags.model;
    reference_flags.model_dir = flags.reference_dir;
    reference = load_model(reference_flags);
  }
  engine::PerplexityOptions options;
  options.reference = reference.get();
  options.window = flags.window;
  options.stride = flags.stride;
  const bool interactive = isatty(STDERR_FILENO) != 0;
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  options.on_progress = [&](int64_t done, int64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_report < std::chrono::seconds(2) && done < total) return;
    last_report = now;
    std::fprintf(stderr, interactive ? "\r%lld / %lld tokens" : "%lld / %lld tokens\n", static_cast<long long>(done),
                 static_cast<long long>(total));
    if (interactive && done == total) std::fprintf(stderr, "\n");
  };
  const auto result = engine::perplexity(*model, tokens, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t window = flags.window > 0 ? flags.window : model->context_length();
  const int64_t stride = flags.stride > 0 ? flags.stride : std::max<int64_t>(1, window / 2);
  if (flags.json) {
    nlohmann::json report = {{"file", flags.file},
                                   {"tokens", tokens.size()},
                                   {"tokens_scored", result.tokens_scored},
                                   {"windows", result.windows},
                                   {"window", window},
                                   {"stride", stride},
                                   {"mean_nll", result.mean_nll()},
                                   {"perplexity", result.perplexity()},
                                   {"seconds", seconds}};
    if (reference) {
      report["reference"] = flags.reference_dir;
      report["reference_perplexity"] = result.reference_perplexity();
      report["mean_kl"] = result.mean_kl();
      report["same_top1"] = static_cast<double>(result.same_top1) / static_cast<double>(result.tokens_scored);
    }
    std::printf("%s\n", report.dump().c_str());
  } else {
    std::printf("%s: %zu tokens, %lld scored in %lld windows (window %lld, stride %lld)\n", flags.file.c_str(),
                tokens.size(), static_cast<long long>(result.tokens_scored), static_cast<long long>(result.windows),
                static_cast<long long>(window), static_cast<long long>(stride));
    std::printf("mean NLL %.6f nats/token, perplexity %.4f (%.1f tokens/s)\n", result.mean_nll(),
                result.perplexity(), seconds > 0 ? static_cast<double>(tokens.size()) / seconds : 0.0);
    if (reference) {
      std::printf("reference %s: perplexity %.4f; mean KL(reference || model) %.6f nats/token; same top-1 %.2f%%\n",
                  flags.reference_dir.c_str(), result.reference_perplexity(), result.mean_kl(),
                  100.0 * static_cast<double>(result.same_top1) / static_cast<double>(result.tokens_scored));
    }
  }
}

}  // namespace

void register_perplexity(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers) {
  static PerplexityFlags flags;
  auto* command = app.add_subcommand("perplexity", "perplexity of the model on a text file (sliding window)");
  add_model_flags(command, flags.model);
  command->add_option("-f,--file", flags.file, "text file to score (tokenized whole, with the tokenizer's special tokens)")
      ->required();
  command->add_option("--window", flags.window, "tokens per window (default: the model's context length)")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 40));
  command->add_option("--stride", flags.stride, "tokens between window starts (default: window / 2)")
      ->check(CLI::PositiveNumber);
  command->add_option("--reference", flags.reference_dir,
                      "also run this model (e.g. the unquantized original) and report the KL divergence from it");
  command->add_flag("--json", flags.json, "print one JSON object instead of text");
  handlers.emplace_back(command, [] { run(flags); });
}

}  // namespace elephant::cli
