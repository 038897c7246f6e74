#include "engine/perplexity.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace elephant::engine {

double PerplexityResult::perplexity() const { return std::exp(mean_nll()); }

namespace {

// -log softmax(logits)[target], accumulated in double so a long file's sum stays exact enough.
double token_nll(std::span<const float> logits, int32_t target) {
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float logit : logits) sum += std::exp(static_cast<double>(logit) - max_logit);
  return std::log(sum) + max_logit - static_cast<double>(logits[static_cast<size_t>(target)]);
}

}  // namespace

PerplexityResult perplexity(models::Model& model, std::span<const int32_t> tokens, const PerplexityOptions& options) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n < 2) fail("perplexity needs at least 2 tokens, got {}", n);
  const int64_t window = options.window > 0 ? options.window : model.context_length();
  const int64_t stride = options.stride > 0 ? options.stride : std::max<int64_t>(1, window / 2);
  if (window < 2) fail("perplexity window must be at least 2 tokens, got {}", window);
  if (window > model.context_length()) {
    fail("perplexity window {} is longer than the model's context length {}", window, model.context_length());
  }
  if (stride > window) fail("perplexity stride {} is larger than the window {}", stride, window);
  const int vocab = model.config().vocab_size;
  for (int32_t id : tokens) {
    if (id < 0 || id >= vocab) fail("token id {} is outside the model's vocabulary [0, {})", id, vocab);
  }

  auto cache = model.make_kv_cache(1);
  PerplexityResult result;
  int64_t scored_until = 0;  // targets before this were scored by an earlier window
  for (int64_t begin = 0; scored_until < n; begin += stride) {
    const int64_t end = std::min(begin + window, n);
    // Logits of position p predict token p + 1, so a window's first token is never a target:
    // with stride == window that token goes unscored, as in the reference.
    const int64_t first_target = std::max(scored_until, begin + 1);
    layers::RowBatch rows;
    std::vector<uint8_t> wanted(static_cast<size_t>(end - begin), 0);
    for (int64_t p = begin; p < end; ++p) {
      rows.add(tokens[static_cast<size_t>(p)], static_cast<int32_t>(p - begin), 0);
      if (p + 1 >= first_target && p + 1 < end) wanted[static_cast<size_t>(p - begin)] = 1;
    }
    const std::vector<float> logits = model.forward(rows, cache, wanted);
    size_t row = 0;
    for (int64_t target = first_target; target < end; ++target, ++row) {
      result.negative_log_likelihood +=
          token_nll(std::span(logits).subspan(row * static_cast<size_t>(vocab), static_cast<size_t>(vocab)),
                    tokens[static_cast<size_t>(target)]);
    }
    result.tokens_scored += end - first_target;
    scored_until = end;
    cache.release(0);
    ++result.windows;
    if (options.on_progress) options.on_progress(end, n);
  }
  return result;
}

}  // namespace elephant::engine
