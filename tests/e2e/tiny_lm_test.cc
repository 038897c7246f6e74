// The shipped default model, models/elephant-tiny-lm, end to end: greedy continuations of a few
// prompts equal transformers' (tests/fixtures/tiny_lm/perplexity.json, from tools/eval/lm_eval.py)
// through the library, and `elephant generate` without -m runs it, as the README's run command does.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/cli_runner.h"
#include "engine/generate.h"
#include "support/fixtures.h"
#include "tokenizer/tokenizer.h"

namespace elephant {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class TinyLmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = models::Model::load(testing::shipped_model_dir("elephant-tiny-lm")).release();
    tokenizer_ = tokenizer::Tokenizer::load(testing::shipped_model_dir("elephant-tiny-lm")).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tokenizer_;
  }
  static models::Model* model_;
  static tokenizer::Tokenizer* tokenizer_;
};
models::Model* TinyLmTest::model_ = nullptr;
tokenizer::Tokenizer* TinyLmTest::tokenizer_ = nullptr;

TEST_F(TinyLmTest, GreedyContinuationsMatchTransformers) {
  const auto reference = testing::fixture_json("tiny_lm", "perplexity.json");
  for (const auto& c : reference["greedy"]) {
    const auto prompt = c["prompt"].get<std::string>();
    SCOPED_TRACE(prompt);
    // A near tie between the two best logits would make the comparison a coin toss.
    ASSERT_GT(c["min_logit_margin"].get<double>(), 1e-3);
    const auto prompt_ids = tokenizer_->encode(prompt, true);
    EXPECT_EQ(prompt_ids, testing::ids(c["prompt_ids"]));
    engine::GenerateOptions options;
    options.max_new_tokens = static_cast<int>(c["new_ids"].size());
    const auto result = engine::generate(*model_, prompt_ids, options);
    EXPECT_EQ(result.tokens, testing::ids(c["new_ids"]));
    EXPECT_EQ(tokenizer_->decode(result.tokens, true), c["text"].get<std::string>());
  }
}

TEST_F(TinyLmTest, GenerateWithoutModelFlagRunsTheShippedModel) {
  const auto reference = testing::fixture_json("tiny_lm", "perplexity.json");
  const auto& first = reference["greedy"][0];
  const auto prompt = first["prompt"].get<std::string>();
  const auto result = testing::run_cli(
      {"generate", "-p", prompt, "-n", std::to_string(first["new_ids"].size())}, {"ELEPHANT_MODEL="});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, StartsWith(prompt + first["text"].get<std::string>()));
  EXPECT_THAT(result.err, HasSubstr("generation: "));
}

}  // namespace
}  // namespace elephant
