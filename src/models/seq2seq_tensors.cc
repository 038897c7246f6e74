#include "models/seq2seq_tensors.h"

namespace elephant::models {
namespace {

StackTensorNames switch_stack(const std::string& stack, bool decoder) {
  const std::string block = stack + ".block.{0}.";
  const std::string ffn = block + (decoder ? "layer.2." : "layer.1.");
  StackTensorNames names;
  names.self_attention = {block + "layer.0.SelfAttention.", "q", "k", "v", "o"};
  names.self_attention_norm = block + "layer.0.layer_norm";
  if (decoder) {
    names.cross_attention = {block + "layer.1.EncDecAttention.", "q", "k", "v", "o"};
    names.cross_attention_norm = block + "layer.1.layer_norm";
  }
  names.ffn_norm = ffn + "layer_norm";
  names.dense_in = ffn + "mlp.wi";
  names.dense_out = ffn + "mlp.wo";
  names.router = ffn + "mlp.router.classifier";
  names.expert_in = ffn + "mlp.experts.expert_{1}.wi";
  names.expert_out = ffn + "mlp.experts.expert_{1}.wo";
  names.final_norm = stack + ".final_layer_norm";
  names.relative_bias = stack + ".block.0.layer.0.SelfAttention.relative_attention_bias.weight";
  return names;
}

StackTensorNames nllb_stack(const std::string& stack, bool decoder) {
  const std::string layer = "model." + stack + ".layers.{0}.";
  StackTensorNames names;
  names.self_attention = {layer + "self_attn.", "q_proj", "k_proj", "v_proj", "out_proj"};
  names.self_attention_norm = layer + "self_attn_layer_norm";
  if (decoder) {
    names.cross_attention = {layer + "cross_attention.", "q_proj", "k_proj", "v_proj", "out_proj"};
    names.cross_attention_norm = layer + "cross_attention_layer_norm";
  }
  names.ffn_norm = layer + "ff_layer_norm";
  names.dense_in = layer + "ffn.fc1";
  names.dense_out = layer + "ffn.fc2";
  names.router = layer + "ffn.router.classifier";
  names.expert_in = layer + "ffn.experts.expert_{1}.fc1";
  names.expert_out = layer + "ffn.experts.expert_{1}.fc2";
  names.final_norm = "model." + stack + ".layer_norm";
  return names;
}

}  // namespace

const Seq2SeqTensorNames& seq2seq_tensor_names(config::Seq2SeqFamily family) {
  static const Seq2SeqTensorNames kSwitch{{"shared.weight", "encoder.embed_tokens.weight"},
                                          "lm_head.weight",
                                          switch_stack("encoder", false),
                                          switch_stack("decoder", true)};
  static const Seq2SeqTensorNames kNllb{{"model.shared.weight", "model.encoder.embed_tokens.weight"},
                                        "lm_head.weight",
                                        nllb_stack("encoder", false),
                                        nllb_stack("decoder", true)};
  return family == config::Seq2SeqFamily::kNllbMoe ? kNllb : kSwitch;
}

}  // namespace elephant::models
