// config.json readers for each supported family. Keys and defaults follow the released Hugging Face
// checkpoints and the pinned transformers version (see docs/architecture.md); a key the family
// needs is required unless transformers itself has a default that released checkpoints rely on.
#include "config/model_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>

#include "config/json_reader.h"
#include "config/seq2seq_config.h"
#include "core/error.h"

namespace elephant::config {
namespace {

struct FamilyEntry {
  std::string_view model_type;
  Family family;
};

constexpr std::array<FamilyEntry, 4> kFamilies = {{
    {"mixtral", Family::kMixtral},
    {"qwen2_moe", Family::kQwen2Moe},
    {"qwen3_moe", Family::kQwen3Moe},
    {"olmoe", Family::kOlmoe},
}};

std::string supported_model_types() {
  std::vector<std::string_view> names;
  for (const auto& entry : kFamilies) names.push_back(entry.model_type);
  return fmt::format("{}", fmt::join(names, ", "));
}

// RoPE parameters live in 'rope_parameters' (transformers v5) or in 'rope_theta' + 'rope_scaling'
// (earlier checkpoints). Only plain RoPE is implemented; any scaling is refused rather than ignored.
float read_rope_theta(const JsonReader& reader) {
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    if (!reader.has(key)) continue;
    const auto& params = reader.raw(key);
    if (!params.is_object()) reader.fail_key(key, "an object");
    std::string type = "default";
    for (const char* type_key : {"rope_type", "type"}) {
      if (!params.contains(type_key) || params[type_key].is_null()) continue;
      if (!params[type_key].is_string()) reader.fail_key(key, fmt::format("'{}' to be a string", type_key));
      type = params[type_key].get<std::string>();
    }
    if (type != "default") {
      fail("{}: key '{}': rope type '{}' is not supported (supported: default)", reader.path().string(), key, type);
    }
    if (params.contains("rope_theta")) {
      if (!params["rope_theta"].is_number() || params["rope_theta"].get<double>() <= 0) {
        reader.fail_key(key, "'rope_theta' to be a positive number");
      }
      return params["rope_theta"].get<float>();
    }
  }
  return reader.positive_float_or("rope_theta", 10000.0f);
}

void read_common(const JsonReader& reader, ModelConfig& config) {
  config.vocab_size = reader.positive_int("vocab_size");
  config.hidden_size = reader.positive_int("hidden_size");
  config.n_layers = reader.layer_count("num_hidden_layers");
  config.n_heads = reader.positive_int("num_attention_heads");
  config.n_kv_heads = reader.positive_int_or("num_key_value_heads", config.n_heads);
  if (config.hidden_size % config.n_heads != 0 && !reader.has("head_dim")) {
    reader.fail_key("num_attention_heads", fmt::format("a divisor of hidden_size {}", config.hidden_size));
  }
  config.head_dim = reader.positive_int_or("head_dim", config.hidden_size / config.n_heads);
  config.rms_norm_eps = reader.positive_float_or("rms_norm_eps", 1e-6f);
  config.rope_theta = read_rope_theta(reader);
  config.max_positions = reader.positive_int("max_position_embeddings");
  config.tie_word_embeddings = reader.bool_or("tie_word_embeddings", false);
  const std::string activation = reader.string_or("hidden_act", "silu");
  if (activation != "silu") reader.fail_key("hidden_act", "\"silu\" (the only expert activation of this family)");
  config.bos_token_id = reader.int_or("bos_token_id", -1);
  config.eos_token_ids = reader.int_or_list("eos_token_id");
  config.layers.assign(static_cast<size_t>(config.n_layers), LayerConfig{});
}

// Per-layer attention kind from 'layer_types' when the file has it (transformers v5 writes it).
bool apply_layer_types(const JsonReader& reader, ModelConfig& config, int window) {
  if (!reader.has("layer_types")) return false;
  const auto& types = reader.raw("layer_types");
  if (!types.is_array() || types.size() != config.layers.size()) {
    reader.fail_key("layer_types", fmt::format("a list of {} attention kinds", config.n_layers));
  }
  for (size_t i = 0; i < types.size(); ++i) {
    const std::string kind = types[i].is_string() ? types[i].get<std::string>() : "";
    if (kind == "sliding_attention") {
      config.layers[i].sliding_window = window;
    } else if (kind != "full_attention") {
      reader.fail_key("layer_types", "entries \"full_attention\" or \"sliding_attention\"");
    }
  }
  return true;
}

void read_mixtral(const JsonReader& reader, ModelConfig& config) {
  config.moe.n_experts = reader.positive_int("num_local_experts");
  config.moe.top_k = reader.positive_int("num_experts_per_tok");
  config.moe.expert_ffn = reader.positive_int("intermediate_size");
  config.moe.router.renormalize_top_k = true;
  const int window = reader.positive_int_or("sliding_window", 0);
  for (auto& layer : config.layers) layer.sliding_window = window;
}

void read_qwen_moe(const JsonReader& reader, ModelConfig& config) {
  config.moe.n_experts = reader.positive_int(reader.spelling({"num_experts", "num_local_experts"}));
  config.moe.top_k = reader.positive_int("num_experts_per_tok");
  config.moe.expert_ffn = reader.positive_int("moe_intermediate_size");
  config.moe.router.renormalize_top_k = reader.bool_or("norm_topk_prob", false);
  const int sparse_step = reader.positive_int_or("decoder_sparse_step", 1);
  const std::vector<int> mlp_only = reader.int_list_or("mlp_only_layers", {});
  for (int layer : mlp_only) {
    if (layer < 0 || layer >= config.n_layers) {
      reader.fail_key("mlp_only_layers", fmt::format("layer indices in [0, {})", config.n_layers));
    }
  }
  for (int i = 0; i < config.n_layers; ++i) {
    const bool dense = std::find(mlp_only.begin(), mlp_only.end(), i) != mlp_only.end();
    config.layers[static_cast<size_t>(i)].is_moe = !dense && (i + 1) % sparse_step == 0;
  }
  const bool any_dense = std::any_of(config.layers.begin(), config.layers.end(), [](auto& l) { return !l.is_moe; });
  if (any_dense) config.dense_ffn = reader.positive_int("intermediate_size");

  const bool sliding = reader.bool_or("use_sliding_window", false);
  const int window = sliding ? reader.positive_int("sliding_window") : 0;
  if (config.family == Family::kQwen2Moe) {
    config.attention_bias = reader.bool_or("qkv_bias", true);
    config.moe.shared_expert_ffn = reader.int_or("shared_expert_intermediate_size", 0);
    config.moe.shared_expert_gated = config.moe.shared_expert_ffn > 0;
    if (!apply_layer_types(reader, config, window) && sliding) {
      // transformers' Qwen2-MoE default when the file has no layer_types.
      const int max_window_layers = reader.int_or("max_window_layers", config.n_layers);
      for (int i = 0; i < config.n_layers; ++i) {
        if ((i + 1) % 2 == 1 && i < max_window_layers) config.layers[static_cast<size_t>(i)].sliding_window = window;
      }
    }
  } else {
    config.attention_bias = reader.bool_or("attention_bias", false);
    config.qk_norm = QkNorm::kPerHead;
    for (auto& layer : config.layers) layer.sliding_window = window;
  }
}

void read_olmoe(const JsonReader& reader, ModelConfig& config) {
  config.moe.n_experts = reader.positive_int(reader.spelling({"num_experts", "num_local_experts"}));
  config.moe.top_k = reader.positive_int("num_experts_per_tok");
  config.moe.expert_ffn = reader.positive_int("intermediate_size");
  config.moe.router.renormalize_top_k = reader.bool_or("norm_topk_prob", false);
  config.attention_bias = reader.bool_or("attention_bias", false);
  config.qk_norm = QkNorm::kWholeProjection;
  if (reader.has("clip_qkv")) config.clip_qkv = reader.positive_float_or("clip_qkv", 0.0f);
}

}  // namespace

