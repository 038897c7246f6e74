// Golden tests: for every fixture tokenizer (real DeepSeek-V4 and Mistral files, and tokenizers
// trained for each model type and component option), Elephant's ids and decoded text must equal
// what Hugging Face tokenizers (or the sentencepiece package for .model files) produced, on a text
// set covering English, code, CJK, Arabic, emoji, whitespace runs, digits, special tokens written
// in the text and invalid UTF-8.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "golden.h"
#include "tokenizer/tokenizer.h"

namespace elephant::tokenizer::testing {
namespace {

std::string printable(const std::string& text) {
  std::string out;
  for (unsigned char c : text.substr(0, 80)) {
    if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, IdsAndDecodedTextMatchReference) {
  auto directory = fixture_root() / GetParam();
  auto tokenizer = Tokenizer::load(directory);
  auto cases = load_golden(directory);
  ASSERT_FALSE(cases.empty());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const GoldenCase& c = cases[i];
    SCOPED_TRACE(fmt::format("case {}: \"{}\"", i, printable(c.text)));
    EXPECT_EQ(tokenizer->encode(c.text, true, true), c.ids);
    EXPECT_EQ(tokenizer->encode(c.text, false, true), c.ids_without_special);
    EXPECT_EQ(tokenizer->encode(c.text, true, false), c.ids_special_as_text);
    if (c.decoded) {
      EXPECT_EQ(tokenizer->decode(c.ids, false), *c.decoded);
    }
    if (c.decoded_skip_special) {
      EXPECT_EQ(tokenizer->decode(c.ids, true), *c.decoded_skip_special);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenTest, ::testing::ValuesIn(golden_directories()),
                         [](const auto& info) { return info.param; });

TEST(GoldenSet, CoversEveryModelFamily) {
  auto names = golden_directories();
  for (const char* required : {"deepseek_v4", "mistral_v3", "mistral_v3_json", "bpe_qwen2", "bpe_byte_fallback",
                               "unigram_t5_precompiled", "unigram_hf", "spm_unigram"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), required), names.end()) << required;
  }
}

// The same Mistral vocabulary through libsentencepiece and through the converted tokenizer.json
// must agree on plain text.
TEST(CrossCheck, MistralModelAndJsonAgree) {
  auto spm = Tokenizer::load(fixture_root() / "mistral_v3" / "tokenizer.model");
  auto json = Tokenizer::load(fixture_root() / "mistral_v3_json");
  for (const auto& c : load_golden(fixture_root() / "mistral_v3_json")) {
    if (c.text.find('<') != std::string::npos || c.text.find('[') != std::string::npos) continue;
    EXPECT_EQ(spm->encode(c.text), json->encode(c.text)) << printable(c.text);
  }
}

TEST(Tokenizer, SpecialIdsAndVocabularyLookups) {
  auto deepseek = Tokenizer::load(fixture_root() / "deepseek_v4");
  EXPECT_EQ(deepseek->bos_id(), 0);
  EXPECT_EQ(deepseek->eos_id(), 1);
  EXPECT_EQ(deepseek->token_to_id("<think>"), 128821);
  EXPECT_EQ(deepseek->id_to_token(128821), "<think>");
  EXPECT_TRUE(deepseek->is_special(0));
  EXPECT_FALSE(deepseek->is_special(1000));
  EXPECT_FALSE(deepseek->token_to_id("definitely not a token"));
  EXPECT_FALSE(deepseek->id_to_token(-1));
  EXPECT_GT(deepseek->vocab_size(), 128821);

  auto mistral = Tokenizer::load(fixture_root() / "mistral_v3");
  EXPECT_EQ(mistral->bos_id(), 1);
  EXPECT_EQ(mistral->eos_id(), 2);
  EXPECT_EQ(mistral->vocab_size(), 32768);
  EXPECT_EQ(mistral->token_to_id("<0x0A>"), 781);
  EXPECT_FALSE(mistral->token_to_id("definitely not a token"));
  EXPECT_EQ(mistral->decode(mistral->encode("[INST] hi [/INST]"), true), " hi ");
  // Each stretch between control pieces gets SentencePiece's dummy-prefix space, which decoding
  // keeps after a control piece (as Hugging Face's legacy Llama tokenizer does).
  EXPECT_EQ(mistral->decode(mistral->encode("[INST] hi [/INST]"), false), "<s>[INST]  hi [/INST]");
}

// Unknown ids are skipped by decode rather than rejected, as in Hugging Face.
TEST(Tokenizer, DecodeSkipsUnknownIds) {
  auto tokenizer = Tokenizer::load(fixture_root() / "bpe_qwen2");
  auto ids = tokenizer->encode("hello", false);
  std::vector<int32_t> with_bad = ids;
  with_bad.insert(with_bad.begin(), -5);
  with_bad.push_back(1 << 30);
  EXPECT_EQ(tokenizer->decode(with_bad), tokenizer->decode(ids));
}

}  // namespace
}  // namespace elephant::tokenizer::testing
