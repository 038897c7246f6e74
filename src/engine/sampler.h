// Token selection from one row of logits, following the order of Hugging Face generate's logits
// processors: repetition penalty -> temperature -> top-k -> top-p -> min-p -> draw. Temperature 0
// (or every filter collapsing to one token) is greedy argmax, ties to the lower id.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace elephant::engine {

struct SamplingOptions {
  float temperature = 0.0f;         // 0: greedy
  int top_k = 0;                    // keep the k most likely tokens; 0: off
  float top_p = 1.0f;               // keep the smallest set with cumulative probability >= top_p; 1: off
  float min_p = 0.0f;               // drop tokens below min_p × the top probability; 0: off
  float repetition_penalty = 1.0f;  // > 1 discourages tokens already in the context; 1: off
  uint64_t seed = 0;                // same seed, same prompt, same options -> same tokens
};

// Throws Error naming the option when a value is out of range.
void validate(const SamplingOptions& options);

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;  // natural log of the token's probability, <= 0
};

struct TokenLogprobs {
  TokenLogprob chosen;            // the token that was generated
  std::vector<TokenLogprob> top;  // the most likely tokens, most likely first
};

// log_softmax(logits) at `token` and at the top_n most likely tokens (ties to the lower id).
// `logits` are the model's raw logits: OpenAI-style APIs report the model's distribution, not
// the one reshaped by penalties or temperature that the token was drawn from.
TokenLogprobs token_logprobs(std::span<const float> logits, int32_t token, int top_n);

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options);

  // logits: [vocab] (modified in place); context: prompt and generated ids (for the penalty).
  int32_t sample(std::span<float> logits, std::span<const int32_t> context);

 private:
  SamplingOptions options_;
  std::mt19937_64 rng_;
  std::vector<int32_t> candidates_;
  std::vector<float> probabilities_;
};

}  // namespace elephant::engine
