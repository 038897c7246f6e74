#include "cli/commands.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "engine/generate.h"
#include "format/npy.h"
#include "models/model.h"
#include "ops/ops.h"

namespace elephant::cli {
namespace {

struct CommonOptions {
  std::string model_dir;
  int threads = 0;
  std::string kernels = "auto";
  int experts_per_token = 0;
  int context = 0;
};

struct GenerateFlags {
  std::string prompt_text;
  std::vector<int32_t> prompt_ids;
  engine::GenerateOptions options;
  bool ignore_eos = false;
};

struct LogitsFlags {
  std::vector<int32_t> prompt_ids;
  std::string output = "logits.npy";
};

CommonOptions g_common;
GenerateFlags g_generate;
LogitsFlags g_logits;
std::map<const CLI::App*, std::function<void()>> g_handlers;

void add_common(CLI::App* command) {
  command->add_option("-m,--model", g_common.model_dir, "Hugging Face model directory (config.json, *.safetensors)")
      ->required();
  command->add_option("-t,--threads", g_common.threads, "worker threads (default: all cores)")->check(CLI::PositiveNumber);
  command->add_option("--kernels", g_common.kernels, "kernel set: auto, avx2, reference");
  command->add_option("--experts-per-token", g_common.experts_per_token,
                      "override the number of routed experts per token (1..E)")
      ->check(CLI::PositiveNumber);
  command->add_option("--context", g_common.context, "KV-cache length per sequence (default: max_position_embeddings)")
      ->check(CLI::PositiveNumber);
}

std::unique_ptr<models::Model> load_model() {
  if (g_common.threads > 0) set_thread_count(g_common.threads);
  ops::select_kernels(g_common.kernels);
  models::ModelOptions options;
  options.experts_per_token = g_common.experts_per_token;
  options.context_length = g_common.context;
  return models::Model::load(g_common.model_dir, options);
}

void check_prompt_ids(const std::vector<int32_t>& ids, const models::Model& model) {
  for (int32_t id : ids) {
    if (id < 0 || id >= model.config().vocab_size) {
      fail("--prompt-ids: id {} is outside the vocabulary [0, {})", id, model.config().vocab_size);
    }
  }
}

void run_generate() {
  if (g_generate.prompt_ids.empty()) {
    fail("give the prompt as --prompt-ids 1,2,3 (text prompts need the tokenizer, which this build does not include)");
  }
  auto model = load_model();
  check_prompt_ids(g_generate.prompt_ids, *model);
  g_generate.options.stop_on_eos = !g_generate.ignore_eos;
  std::vector<int32_t> printed;
  engine::GenerateCallbacks callbacks;
  callbacks.on_token = [&](int32_t token) {
    std::printf("%s%d", printed.empty() ? "" : " ", token);
    std::fflush(stdout);
    printed.push_back(token);
    return true;
  };
  const auto result = engine::generate(*model, g_generate.prompt_ids, g_generate.options, callbacks);
  std::printf("\n");
  const auto rate = [](size_t n, double seconds) { return seconds > 0 ? static_cast<double>(n) / seconds : 0.0; };
  std::fprintf(stderr, "prompt: %zu tokens, %.1f tokens/s | generation: %zu tokens, %.1f tokens/s | stop: %s | kernels: %s, %d threads\n",
               g_generate.prompt_ids.size(), rate(g_generate.prompt_ids.size(), result.prompt_seconds),
               result.tokens.size(), rate(result.tokens.size(), result.generate_seconds),
               engine::stop_reason_name(result.stop_reason).c_str(), std::string(ops::active_kernels().name).c_str(),
               thread_count());
}

void run_logits() {
  auto model = load_model();
  check_prompt_ids(g_logits.prompt_ids, *model);
  auto cache = model->make_kv_cache();
  layers::RowBatch rows;
  for (size_t i = 0; i < g_logits.prompt_ids.size(); ++i) rows.add(g_logits.prompt_ids[i], static_cast<int32_t>(i), 0);
  const std::vector<float> logits = model->forward(rows, cache);
  format::write_npy_f32(g_logits.output, logits,
                        {static_cast<int64_t>(g_logits.prompt_ids.size()), model->config().vocab_size});
  std::fprintf(stderr, "wrote %s: [%zu, %d] float32\n", g_logits.output.c_str(), g_logits.prompt_ids.size(),
               model->config().vocab_size);
}

std::string human_count(int64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.2f}B", static_cast<double>(n) / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.2f}M", static_cast<double>(n) / 1e6);
  if (n >= 1'000) return fmt::format("{:.2f}K", static_cast<double>(n) / 1e3);
  return std::to_string(n);
}

void run_inspect() {
  auto model = load_model();
  const auto& c = model->config();
  const auto counts = model->parameter_counts();
  int n_moe = 0;
  for (const auto& layer : c.layers) n_moe += layer.is_moe ? 1 : 0;
  std::map<std::string, int64_t> bytes_by_dtype;
  for (const auto& [name, view] : model->checkpoint().tensors()) {
    bytes_by_dtype[std::string(dtype_name(view->dtype))] += static_cast<int64_t>(view->bytes.size());
  }
  fmt::print("model:            {}\n", g_common.model_dir);
  fmt::print("family:           {}\n", c.model_type);
  fmt::print("layers:           {} ({} MoE, {} dense)\n", c.n_layers, n_moe, c.n_layers - n_moe);
  fmt::print("hidden size:      {}\n", c.hidden_size);
  fmt::print("attention:        {} heads, {} kv heads, head dim {}\n", c.n_heads, c.n_kv_heads, c.head_dim);
  fmt::print("experts:          {} routed, top-{}, width {}", c.moe.n_experts, c.moe.top_k, c.moe.expert_ffn);
  if (c.moe.shared_expert_ffn > 0) fmt::print(", shared expert width {}", c.moe.shared_expert_ffn);
  fmt::print("\n");
  fmt::print("vocabulary:       {}\n", c.vocab_size);
  fmt::print("parameters:       {} total ({})\n", counts.total, human_count(counts.total));
  fmt::print("active per token: {} ({})\n", counts.active_per_token, human_count(counts.active_per_token));
  fmt::print("weight bytes:     {}\n", counts.weight_bytes);
  std::vector<std::string> dtypes;
  for (const auto& [dtype, bytes] : bytes_by_dtype) dtypes.push_back(fmt::format("{} {} bytes", dtype, bytes));
  fmt::print("dtypes:           {}\n", fmt::join(dtypes, ", "));
  fmt::print("files:            {}\n", model->checkpoint().file_count());
}

}  // namespace