std::string family_name(Family family) {
  for (const auto& entry : kFamilies) {
    if (entry.family == family) return std::string(entry.model_type);
  }
  return "unknown";
}

ModelConfig parse_model_config(const nlohmann::json& json, const std::filesystem::path& path) {
  if (!json.is_object()) fail("{}: expected a JSON object, found {}", path.string(), json.type_name());
  const JsonReader reader(json, path);
  if (!reader.has("model_type") || !json["model_type"].is_string()) {
    reader.fail_key("model_type", fmt::format("one of: {}", supported_model_types()));
  }
  ModelConfig config;
  config.model_type = json["model_type"].get<std::string>();
  const auto entry = std::find_if(kFamilies.begin(), kFamilies.end(),
                                  [&](const FamilyEntry& e) { return e.model_type == config.model_type; });
  if (entry == kFamilies.end() && is_seq2seq_config(json)) {
    fail("{}: model_type '{}' is an encoder-decoder translation model: run it with `elephant translate`", path.string(),
         config.model_type);
  }
  if (entry == kFamilies.end()) {
    fail("{}: model_type '{}' is not supported (supported: {})", path.string(), config.model_type,
         supported_model_types());
  }
  config.family = entry->family;
  read_common(reader, config);
  switch (config.family) {
    case Family::kMixtral:
      read_mixtral(reader, config);
      break;
    case Family::kQwen2Moe:
    case Family::kQwen3Moe:
      read_qwen_moe(reader, config);
      break;
    case Family::kOlmoe:
      read_olmoe(reader, config);
      break;
    case Family::kCount:
      break;
  }
  validate(config, path);
  return config;
}

void validate(const ModelConfig& config, const std::filesystem::path& path) {
  const std::string file = path.string();
  if (config.n_heads % config.n_kv_heads != 0) {
    fail("{}: key 'num_key_value_heads': expected a divisor of num_attention_heads ({}), found {}", file,
         config.n_heads, config.n_kv_heads);
  }
  if (config.head_dim % 2 != 0) fail("{}: head_dim must be even for RoPE, found {}", file, config.head_dim);
  if (config.moe.top_k > config.moe.n_experts) {
    fail("{}: key 'num_experts_per_tok': expected at most the number of experts ({}), found {}", file,
         config.moe.n_experts, config.moe.top_k);
  }
  if (config.moe.shared_expert_ffn < 0) {
    fail("{}: key 'shared_expert_intermediate_size' must not be negative, found {}", file, config.moe.shared_expert_ffn);
  }
  if (config.bos_token_id >= config.vocab_size || config.bos_token_id < -1) {
    fail("{}: key 'bos_token_id': expected an id in [0, {}), found {}", file, config.vocab_size, config.bos_token_id);
  }
  for (int id : config.eos_token_ids) {
    if (id < 0 || id >= config.vocab_size) {
      fail("{}: key 'eos_token_id': expected ids in [0, {}), found {}", file, config.vocab_size, id);
    }
  }
}

void set_experts_per_token(ModelConfig& config, int top_k) {
  if (top_k < 1 || top_k > config.moe.n_experts) {
    fail("--experts-per-token {}: expected 1..{} (the model has {} experts per MoE layer)", top_k,
         config.moe.n_experts, config.moe.n_experts);
  }
  config.moe.top_k = top_k;
}

}  // namespace elephant::config
