// Single-sequence generation: one prefill step over the whole prompt, then one decode step per
// token, sampling with the given options, stopping on EOS, a stop string, or the token limit.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "models/model.h"

namespace elephant::engine {

struct GenerateOptions {
  SamplingOptions sampling;
  int max_new_tokens = 64;
  bool stop_on_eos = true;
  std::vector<int32_t> eos_token_ids;     // empty: the model config's eos_token_id
  std::vector<std::string> stop_strings;  // needs `detokenize`
};

enum class StopReason { kMaxTokens, kEos, kStopString, kCallback, kContextFull };

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (without the prompt; without a matched stop string's tokens kept)
  std::string text;             // decoded generated text when `detokenize` was given, cut at a stop string
  StopReason stop_reason = StopReason::kMaxTokens;
  double prompt_seconds = 0.0;
  double generate_seconds = 0.0;
};

struct GenerateCallbacks {
  // Called after every generated token; return false to stop.
  std::function<bool(int32_t token)> on_token;
  // Decodes generated ids to text; required for stop strings.
  std::function<std::string(std::span<const int32_t>)> detokenize;
};

GenerateResult generate(models::Model& model, std::span<const int32_t> prompt, const GenerateOptions& options,
                        const GenerateCallbacks& callbacks = {});

std::string stop_reason_name(StopReason reason);

}  // namespace elephant::engine
