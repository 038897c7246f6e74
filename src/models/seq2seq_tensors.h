// Tensor names of the encoder–decoder families' checkpoints, as transformers saves them. Patterns
// are fmt strings: {0} is the layer index, {1} the expert index. Matrices end in ".weight"; the
// family's biases (NLLB) sit beside them with ".bias".
#pragma once

#include <string>
#include <vector>

#include "config/seq2seq_config.h"

namespace elephant::models {

struct AttentionTensorNames {
  std::string prefix;                // e.g. "encoder.block.{0}.layer.0.SelfAttention."
  std::string q, k, v, o;            // matrix names under the prefix, without ".weight"
};

struct StackTensorNames {
  AttentionTensorNames self_attention;
  std::string self_attention_norm;   // without ".weight" / ".bias"
  AttentionTensorNames cross_attention;  // decoder only
  std::string cross_attention_norm;
  std::string ffn_norm;
  std::string dense_in, dense_out;   // dense FFN matrices, without ".weight"
  std::string router;                // without ".weight"
  std::string expert_in, expert_out; // routed expert matrices, without ".weight"
  std::string final_norm;
  std::string relative_bias;         // full name; empty: the family has none
};

struct Seq2SeqTensorNames {
  std::vector<std::string> embedding;  // the shared table: the first name the checkpoint has
  std::string lm_head;                 // read when the embeddings are not tied
  StackTensorNames encoder, decoder;
};

const Seq2SeqTensorNames& seq2seq_tensor_names(config::Seq2SeqFamily family);

}  // namespace elephant::models
