// StreamDecoder (see stream_decoder.h).
//
// Each step decodes a short window: the ids of the last emitted piece (context, so that decoder
// rules which depend on the previous token, like Metaspace's first-token space strip, see the same
// neighbourhood as in a full decode) followed by the ids not yet emitted. The new text is the
// window's decode minus the context's decode. It is held back while it ends in U+FFFD, which is
// how an unfinished UTF-8 sequence decodes; finish() releases it.
//
// Hugging Face's ByteFallback decoder judges a run of <0xXX> tokens as a whole: valid UTF-8 gives
// its text, anything else one U+FFFD per byte, so "€" followed by an invalid byte in the same run
// decodes to four U+FFFD. With such a decoder a run's text is final only once the run has ended,
// and byte tokens are held. Whether the tokenizer decodes runs that way is probed once, by
// decoding exactly that example (libsentencepiece's byte fallback, for one, decodes per character).
//
// While text is held the window grows with every id, and re-decoding it at every step would cost
// O(n²) over a long run of genuine U+FFFD (invalid bytes decode like an unfinished character).
// Past kEagerHeldIds held ids the window is decoded only when their count reaches a power of two:
// holding longer delays text but never changes it, and the total work stays linear.
#include "tokenizer/stream_decoder.h"

#include <bit>
#include <optional>

#include "tokenizer/decoders.h"
#include "tokenizer/unicode.h"

namespace elephant::tokenizer {

namespace {

constexpr std::size_t kEagerHeldIds = 16;

bool is_byte_token(const Tokenizer& tokenizer, int32_t id) {
  const std::optional<std::string> token = tokenizer.id_to_token(id);
  return token && byte_token_value(*token).has_value();
}

bool decodes_byte_runs_whole(const Tokenizer& tokenizer) {
  std::vector<int32_t> ids;
  for (const char* token : {"<0xE2>", "<0x82>", "<0xAC>", "<0xFF>"}) {
    const std::optional<int32_t> id = tokenizer.token_to_id(token);
    if (!id || !is_byte_token(tokenizer, *id)) return false;
    ids.push_back(*id);
  }
  return !tokenizer.decode(ids).starts_with("\xE2\x82\xAC");
}

}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer),
      skip_special_tokens_(skip_special_tokens),
      hold_byte_runs_(decodes_byte_runs_whole(tokenizer)) {}

std::string StreamDecoder::step(int32_t id) {
  ids_.push_back(id);
  if (hold_byte_runs_ && is_byte_token(tokenizer_, id)) return {};
  const std::size_t held = ids_.size() - read_start_;
  if (held > kEagerHeldIds && !std::has_single_bit(held)) return {};
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
