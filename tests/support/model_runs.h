// Ways the model tests run a decoder-only model: every position's logits of one prompt in one
// step, and a plain greedy continuation.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/generate.h"
#include "models/model.h"

namespace elephant::testing {

inline std::vector<float> all_position_logits(models::Model& model, const std::vector<int32_t>& prompt) {
  auto cache = model.make_kv_cache();
  layers::RowBatch rows;
  for (size_t i = 0; i < prompt.size(); ++i) rows.add(prompt[i], static_cast<int32_t>(i), 0);
  return model.forward(rows, cache);
}

// n_tokens greedy tokens, not stopping at EOS.
inline std::vector<int32_t> greedy(models::Model& model, const std::vector<int32_t>& prompt, int n_tokens) {
  engine::GenerateOptions options;
  options.max_new_tokens = n_tokens;
  options.stop_on_eos = false;
  return engine::generate(model, prompt, options).tokens;
}

}  // namespace elephant::testing
