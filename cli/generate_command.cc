// `elephant generate`: one prompt, streamed token by token to stdout; speed summary on stderr.
#include <cstdio>

#include "cli/common.h"
#include "core/error.h"
#include "core/parallel.h"
#include "engine/generate.h"
#include "ops/ops.h"

namespace elephant::cli {
namespace {

struct GenerateFlags {
  ModelFlags model;
  std::string prompt_text;
  std::vector<int32_t> prompt_ids;
  engine::GenerateOptions options;
  bool ignore_eos = false;
};

double tokens_per_second(size_t n, double seconds) { return seconds > 0 ? static_cast<double>(n) / seconds : 0.0; }

void run(GenerateFlags& flags) {
  if (flags.prompt_ids.empty()) {
    fail("give the prompt as --prompt-ids 1,2,3 (text prompts need the tokenizer, which this build does not include)");
  }
  auto model = load_model(flags.model);
  check_token_ids(flags.prompt_ids, *model, "--prompt-ids");
  flags.options.stop_on_eos = !flags.ignore_eos;
  bool first = true;
  engine::GenerateCallbacks callbacks;
  callbacks.on_token = [&](int32_t token) {
    std::printf("%s%d", first ? "" : " ", token);
    std::fflush(stdout);
    first = false;
    return true;
  };
  const auto result = engine::generate(*model, flags.prompt_ids, flags.options, callbacks);
  std::printf("\n");
  std::fprintf(stderr,
               "prompt: %zu tokens, %.1f tokens/s | generation: %zu tokens, %.1f tokens/s | stop: %s | kernels: %s, "
               "%d threads\n",
               flags.prompt_ids.size(), tokens_per_second(flags.prompt_ids.size(), result.prompt_seconds),
               result.tokens.size(), tokens_per_second(result.tokens.size(), result.generate_seconds),
               engine::stop_reason_name(result.stop_reason).c_str(), std::string(ops::active_kernels().name).c_str(),
               thread_count());
}

}  // namespace

void register_generate(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers) {
  static GenerateFlags flags;
  auto* command = app.add_subcommand("generate", "generate tokens from a prompt");
  add_model_flags(command, flags.model);
  command->add_option("-p,--prompt", flags.prompt_text, "prompt text");
  command->add_option("--prompt-ids", flags.prompt_ids, "prompt token ids, comma separated")->delimiter(',');
  command->add_option("-n,--max-tokens", flags.options.max_new_tokens, "tokens to generate (default 64)")
      ->check(CLI::NonNegativeNumber);
  auto& sampling = flags.options.sampling;
  command->add_option("--temperature", sampling.temperature, "sampling temperature; 0 = greedy (default)");
  command->add_option("--top-k", sampling.top_k, "keep the k most likely tokens (0 = off)");
  command->add_option("--top-p", sampling.top_p, "nucleus sampling threshold (1 = off)");
  command->add_option("--min-p", sampling.min_p, "drop tokens below min-p × top probability (0 = off)");
  command->add_option("--repetition-penalty", sampling.repetition_penalty, "penalty for repeated tokens (1 = off)");
  command->add_option("--seed", sampling.seed, "random seed (default 0)");
  command->add_option("--stop", flags.options.stop_strings, "stop when the text contains this string (repeatable)");
  command->add_flag("--ignore-eos", flags.ignore_eos, "keep generating past end-of-sequence tokens");
  handlers.emplace_back(command, [] { run(flags); });
}

}  // namespace elephant::cli
