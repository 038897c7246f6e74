// The SwiGLU feed-forward block down(silu(gate·x) * up·x), used for dense MLP layers, routed
// experts and shared experts alike.
#pragma once

#include <cstdint>
#include <span>
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
  std::vector<float> gate;  // each task's [n_rows, I], one after another
  std::vector<float> up;    // the same
  std::vector<ops::GatedMatmulTask> gated_tasks;
  std::vector<ops::MatmulTask> down_tasks;
};

// out[n_rows, H] = SwiGLU(x[n_rows, H]).
void swiglu_forward(const SwigluWeights& weights, const float* x, int64_t n_rows, float* out, SwigluScratch& scratch);

// One block of a group: out[n_rows, H] = SwiGLU(x[n_rows, H]) with these weights.
struct SwigluTask {
  const SwigluWeights* weights;
  const float* x;
  int64_t n_rows;
  float* out;
};
// Every task's SwiGLU in two parallel passes (all gated halves, then all down projections;
// ops::matmul_group): the active experts of a MoE layer, and its shared expert, at once. Each
// output is bit for bit what swiglu_forward gives.
void swiglu_forward_group(std::span<const SwigluTask> tasks, SwigluScratch& scratch);

}  // namespace elephant::layers
