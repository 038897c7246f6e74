#include "cli/common.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "config/seq2seq_config.h"
#include "core/error.h"
#include "core/parallel.h"
#include "format/checkpoint.h"
#include "ops/ops.h"

namespace elephant::cli {

std::string default_model_dir() {
  if (const char* from_environment = std::getenv("ELEPHANT_MODEL"); from_environment && *from_environment) {
    return from_environment;
  }
  return ELEPHANT_DEFAULT_MODEL_DIR;
}

CLI::Option* add_model_flags(CLI::App* command, ModelFlags& flags, bool model_required) {
  auto* option =
      command->add_option("-m,--model", flags.model_dir, "Hugging Face model directory (config.json, *.safetensors)")
          ->required(model_required);
  if (!model_required) {
    flags.model_dir = default_model_dir();
    option->description("Hugging Face model directory (config.json, *.safetensors); default: $ELEPHANT_MODEL or " +
                        std::string(ELEPHANT_DEFAULT_MODEL_DIR));
  }
  command->add_option("-t,--threads", flags.threads, "worker threads (default: all cores)")->check(CLI::Range(1, 4096));
  command->add_option("--kernels", flags.kernels, "kernel set: auto (the best with fp32 activations), avx512, avx2, reference; avx512_bf16: BF16 weights take bf16-rounded activations (faster, 2^-9 relative error per activation)");
  command->add_option("--experts-per-token", flags.experts_per_token,
                      "override the number of routed experts per token (1..E)");
  command->add_option("--context", flags.context, "KV-cache length per sequence (default: max_position_embeddings)")
      ->check(CLI::PositiveNumber);
  command->add_option("--kv-dtype", flags.kv_dtype,
                      "KV-cache elements: f32 (default) or bf16 (half the memory and long-context traffic; K and V "
                      "rounded to bf16)");
  command->add_option("--expert-cache", flags.expert_cache,
                      "offload experts: read them from the checkpoint into a RAM cache of this size (2GiB, 25%)");
  command->add_option("--expert-policy", flags.expert_policy, "expert cache eviction: ondemand (FIFO), lru (default), lfu");
  command->add_flag("--pregate", flags.pregate,
                    "with --expert-cache: predict the next layer's experts while this layer computes and load them early");
  command->add_option("--pregate-lookahead", flags.pregate_lookahead,
                      "with --pregate: MoE layers ahead to predict and load, 1 (default) or 2")
      ->check(CLI::Range(1, layers::kMaxPregateDistance));
  command->add_flag("--no-pregate-next-token", flags.no_pregate_next_token,
                    "with --pregate: do not predict the next token's first MoE layer from this token's last hidden state");
  command->add_option("--io-threads", flags.io_threads, "with --expert-cache: threads reading experts (default 2)")
      ->check(CLI::Range(1, 64));
  return option;
}

void add_generation_flags(CLI::App* command, engine::GenerateOptions& options) {
  command->add_option("-n,--max-tokens", options.max_new_tokens, "tokens to generate (default 64)")
      ->check(CLI::NonNegativeNumber);
  auto& sampling = options.sampling;
  command->add_option("--temperature", sampling.temperature, "sampling temperature; 0 = greedy (default)");
  command->add_option("--top-k", sampling.top_k, "keep the k most likely tokens (0 = off)");
  command->add_option("--top-p", sampling.top_p, "nucleus sampling threshold (1 = off)");
  command->add_option("--min-p", sampling.min_p, "drop tokens below min-p × top probability (0 = off)");
  command->add_option("--repetition-penalty", sampling.repetition_penalty, "penalty for repeated tokens (1 = off)");
  command->add_option("--seed", sampling.seed, "random seed (default 0)");
  command->add_option("--stop", options.stop_strings, "stop when the text contains this string (repeatable)");
}

chat::Json load_chat_config(const std::string& model_dir, const char* flag) {
  const auto config_path = std::filesystem::path(model_dir) / "tokenizer_config.json";
  if (!std::filesystem::exists(config_path)) {
    fail("{}: {} is missing (it holds the special tokens and the chat template)", flag, config_path.string());
  }
  chat::Json tokenizer_config = chat::Json::parse(format::read_json_file(config_path).dump());
  const auto template_path = std::filesystem::path(model_dir) / "chat_template.jinja";
  if (!tokenizer_config.contains("chat_template") && std::filesystem::exists(template_path)) {
    std::ifstream stream(template_path);
    tokenizer_config["chat_template"] = std::string(std::istreambuf_iterator<char>(stream), {});
  }
  if (!tokenizer_config.contains("chat_template")) {
    fail("{}: {} has no chat_template (and there is no {})", flag, config_path.string(), template_path.string());
  }
  return tokenizer_config;
}

DType parse_kv_dtype(const std::string& name) {
  if (name == "f32") return DType::kF32;
  if (name == "bf16") return DType::kBF16;
  fail("--kv-dtype '{}': expected f32 or bf16", name);
}

std::unique_ptr<models::Model> load_model(const ModelFlags& flags, bool computes) {
  if (flags.threads > 0) set_thread_count(flags.threads);
  ops::select_kernels(flags.kernels);
  models::ModelOptions options;
  options.context_length = flags.context;
  options.kv_dtype = parse_kv_dtype(flags.kv_dtype);
  options.experts_per_token = flags.experts_per_token;
  options.cpu_weight_copies = computes && flags.device == "cpu";
  if (!flags.pregate && (flags.pregate_lookahead != 1 || flags.no_pregate_next_token)) {
    fail("--pregate-lookahead and --no-pregate-next-token only change --pregate, which is not given");
  }
  if (!flags.expert_cache.empty()) {
    layers::ExpertCacheOptions cache;
    layers::parse_expert_cache_budget(flags.expert_cache, cache);
    cache.policy = layers::parse_cache_policy(flags.expert_policy);
    cache.prefetch = flags.pregate;
    cache.io_threads = flags.io_threads;
    options.expert_cache = cache;
    options.pregate = flags.pregate;
    options.pregate_lookahead = flags.pregate_lookahead;
    options.pregate_next_token = !flags.no_pregate_next_token;
  } else if (flags.pregate) {
    fail("--pregate needs --expert-cache (it only decides which experts to load early)");
  }
  if (flags.model_dir.empty()) fail("no model given: pass -m DIR");
  if (flags.model_dir == ELEPHANT_DEFAULT_MODEL_DIR && !std::filesystem::exists(flags.model_dir)) {
    fail("no -m given and the default model {} is missing (pass -m DIR or set ELEPHANT_MODEL)", flags.model_dir);
  }
  return models::Model::load(flags.model_dir, options);
}

bool is_seq2seq_model(const std::string& model_dir) {
  std::ifstream stream(std::filesystem::path(model_dir) / "config.json");
  if (!stream) return false;
  const nlohmann::json json = nlohmann::json::parse(stream, nullptr, false);
  return config::is_seq2seq_config(json);
}

void check_token_ids(const std::vector<int32_t>& ids, const models::Model& model, const char* flag) {
  for (int32_t id : ids) {
    if (id < 0 || id >= model.config().vocab_size) {
      fail("{}: id {} is outside the vocabulary [0, {})", flag, id, model.config().vocab_size);
    }
  }
}

}  // namespace elephant::cli
