#include "engine/perplexity.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "core/error.h"

namespace elephant::engine {

double PerplexityResult::perplexity() const { return std::exp(mean_nll()); }

double PerplexityResult::reference_perplexity() const {
  return tokens_scored > 0 ? std::exp(reference_negative_log_likelihood / static_cast<double>(tokens_scored)) : 0.0;
}

namespace {

// log-softmax in double, so a long file's sums stay exact enough.
void log_softmax(std::span<const float> logits, std::vector<double>& out) {
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float logit : logits) sum += std::exp(static_cast<double>(logit) - max_logit);
  const double log_sum = std::log(sum) + max_logit;
  out.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - log_sum;
}

size_t argmax(std::span<const double> values) {
  return static_cast<size_t>(std::max_element(values.begin(), values.end()) - values.begin());
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
  if (options.reference && options.reference->config().vocab_size != vocab) {
    fail("the reference model's vocabulary ({}) differs from the model's ({})",
         options.reference->config().vocab_size, vocab);
  }
  if (options.reference && window > options.reference->context_length()) {
    fail("perplexity window {} is longer than the reference model's context length {}", window,
         options.reference->context_length());
  }
  for (int32_t id : tokens) {
    if (id < 0 || id >= vocab) fail("token id {} is outside the model's vocabulary [0, {})", id, vocab);
  }

  auto cache = model.make_kv_cache(1);
  std::optional<layers::KvCache> reference_cache;
  if (options.reference) reference_cache.emplace(options.reference->make_kv_cache(1));
  std::vector<double> log_probs, reference_log_probs;
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
    std::vector<float> reference_logits;
    if (options.reference) reference_logits = options.reference->forward(rows, *reference_cache, wanted);
    const auto row_of = [&](const std::vector<float>& all, size_t row) {
      return std::span(all).subspan(row * static_cast<size_t>(vocab), static_cast<size_t>(vocab));
    };
    size_t row = 0;
    for (int64_t target = first_target; target < end; ++target, ++row) {
      const auto token = static_cast<size_t>(tokens[static_cast<size_t>(target)]);
      log_softmax(row_of(logits, row), log_probs);
      result.negative_log_likelihood -= log_probs[token];
      if (!options.reference) continue;
      log_softmax(row_of(reference_logits, row), reference_log_probs);
      result.reference_negative_log_likelihood -= reference_log_probs[token];
      double kl = 0.0;
      for (size_t v = 0; v < log_probs.size(); ++v) {
        kl += std::exp(reference_log_probs[v]) * (reference_log_probs[v] - log_probs[v]);
      }
      result.kl_divergence += kl;
      result.same_top1 += argmax(log_probs) == argmax(reference_log_probs);
    }
    result.tokens_scored += end - first_target;
    scored_until = end;
    cache.release(0);
    if (reference_cache) reference_cache->release(0);
    ++result.windows;
    if (options.on_progress) options.on_progress(end, n);
  }
  return result;
}

}  // namespace elephant::engine
