// Tensor names of each family's checkpoints, as Hugging Face stores them on disk (one 2-D tensor
// per expert; transformers v5 writes this layout too). The shared decoder skeleton (embeddings,
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
};

const FamilyTensorNames& family_tensor_names(config::Family family);

}  // namespace elephant::models
