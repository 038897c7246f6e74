// The typed configuration of encoder–decoder MoE translation models (Switch Transformers and
// NLLB-MoE). Both are one skeleton — embeddings, an encoder stack, a decoder stack with
// cross-attention, dense or MoE FFN blocks, final norms and the LM head — and every way they differ
// is a field here, filled from config.json by the family's reader (semantics: transformers 5.23's
// modeling files, summarised in docs/architecture.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace elephant::config {

enum class Seq2SeqFamily : uint8_t { kSwitchTransformers, kNllbMoe, kCount };

enum class NormKind : uint8_t {
  kRms,        // T5: x / sqrt(mean(x²) + eps) * w, no mean, no bias
  kLayerNorm,  // (x - mean) / sqrt(var + eps) * w + b
};

enum class PositionKind : uint8_t {
  kRelativeBuckets,  // T5: a learned per-head bias on attention scores, from bucketed distances
  kSinusoidal,       // fairseq/M2M100: fixed sinusoids added to the embeddings, offset by pad id
};

// How a token's router probabilities choose experts and weights.
enum class Seq2SeqRouting : uint8_t {
  kTop1Capacity,  // Switch (R5): argmax, weight p_max, at most `capacity` tokens per expert per sequence
  kTop2Gshard,    // NLLB-MoE (R6): argmax, then argmax of the rest; weights p_i / (p1 + p2)
};

struct StackConfig {
  int n_layers = 0;
  int ffn = 0;                  // width of dense FFN blocks and of each expert
  std::vector<uint8_t> is_moe;  // [n_layers]
};

struct Seq2SeqConfig {
  Seq2SeqFamily family = Seq2SeqFamily::kCount;
  std::string model_type;
  int vocab_size = 0;
  int d_model = 0;
  int n_heads = 0;
  int head_dim = 0;  // inner attention width is n_heads * head_dim
  StackConfig encoder, decoder;

  int n_experts = 0;
  Seq2SeqRouting routing = Seq2SeqRouting::kTop1Capacity;
  int top_k = 1;
  int expert_capacity = 0;         // kTop1Capacity: tokens per expert per sequence; beyond it a token's FFN output is 0
  float expert_output_scale = 1;   // NLLB: 1 - moe_token_dropout
  bool router_bias = false;

  NormKind norm = NormKind::kRms;
  float norm_eps = 1e-6f;
  PositionKind positions = PositionKind::kRelativeBuckets;
  int relative_buckets = 32;
  int relative_max_distance = 128;
  int max_positions = 0;           // sinusoidal: rows of the position table (0: unlimited)
  bool linear_bias = false;        // attention projections and FFNs carry biases (NLLB)
  float attention_scale = 1.0f;    // multiplies q·k (T5: 1, the scale is folded into the weights)
  float embedding_scale = 1.0f;    // NLLB: sqrt(d_model) when scale_embedding
  float output_scale = 1.0f;       // multiplies the final decoder state before the LM head (T5 tied: d^-0.5)
  bool tie_word_embeddings = true;

  int pad_token_id = 0;
  int eos_token_id = 1;
  int decoder_start_token_id = 0;
};

// True when config.json declares an encoder–decoder family this reader handles.
bool is_seq2seq_config(const nlohmann::json& json);

// Reads config.json of a supported encoder–decoder family; unsupported options are Errors naming
// the key, what is supported and what was found.
Seq2SeqConfig parse_seq2seq_config(const nlohmann::json& json, const std::filesystem::path& path);

}  // namespace elephant::config
