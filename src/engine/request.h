// What a caller asks of the engine for one sequence, and what it gets back.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "engine/sampler.h"

namespace elephant::engine {

struct GenerateOptions {
  SamplingOptions sampling;
  int max_new_tokens = 64;
  bool stop_on_eos = true;
  std::vector<int32_t> eos_token_ids;     // empty: the model config's eos_token_id
  std::vector<std::string> stop_strings;  // needs `detokenize`
  int top_logprobs = -1;                  // >= 0: report log-probabilities through on_logprobs; -1: off
};

enum class StopReason { kMaxTokens, kEos, kStopString, kCallback, kContextFull, kCancelled };
std::string stop_reason_name(StopReason reason);

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids, without the prompt
  std::string text;             // decoded generated text when `detokenize` was given, cut at a stop string
  StopReason stop_reason = StopReason::kMaxTokens;
  int64_t prompt_tokens = 0;
  double prompt_seconds = 0.0;    // submission to first generated token (includes queueing)
  double generate_seconds = 0.0;  // first generated token to the end
};

struct GenerateCallbacks {
  // Called after every generated token; return false to stop the sequence.
  std::function<bool(int32_t token)> on_token;
  // Decodes generated ids to text; required for stop strings.
  std::function<std::string(std::span<const int32_t>)> detokenize;
  // Called once when the sequence ends, whatever the reason.
  std::function<void(const GenerateResult&)> on_finish;
  // With options.top_logprobs >= 0: called just before on_token for the same token, with its
  // log-probability and the top_logprobs most likely tokens' (see token_logprobs in sampler.h).
  std::function<void(const TokenLogprobs&)> on_logprobs;
};

struct Request {
  std::vector<int32_t> prompt;
  GenerateOptions options;
  GenerateCallbacks callbacks;
};

}  // namespace elephant::engine
