#include "models/random_shapes.h"

#include <array>
#include <charconv>

#include "core/error.h"

namespace elephant::models {
namespace {

struct NamedShape {
  std::string_view name;
  const char* config;  // config.json without num_hidden_layers
};

// Layer shapes from the released configs; the context is capped at 4096 so the KV cache of a
// 32-sequence batch stays within a workstation's memory.
constexpr std::array<NamedShape, 4> kShapes = {{
    {"mixtral", R"({"model_type": "mixtral", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336,
       "num_attention_heads": 32, "num_key_value_heads": 8, "num_local_experts": 8, "num_experts_per_tok": 2,
       "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 1000000.0, "bos_token_id": 1,
       "eos_token_id": 2})"},
    {"qwen3moe", R"({"model_type": "qwen3_moe", "vocab_size": 151936, "hidden_size": 2048, "moe_intermediate_size": 768,
       "intermediate_size": 6144, "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128,
       "num_experts": 128, "num_experts_per_tok": 8, "norm_topk_prob": true, "max_position_embeddings": 4096,
       "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "eos_token_id": 151645})"},
    {"olmoe", R"({"model_type": "olmoe", "vocab_size": 50304, "hidden_size": 2048, "intermediate_size": 1024,
       "num_attention_heads": 16, "num_key_value_heads": 16, "num_experts": 64, "num_experts_per_tok": 8,
       "norm_topk_prob": false, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
       "eos_token_id": 50279})"},
    // A small Mixtral-like shape for quick checks and tests.
    {"mini", R"({"model_type": "mixtral", "vocab_size": 1024, "hidden_size": 256, "intermediate_size": 512,
       "num_attention_heads": 8, "num_key_value_heads": 2, "num_local_experts": 8, "num_experts_per_tok": 2,
       "max_position_embeddings": 1024, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "eos_token_id": 2})"},
}};

}  // namespace

std::string random_shape_names() {
  std::string names;
  for (const auto& shape : kShapes) names += (names.empty() ? "" : ", ") + std::string(shape.name) + "-<N>L";
  return names;
}

nlohmann::json random_model_config(std::string_view shape) {
  const size_t dash = shape.rfind('-');
  int layers = 0;
  if (dash != std::string_view::npos && shape.size() > dash + 2 && shape.back() == 'L') {
    const auto digits = shape.substr(dash + 1, shape.size() - dash - 2);
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), layers);
    if (error != std::errc() || end != digits.data() + digits.size()) layers = 0;
  }
  for (const auto& named : kShapes) {
    if (dash == std::string_view::npos || shape.substr(0, dash) != named.name || layers < 1 || layers > 64) continue;
    nlohmann::json config = nlohmann::json::parse(named.config);
    config["num_hidden_layers"] = layers;
    return config;
  }
  fail("--random-model '{}': unknown shape (expected one of {}, with N from 1 to 64 layers, e.g. mixtral-4L)", shape,
       random_shape_names());
}

}  // namespace elephant::models
