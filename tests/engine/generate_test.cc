// Generation loop behaviour on a fixture model: stop on EOS, stop strings, token limits, seeded
// sampling reproducibility, and clear errors for impossible requests.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "engine/generate.h"
#include "support/fixtures.h"

namespace elephant {
namespace {

class GenerateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = models::Model::load(testing::fixture_dir("mixtral"));
    const auto reference = testing::fixture_json("mixtral", "prompt.json");
    prompt_ = testing::ids(reference["prompt_ids"]);
    greedy_ = testing::ids(reference["greedy_ids"]);
  }
  std::unique_ptr<models::Model> model_;
  std::vector<int32_t> prompt_, greedy_;
};

TEST_F(GenerateTest, StopsAtMaxTokens) {
  engine::GenerateOptions options;
  options.max_new_tokens = 5;
  const auto result = engine::generate(*model_, prompt_, options);
  EXPECT_EQ(result.tokens, std::vector<int32_t>(greedy_.begin(), greedy_.begin() + 5));
  EXPECT_EQ(result.stop_reason, engine::StopReason::kMaxTokens);
}

TEST_F(GenerateTest, StopsOnEosWithoutEmittingIt) {
  engine::GenerateOptions options;
  options.max_new_tokens = 16;
  options.eos_token_ids = {greedy_[3]};
  const auto result = engine::generate(*model_, prompt_, options);
  EXPECT_EQ(result.tokens, std::vector<int32_t>(greedy_.begin(), greedy_.begin() + 3));
  EXPECT_EQ(result.stop_reason, engine::StopReason::kEos);
}

TEST_F(GenerateTest, StopStringCutsTheText) {
  engine::GenerateOptions options;
  options.max_new_tokens = 16;
  options.stop_strings = {fmt::format("<{}>", greedy_[2])};
  engine::GenerateCallbacks callbacks;
  callbacks.detokenize = [](std::span<const int32_t> ids) {
    std::string text;
    for (int32_t id : ids) text += fmt::format("<{}>", id);
    return text;
  };
  const auto result = engine::generate(*model_, prompt_, options, callbacks);
  EXPECT_EQ(result.stop_reason, engine::StopReason::kStopString);
  EXPECT_EQ(result.text, fmt::format("<{}><{}>", greedy_[0], greedy_[1]));
}

TEST_F(GenerateTest, CallbackCanStopAndSeededSamplingRepeats) {
  engine::GenerateOptions options;
  options.max_new_tokens = 12;
  options.sampling.temperature = 1.0f;
  options.sampling.seed = 11;
  const auto first = engine::generate(*model_, prompt_, options);
  const auto second = engine::generate(*model_, prompt_, options);
  EXPECT_EQ(first.tokens, second.tokens);
  engine::GenerateCallbacks callbacks;
  int seen = 0;
  callbacks.on_token = [&](int32_t) { return ++seen < 4; };
  const auto stopped = engine::generate(*model_, prompt_, options, callbacks);
  EXPECT_EQ(stopped.tokens.size(), 4u);
  EXPECT_EQ(stopped.stop_reason, engine::StopReason::kCallback);
}

TEST_F(GenerateTest, RejectsImpossibleRequests) {
  engine::GenerateOptions options;
  EXPECT_THROW(engine::generate(*model_, std::vector<int32_t>{}, options), Error);
  options.stop_strings = {"x"};
  EXPECT_THROW(engine::generate(*model_, prompt_, options), Error);  // stop strings need a tokenizer
  models::ModelOptions short_context;
  short_context.context_length = 4;
  auto model = models::Model::load(testing::fixture_dir("mixtral"), short_context);
  EXPECT_THROW(engine::generate(*model, prompt_, engine::GenerateOptions{}), Error);
}

TEST_F(GenerateTest, StopsWhenTheContextIsFull) {
  models::ModelOptions short_context;
  short_context.context_length = static_cast<int>(prompt_.size()) + 3;
  auto model = models::Model::load(testing::fixture_dir("mixtral"), short_context);
  engine::GenerateOptions options;
  options.max_new_tokens = 10;
  const auto result = engine::generate(*model, prompt_, options);
  EXPECT_EQ(result.stop_reason, engine::StopReason::kContextFull);
  EXPECT_EQ(result.tokens, std::vector<int32_t>(greedy_.begin(), greedy_.begin() + 3));
}

}  // namespace
}  // namespace elephant
