// The MoE FFN of the translation families: route (R5 Switch top-1 with per-sequence capacity, or
// R6 NLLB top-2) -> group rows by expert -> one ReLU FFN pass per expert that received rows ->
// weighted sum per row in increasing expert id (× the family's expert output scale). A token
// dropped for capacity gets a zero output.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "config/seq2seq_config.h"
#include "layers/relu_ffn.h"

namespace elephant::layers {

class Seq2SeqMoeLayer {
 public:
  Seq2SeqMoeLayer(const config::Seq2SeqConfig& config, ops::WeightMatrix router, std::vector<float> router_bias,
                  std::vector<ReluFfnWeights> experts);

  // x: [n_rows, H] normalised hidden states; segments[r]: the sequence row r belongs to (capacity
  // is counted per sequence, in row order); out: [n_rows, H].
  void forward(const float* x, int64_t n_rows, std::span<const int32_t> segments, float* out);

  // Rows each expert has run over so far, and tokens dropped for capacity (tests, stats).
  uint64_t expert_rows(int expert) const { return expert_rows_[static_cast<size_t>(expert)]; }
  uint64_t dropped_rows() const { return dropped_rows_; }

 private:
  const config::Seq2SeqConfig& config_;
  ops::WeightMatrix router_;        // [E, H]
  std::vector<float> router_bias_;  // [E] or empty
  std::vector<ReluFfnWeights> experts_;
  std::vector<uint64_t> expert_rows_;
  uint64_t dropped_rows_ = 0;
  std::vector<float> permuted_x_, permuted_y_;
  ReluFfnScratch scratch_;
};

}  // namespace elephant::layers
