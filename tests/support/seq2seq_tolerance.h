// Derived bounds for encoder-decoder outputs (see tolerance.h for the reasoning).
#pragma once

#include <algorithm>

#include "models/seq2seq_model.h"
#include "support/tolerance.h"

namespace elephant::testing {

// Reductions a decoder logit passes through: 4 per encoder layer (attention in/out, FFN in/out),
// 6 per decoder layer (+ cross-attention in/out), +1 for the LM head.
inline int64_t seq2seq_depth(const config::Seq2SeqConfig& c) {
  return 4 * int64_t{c.encoder.n_layers} + 6 * int64_t{c.decoder.n_layers} + 1;
}

// Longest reduction: d_model, inner attention width, FFN widths, or the longest sequence attended.
inline int64_t seq2seq_longest_reduction(const config::Seq2SeqConfig& c, int64_t longest_sequence) {
  return std::max({int64_t{c.d_model}, int64_t{c.n_heads} * c.head_dim, int64_t{c.encoder.ffn}, int64_t{c.decoder.ffn},
                   longest_sequence});
}

// A translation score is a mean of log-probs; each log-prob is off by at most twice a logit's
// error, so the logit bound carries over ×2. max_logit bounds |logit| for the model at hand.
inline double seq2seq_score_tolerance(const config::Seq2SeqConfig& c, int64_t longest_sequence, double max_logit) {
  return 2.0 * reduction_tolerance(kEpsF32, seq2seq_longest_reduction(c, longest_sequence), seq2seq_depth(c), max_logit);
}

}  // namespace elephant::testing
