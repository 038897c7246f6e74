// The embedded translator, models/elephant-tiny-mt, end to end on 24 held-out verses
// (tests/fixtures/tiny_mt/reference.json, from tools/make_seq2seq_fixtures.py): our tokenizer's
// source ids, and greedy and beam-4 translations (ids, text, scores) equal transformers' `generate`
// with tools/eval/eval_mt.py's settings, all verses translated as one batch.
#include <gtest/gtest.h>

#include <algorithm>

#include "engine/translator.h"
#include "support/fixtures.h"
#include "support/seq2seq_tolerance.h"
#include "tokenizer/tokenizer.h"

namespace elephant {
namespace {

std::string strip(std::string text) {
  const auto first = text.find_first_not_of(" \t\n");
  const auto last = text.find_last_not_of(" \t\n");
  return first == std::string::npos ? "" : text.substr(first, last - first + 1);
}

class TinyMtTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    model_ = models::Seq2SeqModel::load(testing::shipped_model_dir("elephant-tiny-mt")).release();
    tokenizer_ = tokenizer::Tokenizer::load(testing::shipped_model_dir("elephant-tiny-mt")).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tokenizer_;
  }
  static models::Seq2SeqModel* model_;
  static tokenizer::Tokenizer* tokenizer_;
};

models::Seq2SeqModel* TinyMtTest::model_ = nullptr;
tokenizer::Tokenizer* TinyMtTest::tokenizer_ = nullptr;

TEST_P(TinyMtTest, TranslationsEqualTransformers) {
  const auto reference = testing::fixture_json("tiny_mt", "reference.json");
  const std::string label = GetParam();
  const auto& kwargs = reference["generate_kwargs"][label];
  engine::TranslationOptions options;
  options.num_beams = kwargs["num_beams"].get<int>();
  options.max_new_tokens = kwargs["max_new_tokens"].get<int>();
  if (kwargs.contains("early_stopping")) {
    options.early_stopping = kwargs["early_stopping"].get<bool>() ? engine::EarlyStopping::kTrue : engine::EarlyStopping::kFalse;
  }
  std::vector<std::vector<int32_t>> sources;
  for (const auto& verse : reference["verses"]) {
    sources.push_back(tokenizer_->encode(verse["source"].get<std::string>()));
    EXPECT_EQ(sources.back(), testing::ids(verse["src_ids"])) << verse["ref"];
  }
  const auto translations = engine::translate(*model_, sources, options);
  for (size_t v = 0; v < sources.size(); ++v) {
    const auto& expected = reference["verses"][v][label];
    auto ids = testing::ids(expected["ids"]);
    ids.erase(ids.begin());  // the decoder start token
    const auto& best = translations[v].hypotheses.front();
    EXPECT_EQ(best.tokens, ids) << reference["verses"][v]["ref"];
    EXPECT_EQ(strip(tokenizer_->decode(best.tokens, true)), expected["text"].get<std::string>()) << reference["verses"][v]["ref"];
    // Weights are bf16 upcast on both sides, so only fp32 summation order differs; logits of this
    // model stay below 40 in magnitude.
    EXPECT_NEAR(best.score, expected["score"].get<double>(),
                testing::seq2seq_score_tolerance(model_->config(), static_cast<int64_t>(sources[v].size()), 40.0))
        << reference["verses"][v]["ref"];
  }
}

INSTANTIATE_TEST_SUITE_P(Decoding, TinyMtTest, ::testing::Values("greedy", "beam4"));

}  // namespace
}  // namespace elephant