void register_commands(CLI::App& app) {
  auto* generate = app.add_subcommand("generate", "generate tokens from a prompt");
  add_common(generate);
  generate->add_option("-p,--prompt", g_generate.prompt_text, "prompt text");
  generate->add_option("--prompt-ids", g_generate.prompt_ids, "prompt token ids, comma separated")->delimiter(',');
  generate->add_option("-n,--max-tokens", g_generate.options.max_new_tokens, "tokens to generate (default 64)")
      ->check(CLI::NonNegativeNumber);
  auto& sampling = g_generate.options.sampling;
  generate->add_option("--temperature", sampling.temperature, "sampling temperature; 0 = greedy (default)");
  generate->add_option("--top-k", sampling.top_k, "keep the k most likely tokens (0 = off)");
  generate->add_option("--top-p", sampling.top_p, "nucleus sampling threshold (1 = off)");
  generate->add_option("--min-p", sampling.min_p, "drop tokens below min-p × top probability (0 = off)");
  generate->add_option("--repetition-penalty", sampling.repetition_penalty, "penalty for repeated tokens (1 = off)");
  generate->add_option("--seed", sampling.seed, "random seed (default 0)");
  generate->add_option("--stop", g_generate.options.stop_strings, "stop when the text contains this string (repeatable)");
  generate->add_flag("--ignore-eos", g_generate.ignore_eos, "keep generating past end-of-sequence tokens");
  g_handlers[generate] = run_generate;

  auto* logits = app.add_subcommand("logits", "write the logits of every prompt position to a .npy file");
  add_common(logits);
  logits->add_option("--prompt-ids", g_logits.prompt_ids, "prompt token ids, comma separated")->delimiter(',')->required();
  logits->add_option("-o,--output", g_logits.output, "output .npy file (default logits.npy)");
  g_handlers[logits] = run_logits;

  auto* inspect = app.add_subcommand("inspect", "print a model's architecture, parameter counts and dtypes");
  add_common(inspect);
  g_handlers[inspect] = run_inspect;
}

void run_selected(CLI::App& app) {
  for (const auto* command : app.get_subcommands()) g_handlers.at(command)();
}

}  // namespace elephant::cli
