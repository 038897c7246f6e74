#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace elephant::engine {

void validate(const SamplingOptions& options) {
  if (!(options.temperature >= 0.0f) || !std::isfinite(options.temperature)) {
    fail("--temperature {}: expected a finite value >= 0", options.temperature);
  }
  if (options.top_k < 0) fail("--top-k {}: expected >= 0 (0 disables it)", options.top_k);
  if (!(options.top_p > 0.0f && options.top_p <= 1.0f)) fail("--top-p {}: expected a value in (0, 1]", options.top_p);
  if (!(options.min_p >= 0.0f && options.min_p <= 1.0f)) fail("--min-p {}: expected a value in [0, 1]", options.min_p);
  if (!(options.repetition_penalty > 0.0f) || !std::isfinite(options.repetition_penalty)) {
    fail("--repetition-penalty {}: expected a finite value > 0", options.repetition_penalty);
  }
}

TokenLogprobs token_logprobs(std::span<const float> logits, int32_t token, int top_n) {
  const auto vocab = static_cast<int32_t>(logits.size());
  if (token < 0 || token >= vocab) fail("logprobs: token id {} is outside the vocabulary [0, {})", token, vocab);
  if (top_n < 0) fail("logprobs: top_n {}: expected >= 0", top_n);
  // Shifting by the maximum keeps exp() in range; double sums keep the normaliser exact to float.
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double total = 0.0;
  for (float logit : logits) total += std::exp(static_cast<double>(logit) - max_logit);
  const double log_normaliser = max_logit + std::log(total);
  const auto logprob = [&](int32_t id) { return static_cast<float>(logits[static_cast<size_t>(id)] - log_normaliser); };
  TokenLogprobs result;
  result.chosen = {token, logprob(token)};
  std::vector<int32_t> ids(static_cast<size_t>(vocab));
  std::iota(ids.begin(), ids.end(), 0);
  const auto kept = std::min<size_t>(static_cast<size_t>(top_n), ids.size());
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(kept), ids.end(), [&](int32_t a, int32_t b) {
    const float la = logits[static_cast<size_t>(a)];
    const float lb = logits[static_cast<size_t>(b)];
    return la != lb ? la > lb : a < b;
  });
  for (size_t i = 0; i < kept; ++i) result.top.push_back({ids[i], logprob(ids[i])});
  return result;
}

Sampler::Sampler(const SamplingOptions& options) : options_(options), rng_(options.seed) { validate(options); }

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> context) {
  const auto vocab = static_cast<int32_t>(logits.size());
  if (options_.repetition_penalty != 1.0f) {
    // Each distinct token is penalised once, however often it occurs (as in Hugging Face).
    std::vector<int32_t> seen(context.begin(), context.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int32_t id : seen) {
      if (id < 0 || id >= vocab) continue;
      float& value = logits[static_cast<size_t>(id)];
      value = value < 0.0f ? value * options_.repetition_penalty : value / options_.repetition_penalty;
    }
  }
  const auto argmax = [&] {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  };
  if (options_.temperature == 0.0f) return argmax();

  candidates_.resize(static_cast<size_t>(vocab));
  std::iota(candidates_.begin(), candidates_.end(), 0);
  const auto by_logit = [&](int32_t a, int32_t b) {
    return logits[static_cast<size_t>(a)] != logits[static_cast<size_t>(b)]
               ? logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)]
               : a < b;
  };
  std::sort(candidates_.begin(), candidates_.end(), by_logit);
  size_t kept = candidates_.size();
  if (options_.top_k > 0) kept = std::min(kept, static_cast<size_t>(options_.top_k));

  probabilities_.resize(kept);
  const float top = logits[static_cast<size_t>(candidates_[0])] / options_.temperature;
  double total = 0.0;
  for (size_t i = 0; i < kept; ++i) {
    probabilities_[i] = std::exp(logits[static_cast<size_t>(candidates_[i])] / options_.temperature - top);
    total += probabilities_[i];
  }
  for (size_t i = 0; i < kept; ++i) probabilities_[i] = static_cast<float>(probabilities_[i] / total);
  if (options_.top_p < 1.0f) {
    double cumulative = 0.0;
    for (size_t i = 0; i < kept; ++i) {
      cumulative += probabilities_[i];
      if (cumulative >= options_.top_p) {
        kept = i + 1;
        break;
      }
    }
  }
  if (options_.min_p > 0.0f) {
    const float threshold = options_.min_p * probabilities_[0];
    size_t above = 1;
    while (above < kept && probabilities_[above] >= threshold) ++above;
    kept = above;
  }
  std::discrete_distribution<size_t> draw(probabilities_.begin(), probabilities_.begin() + static_cast<long>(kept));
  return candidates_[draw(rng_)];
}

}  // namespace elephant::engine
