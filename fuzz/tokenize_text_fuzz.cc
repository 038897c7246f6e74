// Arbitrary bytes as a prompt, through the shipped models' tokenizers (BPE byte-level and
// Unigram): encode never throws or crashes, ids stay in the vocabulary, decoding gives valid UTF-8
// text back unchanged through byte-level BPE, and the streaming decoder's pieces add up to the
// full decode.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

const elephant::tokenizer::Tokenizer& tokenizer(int which) {
  static const auto lm = elephant::tokenizer::Tokenizer::load(ELEPHANT_MODELS_DIR "/elephant-tiny-lm");
  static const auto mt = elephant::tokenizer::Tokenizer::load(ELEPHANT_MODELS_DIR "/elephant-tiny-mt");
  return which == 0 ? *lm : *mt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (int which = 0; which < 2; ++which) {
    const auto& t = tokenizer(which);
    for (const bool parse_special : {false, true}) {
      const std::vector<int32_t> ids = t.encode(text, /*add_special_tokens=*/true, parse_special);
      for (const int32_t id : ids) {
        if (id < 0 || id >= t.vocab_size()) std::abort();
      }
      const std::string decoded = t.decode(ids, /*skip_special_tokens=*/true);
      if (which == 0 && !parse_special && elephant::tokenizer::is_valid_utf8(text) && decoded != text) std::abort();
      elephant::tokenizer::StreamDecoder stream(t);
      std::string streamed;
      for (const int32_t id : ids) streamed += stream.step(id);
      streamed += stream.finish();
      if (streamed != t.decode(ids)) std::abort();
    }
  }
  return 0;
}
