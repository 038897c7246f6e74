// StreamDecoder (see stream_decoder.h).
//
// Each step decodes a short window: the ids of the last emitted piece (context, so that decoder
// rules which depend on the previous token, like Metaspace's first-token space strip, see the same
// neighbourhood as in a full decode) followed by the ids not yet emitted. The new text is the
// window's decode minus the context's decode. It is held back while it ends in U+FFFD, which is
// how an unfinished UTF-8 sequence decodes; finish() releases it.
#include "tokenizer/stream_decoder.h"

#include "tokenizer/unicode.h"

namespace elephant::tokenizer {

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string StreamDecoder::step(int32_t id) {
  ids_.push_back(id);
  std::string text = tokenizer_.decode(ids_, skip_special_tokens_);
  if (text.size() <= emitted_prefix_.size() || !text.starts_with(emitted_prefix_) ||
      text.ends_with(kReplacementChar)) {
    return {};
  }
  std::string piece = text.substr(emitted_prefix_.size());
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(read_start_));
  read_start_ = ids_.size();
  emitted_prefix_ = tokenizer_.decode(ids_, skip_special_tokens_);
  return piece;
}

std::string StreamDecoder::finish() {
  std::string text = tokenizer_.decode(ids_, skip_special_tokens_);
  std::string piece = text.starts_with(emitted_prefix_) ? text.substr(emitted_prefix_.size()) : std::string();
  ids_.clear();
  read_start_ = 0;
  emitted_prefix_.clear();
  return piece;
}

}  // namespace elephant::tokenizer
