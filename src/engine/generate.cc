#include "engine/generate.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"

namespace elephant::engine {

std::string stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::kMaxTokens:
      return "max tokens";
    case StopReason::kEos:
      return "end of sequence";
    case StopReason::kStopString:
      return "stop string";
    case StopReason::kCallback:
      return "stopped by caller";
    case StopReason::kContextFull:
      return "context full";
  }
  return "unknown";
}

GenerateResult generate(models::Model& model, std::span<const int32_t> prompt, const GenerateOptions& options,
                        const GenerateCallbacks& callbacks) {
  if (prompt.empty()) fail("the prompt is empty: give at least one token");
  if (options.max_new_tokens < 0) fail("--max-tokens {}: expected >= 0", options.max_new_tokens);
  if (!options.stop_strings.empty() && !callbacks.detokenize) {
    fail("stop strings need a tokenizer to decode text (the model directory has none)");
  }
  Sampler sampler(options.sampling);
  layers::KvCache cache = model.make_kv_cache();
  if (static_cast<int64_t>(prompt.size()) > cache.capacity()) {
    fail("the prompt has {} tokens but the context holds {}", prompt.size(), cache.capacity());
  }
  std::vector<int32_t> eos = options.eos_token_ids;
  if (eos.empty()) eos.assign(model.config().eos_token_ids.begin(), model.config().eos_token_ids.end());
  std::vector<int32_t> context(prompt.begin(), prompt.end());
  GenerateResult result;
  using Clock = std::chrono::steady_clock;

  layers::RowBatch rows;
  for (size_t i = 0; i < prompt.size(); ++i) rows.add(prompt[i], static_cast<int32_t>(i), 0);
  std::vector<uint8_t> last_only(prompt.size(), 0);
  last_only.back() = 1;
  auto start = Clock::now();
  std::vector<float> logits = model.forward(rows, cache, last_only);
  result.prompt_seconds = std::chrono::duration<double>(Clock::now() - start).count();

  start = Clock::now();
  while (static_cast<int>(result.tokens.size()) < options.max_new_tokens) {
    const int32_t token = sampler.sample(logits, context);
    if (options.stop_on_eos && std::find(eos.begin(), eos.end(), token) != eos.end()) {
      result.stop_reason = StopReason::kEos;
      break;
    }
    result.tokens.push_back(token);
    context.push_back(token);
    if (callbacks.on_token && !callbacks.on_token(token)) {
      result.stop_reason = StopReason::kCallback;
      break;
    }
    if (!options.stop_strings.empty()) {
      const std::string text = callbacks.detokenize(result.tokens);
      const auto hit = std::find_if(options.stop_strings.begin(), options.stop_strings.end(),
                                    [&](const std::string& stop) { return text.find(stop) != std::string::npos; });
      if (hit != options.stop_strings.end()) {
        result.text = text.substr(0, text.find(*hit));
        result.stop_reason = StopReason::kStopString;
        break;
      }
    }
    if (static_cast<int>(result.tokens.size()) == options.max_new_tokens) break;
    if (static_cast<int64_t>(context.size()) >= cache.capacity()) {
      result.stop_reason = StopReason::kContextFull;
      break;
    }
    rows = {};
    rows.add(token, static_cast<int32_t>(context.size() - 1), 0);
    logits = model.forward(rows, cache);
  }
  result.generate_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (callbacks.detokenize && result.stop_reason != StopReason::kStopString) result.text = callbacks.detokenize(result.tokens);
  return result;
}

}  // namespace elephant::engine
