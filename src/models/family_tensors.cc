#include "models/family_tensors.h"

namespace elephant::models {
namespace {

FamilyTensorNames mixtral_names() {
  FamilyTensorNames names;
  names.router = "model.layers.{0}.block_sparse_moe.gate.weight";
  names.expert_gate = "model.layers.{0}.block_sparse_moe.experts.{1}.w1.weight";
  names.expert_up = "model.layers.{0}.block_sparse_moe.experts.{1}.w3.weight";
  names.expert_down = "model.layers.{0}.block_sparse_moe.experts.{1}.w2.weight";
  return names;
}

// Qwen2-MoE, Qwen3-MoE and OLMoE share the `mlp.*` naming; only Qwen2-MoE has a shared expert.
FamilyTensorNames mlp_names(bool shared_expert) {
  FamilyTensorNames names;
  names.router = "model.layers.{0}.mlp.gate.weight";
  names.expert_gate = "model.layers.{0}.mlp.experts.{1}.gate_proj.weight";
  names.expert_up = "model.layers.{0}.mlp.experts.{1}.up_proj.weight";
  names.expert_down = "model.layers.{0}.mlp.experts.{1}.down_proj.weight";
  names.dense_gate = "model.layers.{0}.mlp.gate_proj.weight";
  names.dense_up = "model.layers.{0}.mlp.up_proj.weight";
  names.dense_down = "model.layers.{0}.mlp.down_proj.weight";
  if (shared_expert) {
    names.shared_gate = "model.layers.{0}.mlp.shared_expert.gate_proj.weight";
    names.shared_up = "model.layers.{0}.mlp.shared_expert.up_proj.weight";
    names.shared_down = "model.layers.{0}.mlp.shared_expert.down_proj.weight";
    names.shared_expert_gate = "model.layers.{0}.mlp.shared_expert_gate.weight";
  }
  return names;
}

}  // namespace

const FamilyTensorNames& family_tensor_names(config::Family family) {
  static const FamilyTensorNames mixtral = mixtral_names();
  static const FamilyTensorNames qwen2_moe = mlp_names(true);
  static const FamilyTensorNames plain = mlp_names(false);
  switch (family) {
    case config::Family::kMixtral:
      return mixtral;
    case config::Family::kQwen2Moe:
      return qwen2_moe;
    default:
      return plain;
  }
}

}  // namespace elephant::models
