// Multi-head attention of the encoder–decoder families: projections with optional biases, a fixed
// score scale, and for T5/Switch a learned relative-position bias added to the scores. The same
// row kernel serves encoder self-attention (a source's rows see the whole source), decoder
// self-attention (a hypothesis sees its own cached positions) and cross-attention (a hypothesis
// sees its source's encoder keys), so keys and values are passed as plain [n_keys, inner] arrays.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/ops.h"

namespace elephant::layers {

struct ProjectionWeights {
  ops::WeightMatrix q, k, v, o;  // [inner, H] ×3, [H, inner]
  std::vector<float> q_bias, k_bias, v_bias, o_bias;  // empty: none
};

// T5's bucketed relative-position bias: score(q, k) += table[bucket(k - q), head]. Encoders use
// bidirectional buckets (half for each sign); decoders see only the past.
class RelativePositionBias {
 public:
  RelativePositionBias() = default;
  RelativePositionBias(std::vector<float> table, int n_heads, int n_buckets, int max_distance, bool bidirectional);

  // The bucket transformers computes for relative = key position - query position. The
  // logarithmic part is evaluated in fp32 as torch does, so boundary distances (16, 32, 64 for
  // the default 32 buckets) land in the same bucket.
  static int bucket(int64_t relative, bool bidirectional, int n_buckets, int max_distance);

  bool empty() const { return table_.empty(); }
  float at(int head, int64_t relative) const;

 private:
  std::vector<float> table_;  // [n_buckets, n_heads]
  int n_heads_ = 0;
  int n_buckets_ = 0;
  int max_distance_ = 0;
  bool bidirectional_ = true;
};

// context[n_heads * hd] = softmax(scale · q·kᵀ + bias) · v for one query row over keys
// [0, n_keys) of row stride n_heads * hd. bias may be empty; query_position is the query's
// position for the relative bias. scores is scratch of at least n_keys floats.
void attend_row(const float* query, const float* keys, const float* values, int64_t n_keys, int n_heads, int64_t head_dim,
                float scale, const RelativePositionBias& bias, int64_t query_position, std::vector<float>& scores,
                float* context);

}  // namespace elephant::layers
