// config.json readers for the encoder–decoder families. Keys and defaults follow transformers
// 5.23's SwitchTransformersConfig and NllbMoeConfig; a value that would change the model's
// semantics in a way the engine does not implement is refused with the key named.
#include "config/seq2seq_config.h"

#include <fmt/format.h>

#include <cmath>

#include "config/json_reader.h"
#include "core/error.h"

namespace elephant::config {
namespace {

void require_string(const JsonReader& reader, const std::string& key, const std::string& fallback,
                    const std::string& supported) {
  if (reader.string_or(key, fallback) != supported) reader.fail_key(key, fmt::format("\"{}\"", supported));
}

// SwitchTransformersConfig derives the step from the number of sparse layers; with none it sets
// the step to the layer count, which (as in transformers) still makes layer 1 sparse when there
// are more than one layer.
std::vector<uint8_t> switch_sparse_layers(int n_layers, int n_sparse) {
  const int step = n_sparse > 0 ? n_layers / n_sparse : n_layers;
  std::vector<uint8_t> is_moe(static_cast<size_t>(n_layers), 0);
  for (int i = 0; i < n_layers && step > 0; ++i) is_moe[static_cast<size_t>(i)] = i % step == 1 || step == 1;
  return is_moe;
}

void read_switch(const JsonReader& reader, Seq2SeqConfig& config) {
  config.d_model = reader.positive_int("d_model");
  config.n_heads = reader.positive_int("num_heads");
  config.head_dim = reader.positive_int("d_kv");
  config.encoder.n_layers = reader.layer_count("num_layers");
  config.decoder.n_layers =
      reader.has("num_decoder_layers") ? reader.layer_count("num_decoder_layers") : config.encoder.n_layers;
  config.encoder.ffn = config.decoder.ffn = reader.positive_int("d_ff");
  config.encoder.is_moe = switch_sparse_layers(config.encoder.n_layers, reader.int_or("num_sparse_encoder_layers", 3));
  config.decoder.is_moe = switch_sparse_layers(config.decoder.n_layers, reader.int_or("num_sparse_decoder_layers", 3));
  config.n_experts = reader.positive_int_or("num_experts", 8);
  config.routing = Seq2SeqRouting::kTop1Capacity;
  config.top_k = 1;
  config.expert_capacity = reader.positive_int_or("expert_capacity", 64);
  config.router_bias = reader.bool_or("router_bias", false);
  require_string(reader, "router_dtype", "float32", "float32");
  require_string(reader, "dense_act_fn", "relu", "relu");
  if (reader.bool_or("is_gated_act", false)) reader.fail_key("is_gated_act", "false (gated FFNs are not implemented)");
  config.norm = NormKind::kRms;
  config.norm_eps = reader.positive_float_or("layer_norm_epsilon", 1e-6f);
  config.positions = PositionKind::kRelativeBuckets;
  config.relative_buckets = reader.positive_int_or("relative_attention_num_buckets", 32);
  config.relative_max_distance = reader.positive_int_or("relative_attention_max_distance", 128);
  config.linear_bias = false;
  config.attention_scale = 1.0f;
  config.tie_word_embeddings = reader.bool_or("tie_word_embeddings", true);
  config.output_scale = config.tie_word_embeddings ? 1.0f / std::sqrt(static_cast<float>(config.d_model)) : 1.0f;
  config.pad_token_id = reader.int_or("pad_token_id", 0);
  config.eos_token_id = reader.int_or("eos_token_id", 1);
  config.decoder_start_token_id = reader.int_or("decoder_start_token_id", 0);
}

void read_nllb_moe(const JsonReader& reader, Seq2SeqConfig& config) {
  config.d_model = reader.positive_int("d_model");
  config.n_heads = reader.positive_int("encoder_attention_heads");
  if (reader.positive_int_or("decoder_attention_heads", config.n_heads) != config.n_heads) {
    reader.fail_key("decoder_attention_heads", fmt::format("{} (encoder_attention_heads)", config.n_heads));
  }
  if (config.d_model % config.n_heads != 0) {
    reader.fail_key("encoder_attention_heads", fmt::format("a divisor of d_model {}", config.d_model));
  }
  config.head_dim = config.d_model / config.n_heads;
  config.encoder.n_layers = reader.layer_count("encoder_layers");
  config.decoder.n_layers = reader.layer_count("decoder_layers");
  config.encoder.ffn = reader.positive_int("encoder_ffn_dim");
  config.decoder.ffn = reader.positive_int("decoder_ffn_dim");
  for (auto [stack, key] : {std::pair{&config.encoder, "encoder_sparse_step"}, std::pair{&config.decoder, "decoder_sparse_step"}}) {
    const int step = reader.int_or(key, 4);
    stack->is_moe.assign(static_cast<size_t>(stack->n_layers), 0);
    for (int i = 0; i < stack->n_layers && step > 0; ++i) stack->is_moe[static_cast<size_t>(i)] = (i + 1) % step == 0;
  }
  config.n_experts = reader.positive_int_or("num_experts", 128);
  config.routing = Seq2SeqRouting::kTop2Gshard;
  config.top_k = 2;
  config.router_bias = reader.bool_or("router_bias", false);
  require_string(reader, "router_dtype", "float32", "float32");
  require_string(reader, "second_expert_policy", "all", "all");
  require_string(reader, "activation_function", "relu", "relu");
  if (reader.bool_or("batch_prioritized_routing", false)) {
    reader.fail_key("batch_prioritized_routing", "false (the routing would depend on the rest of the batch)");
  }
  // With a fraction of 1 every expert can take every token of the batch, so nothing is dropped
  // and a token's routing never depends on other sentences; smaller fractions drop batch-dependently.
  reader.float_in_or("moe_eval_capacity_token_fraction", 1.0f, 1e9f, 1.0f);
  config.expert_output_scale = 1.0f - reader.float_in_or("moe_token_dropout", 0.0f, 0.99f, 0.2f);
  config.norm = NormKind::kLayerNorm;
  config.norm_eps = 1e-5f;  // nn.LayerNorm's default; the config has no key for it
  config.positions = PositionKind::kSinusoidal;
  config.max_positions = reader.positive_int("max_position_embeddings");
  config.linear_bias = true;
  config.attention_scale = 1.0f / std::sqrt(static_cast<float>(config.head_dim));
  config.embedding_scale = reader.bool_or("scale_embedding", true) ? std::sqrt(static_cast<float>(config.d_model)) : 1.0f;
  config.tie_word_embeddings = reader.bool_or("tie_word_embeddings", true);
  config.pad_token_id = reader.int_or("pad_token_id", 1);
  config.eos_token_id = reader.int_or("eos_token_id", 2);
  config.decoder_start_token_id = reader.int_or("decoder_start_token_id", 2);
}

}  // namespace

bool is_seq2seq_config(const nlohmann::json& json) {
  if (!json.is_object() || !json.contains("model_type") || !json["model_type"].is_string()) return false;
  const auto type = json["model_type"].get<std::string>();
  // transformers writes "nllb-moe" (NllbMoeConfig.model_type); accept the underscore spelling too.
  return type == "switch_transformers" || type == "nllb-moe" || type == "nllb_moe";
}

Seq2SeqConfig parse_seq2seq_config(const nlohmann::json& json, const std::filesystem::path& path) {
  if (!is_seq2seq_config(json)) {
    fail("{}: key 'model_type': expected an encoder-decoder family (switch_transformers, nllb-moe)", path.string());
  }
  const JsonReader reader(json, path);
  Seq2SeqConfig config;
  config.model_type = json["model_type"].get<std::string>();
  config.vocab_size = reader.positive_int("vocab_size");
  if (config.model_type == "switch_transformers") {
    config.family = Seq2SeqFamily::kSwitchTransformers;
    read_switch(reader, config);
  } else {
    config.family = Seq2SeqFamily::kNllbMoe;
    read_nllb_moe(reader, config);
  }
  for (auto [key, id] : {std::pair{"pad_token_id", config.pad_token_id}, std::pair{"eos_token_id", config.eos_token_id},
                         std::pair{"decoder_start_token_id", config.decoder_start_token_id}}) {
    if (id < 0 || id >= config.vocab_size) reader.fail_key(key, fmt::format("an id in [0, {})", config.vocab_size));
  }
  return config;
}

}  // namespace elephant::config
