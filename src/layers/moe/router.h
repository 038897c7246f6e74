// Routing rule R1 (Mixtral, Qwen2/3-MoE, OLMoE; docs/architecture.md): softmax over all E router
// logits in fp32, top-k, then optionally renormalise the k weights to sum to one.
//
// Ties follow torch.topk on CPU as observed for the pinned version: the lower expert id wins.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "config/model_config.h"

namespace elephant::layers {

struct Routing {
  int top_k = 0;
  std::vector<int32_t> experts;  // [n_rows, top_k] in descending probability
  std::vector<float> weights;    // [n_rows, top_k]
};

// logits: [n_rows, n_experts] (consumed: overwritten with probabilities).
Routing route_softmax_top_k(float* logits, int64_t n_rows, int n_experts, int top_k, const config::RouterConfig& rule);

// Routing rule R5 (Switch Transformers): softmax in fp32, the argmax expert (lowest id on ties,
// as torch.argmax) with weight p_max. An expert takes at most `capacity` tokens of one sequence,
// counted in row order; a token beyond it is dropped: expert id n_experts, weight 0 (its FFN
// output is zero and only the residual carries it). segments[r] names row r's sequence.
Routing route_top1_capacity(float* logits, int64_t n_rows, int n_experts, std::span<const int32_t> segments, int capacity);

// Routing rule R6 (NLLB-MoE, second_expert_policy "all", no capacity limit): softmax in fp32; e1 =
// argmax; e2 = argmax of the logits without e1; weights p_i / max(p1 + p2, FLT_EPSILON).
Routing route_top2_gshard(float* logits, int64_t n_rows, int n_experts);

}  // namespace elephant::layers
