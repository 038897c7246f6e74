// Grouped-query self-attention with RoPE, optional q/k RMSNorm (per head or over the whole
// projection), optional q/k/v biases and clipping, causal with an optional sliding window, over a
// KvCache. Every row attends only to its own sequence's cache, so rows of different sequences in
// one batch never interact.
#pragma once

#include <vector>

#include "config/model_config.h"
#include "layers/kv_cache.h"
#include "layers/rows.h"
#include "ops/ops.h"

namespace elephant::layers {

struct AttentionWeights {
  ops::WeightMatrix q, k, v, o;           // [n_heads*hd, H], [n_kv*hd, H] ×2, [H, n_heads*hd]
  std::vector<float> q_bias, k_bias, v_bias;  // empty unless attention_bias
  std::vector<float> q_norm, k_norm;      // [hd] per head or [n_heads*hd] / [n_kv*hd]; empty: none
};

class Attention {
 public:
  Attention(const config::ModelConfig& config, int layer, AttentionWeights weights);

  // x: [n_rows, H] normalised hidden states; out: [n_rows, H]. Writes this layer's K/V of every
  // row into the cache before attending, so rows of one sequence in one batch see each other.
  void forward(const float* x, const RowBatch& rows, KvCache& cache, float* out) const;
  const AttentionWeights& weights() const { return weights_; }

 private:
  const config::ModelConfig& config_;
  int layer_;
  int sliding_window_;
  AttentionWeights weights_;
};

}  // namespace elephant::layers
