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
