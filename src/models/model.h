// A decoder-only MoE language model assembled from a checkpoint: embeddings, a stack of
// [RMSNorm -> attention -> RMSNorm -> dense or MoE FFN] blocks with residuals, a final norm and the
// LM head. Every supported family is this one skeleton plus data (config fields and tensor names).
//
// Weight matrices are read from the memory-mapped checkpoint and, for the CPU kernels, copied once
// onto huge pages (weight_copies.h: BF16, int8 and int4 ones into the interleaved layouts where the
// kernels read them); small vectors (norm weights, biases) are widened to fp32 at load.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "config/model_config.h"
#include "format/checkpoint.h"
#include "layers/attention.h"
#include "layers/kv_cache.h"
#include "layers/moe/expert_store.h"
#include "layers/moe/moe_layer.h"
#include "layers/moe/offloading_expert_store.h"
#include "layers/rows.h"
#include "layers/swiglu.h"
#include "models/weight_copies.h"
#include "models/parameter_counts.h"

namespace elephant::models {

struct ModelOptions {
  std::optional<int> experts_per_token;  // unset: the checkpoint's num_experts_per_tok
  // Expert offload (docs/offload.md): unset keeps every expert resident (mapped); set, experts are
  // read from the checkpoint files into a RAM cache of this budget.
  std::optional<layers::ExpertCacheOptions> expert_cache;
  bool pregate = false;       // predict the next MoE layer's experts while this layer computes
  int pregate_lookahead = 1;  // with pregate: MoE layers ahead to predict, 1 or 2 (kMaxPregateDistance)
  // With pregate: at the end of a step, predict the next token's first MoE layers' experts from
  // this token's last hidden state, so their loads overlap the LM head, sampling and attention.
  bool pregate_next_token = true;
  int context_length = 0;     // longest sequence; 0: max_position_embeddings
  int kv_block_size = 16;     // positions per KV-cache block
  DType kv_dtype = DType::kF32;  // KV-cache elements: F32, or BF16 for half the memory and traffic
  // Copy resident matrices onto huge pages for the CPU kernels, into the interleaved layouts where
  // the kernels in use read them (weight_copies.h); off for a model that only feeds a GPU.
  bool cpu_weight_copies = true;
};

class Model {
 public:
  static std::unique_ptr<Model> load(const std::filesystem::path& directory, const ModelOptions& options = {});
  // A model over an already opened checkpoint (e.g. Checkpoint::random for benchmarks).
  static std::unique_ptr<Model> from_checkpoint(std::unique_ptr<format::Checkpoint> checkpoint,
                                                const ModelOptions& options = {});

  const config::ModelConfig& config() const { return config_; }
  const format::Checkpoint& checkpoint() const { return *checkpoint_; }
  layers::ExpertStore& experts() { return *experts_; }
  // The offloading store when the model was loaded with an expert cache; null otherwise.
  layers::OffloadingExpertStore* offloading_experts() { return offload_; }
  // The CPU kernels' load-time copies of the weights (what they hold, what was skipped).
  const WeightCopies& weight_copies() const { return copies_; }
  ParameterCounts parameter_counts() const { return counts_; }
  // A KV cache with room for n_sequences full-context sequences (blocks of kv_block_size).
  layers::KvCache make_kv_cache(int n_sequences = 1) const;
  // A KV cache of as many blocks as fit in budget_bytes (at least one full-context sequence).
  layers::KvCache make_kv_cache_for_budget(int64_t budget_bytes) const;
  DType kv_cache_dtype() const { return options_.kv_dtype; }
  // Bytes of the KV blocks one full-context sequence holds.
  int64_t kv_sequence_bytes() const;
  int64_t context_length() const;

  // Runs one step over all rows, reserving KV positions as needed (Error when the cache is full).
  // Returns logits [n_selected, vocab] for the rows whose
  // logits_rows entry is non-zero (every row when logits_rows is empty), in row order.
  std::vector<float> forward(const layers::RowBatch& rows, layers::KvCache& cache,
                             std::span<const uint8_t> logits_rows = {});

  // The loaded weights, read-only, for other backends (the CUDA model uploads them from here).
  struct Block {
    std::vector<float> input_norm;      // [H]
    std::vector<float> post_attention_norm;  // [H]
    std::unique_ptr<layers::Attention> attention;
    std::unique_ptr<layers::MoeLayer> moe;  // null for dense layers
    layers::SwigluWeights dense;
  };
  const std::vector<Block>& blocks() const { return blocks_; }
  const ops::WeightMatrix& embedding() const { return embedding_; }
  const ops::WeightMatrix& lm_head() const { return lm_head_; }
  const std::vector<float>& final_norm() const { return final_norm_; }

 private:

  Model() = default;
  void load_weights();
  // Speculative pre-gating hints for the next pregate_lookahead MoE layers after block `after`
  // (-1: from the start), each predicted by that layer's router on `normed` [n, H].
  struct Prediction {
    int layer, distance;
    std::vector<int> experts;
  };
  std::vector<Prediction> predict_next_moe_layers(int after, const float* normed, int64_t n) const;
  // The next-token hint: the first MoE layers' routers on this step's final hidden states [n, H]
  // (before the final norm), normed as the first MoE layer's FFN input. On the embedded LM it
  // predicts 45% of layer 0's experts, against 43% for reusing this token's (docs/offload.md);
  // the token's own embedding, the other input at hand, predicted 34%.
  void hint_next_token(const float* final_hidden, int64_t n_rows);

  config::ModelConfig config_;
  ModelOptions options_;
  std::unique_ptr<format::Checkpoint> checkpoint_;
  std::unique_ptr<layers::ExpertStore> experts_;
  layers::OffloadingExpertStore* offload_ = nullptr;  // experts_ when offloading
  ops::WeightMatrix embedding_;  // [V, H]
  ops::WeightMatrix lm_head_;    // [V, H]
  std::vector<float> final_norm_;
  std::vector<Block> blocks_;
  ParameterCounts counts_;
  layers::SwigluScratch scratch_;
  WeightCopies copies_;
};

}  // namespace elephant::models
