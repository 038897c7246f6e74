// Streaming detokenization: for every fixture tokenizer and every golden text, feeding the ids one
// at a time must emit only valid UTF-8 pieces whose concatenation is the full decode.
#include <gtest/gtest.h>

#include "golden.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace elephant::tokenizer::testing {
namespace {

std::string stream(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, bool skip_special,
                   std::size_t& invalid_pieces) {
  StreamDecoder decoder(tokenizer, skip_special);
  std::string text;
  auto take = [&](const std::string& piece) {
    if (!is_valid_utf8(piece)) ++invalid_pieces;
    text += piece;
  };
  for (int32_t id : ids) take(decoder.step(id));
  take(decoder.finish());
  return text;
}

class StreamDecoderTest : public ::testing::TestWithParam<std::string> {};

TEST_P(StreamDecoderTest, PiecesAreValidUtf8AndConcatenateToFullDecode) {
  auto directory = fixture_root() / GetParam();
  auto tokenizer = Tokenizer::load(directory);
  for (const auto& c : load_golden(directory)) {
    for (bool skip : {false, true}) {
      std::size_t invalid = 0;
      EXPECT_EQ(stream(*tokenizer, c.ids, skip, invalid), tokenizer->decode(c.ids, skip))
          << "skip_special=" << skip << " text bytes=" << c.text.size();
      EXPECT_EQ(invalid, 0u);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, StreamDecoderTest, ::testing::ValuesIn(golden_directories()),
                         [](const auto& info) { return info.param; });

// A character split across byte tokens is held back until it is complete.
TEST(StreamDecoder, HoldsPartialCharacters) {
  auto tokenizer = Tokenizer::load(fixture_root() / "bpe_byte_fallback");
  auto ids = tokenizer->encode("\xF0\x9F\x98\x80", false);  // an emoji outside the trained alphabet
  ASSERT_GE(ids.size(), 4u);
  StreamDecoder decoder(*tokenizer);
  std::string text;
  for (std::size_t i = 0; i + 1 < ids.size(); ++i) text += decoder.step(ids[i]);
  EXPECT_TRUE(is_valid_utf8(text));
  EXPECT_EQ(text.find("\xF0\x9F\x98\x80"), std::string::npos);
  text += decoder.step(ids.back());
  text += decoder.finish();
  EXPECT_EQ(text, tokenizer->decode(ids));
  EXPECT_NE(text.find("\xF0\x9F\x98\x80"), std::string::npos);
}

// Hugging Face's ByteFallback decoder turns a whole run of byte tokens into U+FFFDs when any byte
// of it is invalid, even after a complete character: nothing of a run may be emitted before it
// ends. SentencePiece's byte fallback decodes per character; both must stream as they decode.
TEST(StreamDecoder, ByteRunsStreamAsTheFullDecodeJudgesThem) {
  for (const char* fixture : {"bpe_byte_fallback", "spm_bpe_byte_fallback"}) {
    auto tokenizer = Tokenizer::load(fixture_root() / fixture);
    std::vector<int32_t> ids;
    for (const char* token : {"<0xE2>", "<0x82>", "<0xAC>", "<0xFF>"}) {  // "€" then an invalid byte
      const auto id = tokenizer->token_to_id(token);
      ASSERT_TRUE(id.has_value()) << fixture << " " << token;
      ids.push_back(*id);
    }
    const auto word = tokenizer->encode("hello", false);
    ids.insert(ids.end(), word.begin(), word.end());
    std::size_t invalid = 0;
    EXPECT_EQ(stream(*tokenizer, ids, false, invalid), tokenizer->decode(ids)) << fixture;
    EXPECT_EQ(invalid, 0u) << fixture;
  }
}

// Counts the ids that pass through decode: the streaming decoder's work.
class CountingTokenizer : public Tokenizer {
 public:
  explicit CountingTokenizer(const Tokenizer& inner) : inner_(inner) {}
  int32_t vocab_size() const override { return inner_.vocab_size(); }
  std::optional<int32_t> token_to_id(std::string_view token) const override { return inner_.token_to_id(token); }
  std::optional<std::string> id_to_token(int32_t id) const override { return inner_.id_to_token(id); }
  bool is_special(int32_t id) const override { return inner_.is_special(id); }
  mutable std::size_t decoded_ids = 0;

 protected:
  std::vector<int32_t> encode_impl(std::string_view text, bool add_special, bool parse_special) const override {
    return inner_.encode(text, add_special, parse_special);
  }
  std::string decode_impl(std::span<const int32_t> ids, bool skip_special) const override {
    decoded_ids += ids.size();
    return inner_.decode(ids, skip_special);
  }

 private:
  const Tokenizer& inner_;
};

// Invalid bytes decode to U+FFFD, as an unfinished character does, so a long run of them is held
// back; the work must still grow linearly with the run (it was quadratic: every step re-decoded
// the whole held window), and the text must still be the full decode's.
TEST(StreamDecoder, LongRunsOfReplacementCharactersCostLinearWork) {
  auto inner = Tokenizer::load(fixture_root() / "bpe_gpt2");
  const auto invalid_byte = inner->token_to_id("\xC3\xBF");  // byte 0xFF in the byte-level alphabet ("ÿ")
  ASSERT_TRUE(invalid_byte.has_value());
  std::vector<int32_t> ids(4000, *invalid_byte);
  const auto word = inner->encode(" end", false);
  ids.insert(ids.end(), word.begin(), word.end());
  CountingTokenizer tokenizer(*inner);
  std::size_t invalid = 0;
  const std::string streamed = stream(tokenizer, ids, false, invalid);
  EXPECT_EQ(streamed, inner->decode(ids));
  EXPECT_EQ(invalid, 0u);
  EXPECT_LE(tokenizer.decoded_ids, 8 * ids.size());
}

// The leading space of SentencePiece-style tokens appears between words but not at the start.
TEST(StreamDecoder, KeepsLeadingSpaceRules) {
  auto tokenizer = Tokenizer::load(fixture_root() / "mistral_v3_json");
  auto ids = tokenizer->encode("Hello brave new world", false);
  StreamDecoder decoder(*tokenizer);
  std::vector<std::string> pieces;
  for (int32_t id : ids) pieces.push_back(decoder.step(id));
  pieces.push_back(decoder.finish());
  std::string text;
  for (const auto& piece : pieces) text += piece;
  EXPECT_EQ(text, "Hello brave new world");
  EXPECT_EQ(pieces.front(), "Hello");
}

}  // namespace
}  // namespace elephant::tokenizer::testing
