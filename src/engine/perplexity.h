// Perplexity of a model on a token sequence, scored with a sliding window.
//
// The semantics are those of the Hugging Face perplexity guide (and of tools/eval/lm_eval.py,
// which computes our references with transformers): windows of at most `window` tokens start
// every `stride` tokens; each window scores only the tokens the previous window did not, each
// conditioned on everything before it inside the window. The first token is never scored (nothing
// predicts it). stride == window gives disjoint windows; a smaller stride gives every scored
// token at least window - stride tokens of context.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "models/model.h"

namespace elephant::engine {

struct PerplexityOptions {
  int64_t window = 0;  // 0: the model's context length
  int64_t stride = 0;  // 0: window / 2
  // When set, the same windows also run through this model (e.g. the full-precision original of
  // a quantized model) and the result carries the KL divergence from it.
  models::Model* reference = nullptr;
  // Called after every window with how far into the sequence the scoring has come.
  std::function<void(int64_t done, int64_t total)> on_progress;
};

struct PerplexityResult {
  int64_t tokens_scored = 0;
  double negative_log_likelihood = 0.0;  // summed over the scored tokens, natural log
  int64_t windows = 0;
  // With a reference model: sum over scored tokens of KL(reference || model), natural log, the
  // reference's NLL, and how many tokens both give the same most likely next token.
  double kl_divergence = 0.0;
  double reference_negative_log_likelihood = 0.0;
  int64_t same_top1 = 0;
  double mean_nll() const { return tokens_scored > 0 ? negative_log_likelihood / static_cast<double>(tokens_scored) : 0.0; }
  double perplexity() const;
  double mean_kl() const { return tokens_scored > 0 ? kl_divergence / static_cast<double>(tokens_scored) : 0.0; }
  double reference_perplexity() const;
};

// Throws Error when the sequence has fewer than two tokens, the window/stride are invalid or the
// reference model's vocabulary differs.
PerplexityResult perplexity(models::Model& model, std::span<const int32_t> tokens, const PerplexityOptions& options);

}  // namespace elephant::engine
