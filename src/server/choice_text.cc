#include "server/choice_text.h"

#include <algorithm>

namespace elephant::server {

ChoiceText::ChoiceText(const tokenizer::Tokenizer& tokenizer, std::vector<std::string> stop_strings)
    : decoder_(tokenizer, true), stop_strings_(std::move(stop_strings)) {}

std::string ChoiceText::add(int32_t token) {
  text_ += decoder_.step(token);
  // The engine reports the token before it looks for stop strings, so a stop string may already
  // be complete here: nothing from its start on is sent. Beyond that, the longest tail of the text
  // that a stop string starts with is held back until later tokens rule the stop in or out.
  size_t held = 0;
  for (const auto& stop : stop_strings_) {
    const size_t longest = std::min(stop.size() - 1, text_.size() - sent_);
    for (size_t length = longest; length > held; --length) {
      if (text_.compare(text_.size() - length, length, stop, 0, length) == 0) {
        held = length;
        break;
      }
    }
  }
  size_t ready = text_.size() - held;
  for (const auto& stop : stop_strings_) ready = std::min(ready, text_.find(stop, sent_));
  std::string piece = text_.substr(sent_, ready - sent_);
  sent_ = ready;
  return piece;
}

std::string ChoiceText::finish(const engine::GenerateResult& result) {
  const std::string full =
      result.stop_reason == engine::StopReason::kStopString ? result.text : text_ + decoder_.finish();
  // Held-back text never contains the start of a stop match, so what was sent is a prefix of
  // the final text; anything else cannot be taken back and is not repeated.
  if (full.size() < sent_ || full.compare(0, sent_, text_, 0, sent_) != 0) return {};
  std::string rest = full.substr(sent_);
  sent_ = full.size();
  return rest;
}

}  // namespace elephant::server
