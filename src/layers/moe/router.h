// Routing rule R1 (Mixtral, Qwen2/3-MoE, OLMoE; docs/architecture.md): softmax over all E router
// logits in fp32, top-k, then optionally renormalise the k weights to sum to one.
//
// Ties follow torch.topk on CPU as observed for the pinned version: the lower expert id wins.
#pragma once

#include <cstdint>
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

}  // namespace elephant::layers
