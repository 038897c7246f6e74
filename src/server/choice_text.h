// The text of one streamed choice, piece by piece. Stop strings are detected by the engine after
// a token has been streamed, so text that might be the start of a stop string is held back until
// the next tokens show it is not; the stop string itself is never sent.
#pragma once

#include <string>
#include <vector>

#include "engine/request.h"
#include "tokenizer/stream_decoder.h"

namespace elephant::server {

class ChoiceText {
 public:
  // `tokenizer` must outlive this object. Special tokens are not part of the text.
  ChoiceText(const tokenizer::Tokenizer& tokenizer, std::vector<std::string> stop_strings);

  // The text that `token` completes and that can no longer become part of a stop string.
  std::string add(int32_t token);
  // Everything not sent yet, given the finished sequence (cut at its stop string, if any).
  std::string finish(const engine::GenerateResult& result);

 private:
  tokenizer::StreamDecoder decoder_;
  std::vector<std::string> stop_strings_;
  std::string text_;  // decoded so far
  size_t sent_ = 0;   // bytes of text_ already returned
};

}  // namespace elephant::server
