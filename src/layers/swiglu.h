// The SwiGLU feed-forward block down(silu(gate·x) * up·x), used for dense MLP layers, routed
// experts and shared experts alike.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/ops.h"

namespace elephant::layers {

struct SwigluWeights {
  ops::WeightMatrix gate;  // [I, H]
  ops::WeightMatrix up;    // [I, H]
  ops::WeightMatrix down;  // [H, I]
};

// Scratch buffers reused across calls so the hot path does not allocate once they have grown.
struct SwigluScratch {
  std::vector<float> gate;  // [n_rows, I]
  std::vector<float> up;    // [n_rows, I]
};

// out[n_rows, H] = SwiGLU(x[n_rows, H]).
void swiglu_forward(const SwigluWeights& weights, const float* x, int64_t n_rows, float* out, SwigluScratch& scratch);

}  // namespace elephant::layers
