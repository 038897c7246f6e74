// The logit tolerance of a decoder-only model (tolerance.h's rule): the longest reduction in the
// model (hidden, q projection, expert/dense/shared width, sequence) and the number of reductions a
// logit passes through (4 per layer: attention in/out, FFN in/out; +1 for the LM head).
#pragma once

#include <algorithm>
#include <cstdint>

#include "config/model_config.h"
#include "support/tolerance.h"

namespace elephant::testing {

inline int64_t decoder_longest_reduction(const config::ModelConfig& c) {
  return std::max({int64_t{c.hidden_size}, int64_t{c.n_heads} * c.head_dim, int64_t{c.moe.expert_ffn},
                   int64_t{c.dense_ffn}, int64_t{c.moe.shared_expert_ffn}, int64_t{c.max_positions}});
}

inline int64_t decoder_reduction_depth(const config::ModelConfig& c) { return 4 * int64_t{c.n_layers} + 1; }

inline double decoder_logit_tolerance(const config::ModelConfig& c, double max_logit) {
  return reduction_tolerance(kEpsF32, decoder_longest_reduction(c), decoder_reduction_depth(c), max_logit);
}

}  // namespace elephant::testing
