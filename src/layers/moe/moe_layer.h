// The one MoE layer of every family: route -> permute -> each active expert's SwiGLU over all its
// rows, the experts together (swiglu_forward_group) -> weighted un-permute (+ shared expert).
// Families differ only in data: the router rule's flags and whether a (gated) shared expert exists.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "config/model_config.h"
#include "layers/moe/expert_store.h"
#include "layers/swiglu.h"

namespace elephant::layers {

struct SharedExpert {
  SwigluWeights mlp;
  std::optional<ops::WeightMatrix> gate;  // [1, H]: output × sigmoid(gate·x) (Qwen2-MoE)
};

class MoeLayer {
 public:
  MoeLayer(const config::ModelConfig& config, int layer, ops::WeightMatrix router, ExpertStore& experts,
           std::optional<SharedExpert> shared);

  // x: [n_rows, H] normalised hidden states; out: [n_rows, H]. after_routing, when given, runs once
  // this step's experts are chosen and announced to the store, before any expert computes (the
  // model issues its pre-gating hint for the next layer there, so it cannot evict this layer's).
  void forward(const float* x, int64_t n_rows, float* out, const std::function<void()>& after_routing = {});

  // The experts this layer's router would choose for x (any rows, e.g. the previous layer's
  // input: speculative pre-gating), in increasing id. Changes nothing.
  std::vector<int> predict_experts(const float* x, int64_t n_rows) const;
  int layer() const { return layer_; }
  const ops::WeightMatrix& router() const { return router_; }
  const std::optional<SharedExpert>& shared() const { return shared_; }

 private:
  const config::ModelConfig& config_;
  int layer_;
  ops::WeightMatrix router_;  // [E, H]
  ExpertStore& experts_;
  std::optional<SharedExpert> shared_;
  // Reused across steps so decode does not allocate once buffers have grown.
  std::vector<float> permuted_x_;  // [n_rows * top_k, H]
  std::vector<float> permuted_y_;  // [n_rows * top_k, H]
  std::vector<float> shared_out_;  // [n_rows, H]
  std::vector<SwigluTask> tasks_;
  SwigluScratch scratch_;
};

}  // namespace elephant::layers
