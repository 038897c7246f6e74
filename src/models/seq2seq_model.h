// An encoder–decoder MoE translation model (Switch Transformers, NLLB-MoE) assembled from a
// checkpoint. The encoder runs once per source; its output becomes, per decoder layer, the
// cross-attention keys and values every hypothesis of that source reads. The decoder advances any
// set of hypotheses (of any sources) by one token per call, each with its own self-attention cache,
// so beam search and batch pruning are just choices of which caches to pass.
//
// Weight matrices are views into the memory-mapped checkpoint (dense or quantized, as for the
// decoder-only Model); norms, biases and the position-bias tables are widened to fp32 at load.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "config/seq2seq_config.h"
#include "format/checkpoint.h"
#include "layers/moe/seq2seq_moe.h"
#include "layers/relu_ffn.h"
#include "layers/seq2seq_attention.h"
#include "models/parameter_counts.h"

namespace elephant::models {

struct EncodedSource {
  int64_t length = 0;
  std::vector<float> hidden;                     // [length, d_model]: the encoder's final states
  std::vector<std::vector<float>> keys, values;  // per decoder layer: [length, inner] cross-attention K / V
};

// One hypothesis' decoder self-attention keys and values; copying it forks the hypothesis.
struct DecoderCache {
  int64_t length = 0;                            // tokens decoded so far
  std::vector<std::vector<float>> keys, values;  // per decoder layer: [length, inner]
};

class Seq2SeqModel {
 public:
  static std::unique_ptr<Seq2SeqModel> load(const std::filesystem::path& directory);

  const config::Seq2SeqConfig& config() const { return config_; }
  const format::Checkpoint& checkpoint() const { return *checkpoint_; }
  ParameterCounts parameter_counts() const { return counts_; }

  // Encodes each source (token ids, unpadded; all sources run as one batch of rows).
  std::vector<EncodedSource> encode(const std::vector<std::vector<int32_t>>& sources);

  // Appends tokens[r] to hypothesis r (at position caches[r]->length, attending sources[r]) and
  // returns the next-token logits [n_rows, vocab].
  std::vector<float> decode(std::span<const int32_t> tokens, std::span<DecoderCache* const> caches,
                            std::span<const EncodedSource* const> sources);

  // Routed-expert activity since load: rows each expert ran over, summed over MoE layers, and
  // tokens dropped for capacity (`elephant translate` stats and tests).
  uint64_t expert_rows() const;
  uint64_t dropped_rows() const;

 private:
  struct Norm {
    std::vector<float> weight, bias;  // bias empty for RMS norms
  };
  struct Block {
    Norm self_attention_norm;
    layers::ProjectionWeights self_attention;
    Norm cross_attention_norm;               // decoder only
    layers::ProjectionWeights cross_attention;  // decoder only
    Norm ffn_norm;
    layers::ReluFfnWeights dense;
    std::unique_ptr<layers::Seq2SeqMoeLayer> moe;  // null for dense blocks
  };

  Seq2SeqModel() = default;
  void load_weights();
  void normalize(const Norm& norm, const float* x, int64_t n_rows, float* out) const;
  void embed(std::span<const int32_t> tokens, std::span<const int64_t> positions, float* out) const;
  void ffn(Block& block, const float* x, int64_t n_rows, std::span<const int32_t> segments, float* out);

  config::Seq2SeqConfig config_;
  std::unique_ptr<format::Checkpoint> checkpoint_;
  ParameterCounts counts_;
  ops::WeightMatrix embedding_;  // [V, d]
  ops::WeightMatrix lm_head_;    // [V, d]
  std::vector<Block> encoder_, decoder_;
  Norm encoder_final_norm_, decoder_final_norm_;
  layers::RelativePositionBias encoder_bias_, decoder_bias_;  // T5 only
  layers::ReluFfnScratch scratch_;
};

}  // namespace elephant::models
