// Tensor names of each family's checkpoints, as Hugging Face stores them on disk: one 2-D tensor
// per expert (the Hub layout, which transformers 5 also writes by default), or the fused 3-D
// expert tensors that transformers 5 writes with save_original_format=False. The shared decoder skeleton (embeddings,
// attention, norms, lm_head) has the same names in every supported family.
//
// Patterns are fmt strings: {0} is the layer index, {1} the expert index.
#pragma once

#include <string>

#include "config/model_config.h"

namespace elephant::models {

struct FamilyTensorNames {
  std::string router;                                      // [E, H]
  std::string expert_gate, expert_up, expert_down;         // [I, H], [I, H], [H, I]
  std::string dense_gate, dense_up, dense_down;            // dense MLP layers
  std::string shared_gate, shared_up, shared_down;         // shared expert; empty: none
  std::string shared_expert_gate;                          // [1, H]; empty: ungated
  // transformers 5's fused layout (save_original_format=False), the same in every family:
  std::string fused_router = "model.layers.{0}.mlp.gate.weight";               // [E, H]
  std::string fused_gate_up = "model.layers.{0}.mlp.experts.gate_up_proj";     // [E, 2I, H], gate rows first
  std::string fused_down = "model.layers.{0}.mlp.experts.down_proj";           // [E, H, I]
};

const FamilyTensorNames& family_tensor_names(config::Family family);

}  // namespace elephant::models
