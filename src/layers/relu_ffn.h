// The ReLU feed-forward block out(relu(in·x + b_in)) + b_out of the translation families: T5/Switch
// `DenseActDense` (wi, wo, no biases) and NLLB-MoE `fc1`/`fc2` (with biases), used for dense FFN
// blocks and for every routed expert alike.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/ops.h"

namespace elephant::layers {

struct ReluFfnWeights {
  ops::WeightMatrix in;         // [F, H]
  ops::WeightMatrix out;        // [H, F]
  std::vector<float> in_bias;   // [F] or empty
  std::vector<float> out_bias;  // [H] or empty
};

// Reused across calls so decoding does not allocate once the buffer has grown.
struct ReluFfnScratch {
  std::vector<float> hidden;  // [n_rows, F]
};

// out[n_rows, H] = FFN(x[n_rows, H]).
void relu_ffn_forward(const ReluFfnWeights& weights, const float* x, int64_t n_rows, float* out, ReluFfnScratch& scratch);

}  // namespace elephant::layers
