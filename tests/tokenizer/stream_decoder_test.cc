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
