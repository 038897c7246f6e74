// The typed model configuration: every way the supported families differ is a field or a scoped
// enum here, filled from config.json by the family's reader. Layers and models branch on these
// fields, never on model names.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace elephant::config {

enum class Family : uint8_t { kMixtral, kQwen2Moe, kQwen3Moe, kOlmoe, kCount };

// Where attention normalises queries and keys before RoPE.
enum class QkNorm : uint8_t {
  kNone,
  kPerHead,          // RMSNorm over head_dim for every head (Qwen3-MoE)
  kWholeProjection,  // RMSNorm over the whole q / k projection (OLMoE)
  kCount,
};

// How router probabilities become the k expert weights (docs: MOE-FAMILIES.md, rule R1).
struct RouterConfig {
  bool renormalize_top_k = true;  // divide the k selected probabilities by their sum
};

struct MoeConfig {
  int n_experts = 0;          // routed experts per MoE layer, E
  int top_k = 0;              // experts per token, 1..E
  int expert_ffn = 0;         // width I of one routed expert
  int shared_expert_ffn = 0;  // width of the always-on shared expert; 0: none
  bool shared_expert_gated = false;  // shared expert output × sigmoid(Linear(H->1)(x)) (Qwen2-MoE)
  RouterConfig router;
};

struct LayerConfig {
  bool is_moe = true;      // MoE FFN, else a dense SwiGLU MLP of width dense_ffn
  int sliding_window = 0;  // a query at position q sees keys k with q - k < sliding_window; 0: full causal
};

struct ModelConfig {
  Family family = Family::kCount;
  std::string model_type;       // config.json spelling, for messages
  int vocab_size = 0;
  int hidden_size = 0;          // H
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;           // grouped-query attention: n_heads % n_kv_heads == 0
  int head_dim = 0;
  int dense_ffn = 0;            // width of dense MLP layers; 0 when every layer is MoE
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.0f;
  int max_positions = 0;        // max_position_embeddings
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v projections carry biases
  QkNorm qk_norm = QkNorm::kNone;
  float clip_qkv = 0.0f;        // clamp q, k, v to [-clip, clip] after projection; 0: off
  MoeConfig moe;
  std::vector<LayerConfig> layers;  // [n_layers]
  int bos_token_id = -1;
  std::vector<int> eos_token_ids;
};

std::string family_name(Family family);

// Reads config.json of a supported family; an unknown model_type or an unsupported option is an
// Error that lists what is supported.
ModelConfig parse_model_config(const nlohmann::json& json, const std::filesystem::path& path);

// Checks cross-field invariants (divisibility, ranges); throws Error naming the field.
void validate(const ModelConfig& config, const std::filesystem::path& path);

// Overrides the number of experts per token (`--experts-per-token`), validated against E.
void set_experts_per_token(ModelConfig& config, int top_k);

}  // namespace elephant::config
