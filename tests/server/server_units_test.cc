// The server's pieces on their own: request parsing defaults and mappings, stop-string hold-back
// of streamed text, the engine's token_logprobs, and histogram rendering.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "engine/sampler.h"
#include "server/choice_text.h"
#include "server/metrics.h"
#include "server/openai_request.h"
#include "support/fixtures.h"
#include "tokenizer/tokenizer.h"

namespace elephant {
namespace {

using server::Endpoint;
using server::Json;

TEST(ServerRequestParsing, DefaultsFollowOpenAI) {
  const server::RequestLimits limits;
  const auto completion = server::parse_generation_request(Json{{"prompt", "hi"}}, Endpoint::kCompletions, limits);
  EXPECT_EQ(completion.max_tokens, 16);
  EXPECT_EQ(completion.sampling.temperature, 1.0f);
  EXPECT_EQ(completion.sampling.top_p, 1.0f);
  EXPECT_EQ(completion.n, 1);
  EXPECT_FALSE(completion.stream);
  EXPECT_FALSE(completion.seeded);
  EXPECT_EQ(completion.top_logprobs, -1);
  const auto chat = server::parse_generation_request(
      Json{{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", nullptr}}, Endpoint::kChatCompletions,
      limits);
  EXPECT_EQ(chat.max_tokens, limits.max_tokens) << "chat without max_tokens may use the whole limit";
}

TEST(ServerRequestParsing, MapsFields) {
  const server::RequestLimits limits;
  const Json body = {
      {"messages",
       {{{"role", "developer"}, {"content", "be brief"}},
        {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}}}}}},
      {"max_tokens", 9},
      {"max_completion_tokens", 7},
      {"temperature", 0},
      {"top_p", 0.5},
      {"top_k", -1},
      {"seed", -3},
      {"stop", "END"},
      {"n", 2},
      {"stream", true},
      {"stream_options", {{"include_usage", true}}},
      {"logprobs", true},
      {"top_logprobs", 4},
      {"presence_penalty", 0},
      {"tool_choice", "none"},
      {"user", "someone"}};
  const auto request = server::parse_generation_request(body, Endpoint::kChatCompletions, limits);
  EXPECT_EQ(request.messages[0]["role"], "system") << "developer is the new name of system";
  EXPECT_EQ(request.messages[1]["content"], "a\nb");
  EXPECT_EQ(request.max_tokens, 7) << "max_completion_tokens wins";
  EXPECT_EQ(request.sampling.temperature, 0.0f);
  EXPECT_EQ(request.sampling.top_p, 0.5f);
  EXPECT_EQ(request.sampling.top_k, 0);
  EXPECT_TRUE(request.seeded);
  EXPECT_EQ(request.sampling.seed, static_cast<uint64_t>(int64_t{-3}));
  EXPECT_EQ(request.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(request.n, 2);
  EXPECT_TRUE(request.stream);
  EXPECT_TRUE(request.include_usage);
  EXPECT_EQ(request.top_logprobs, 4);

  const auto prompts = server::parse_generation_request(Json{{"prompt", {{1, 2}, {3}}}, {"logprobs", 0}},
                                                        Endpoint::kCompletions, limits);
  ASSERT_EQ(prompts.prompts.size(), 2u);
  EXPECT_EQ(std::get<std::vector<int32_t>>(prompts.prompts[1]), std::vector<int32_t>{3});
  EXPECT_EQ(prompts.top_logprobs, 0);
}

TEST(ServerRequestParsing, ErrorBodyIsOpenAIShaped) {
  const Json body = server::error_body(server::ApiError(400, "bad n", "n"));
  EXPECT_EQ(
      body,
      Json::parse(R"({"error": {"message": "bad n", "type": "invalid_request_error", "param": "n", "code": null}})"));
}

class ServerChoiceText : public ::testing::Test {
 protected:
  void SetUp() override { tokenizer_ = tokenizer::Tokenizer::load(testing::fixture_dir("text_mixtral")); }

  // Streams `text` token by token as the engine would, stopping when the decoded text contains a
  // stop string; returns what the client receives.
  std::string stream(const std::string& text, const std::vector<std::string>& stops, std::string* engine_text) {
    server::ChoiceText choice(*tokenizer_, stops);
    const auto ids = tokenizer_->encode(text, false);
    std::string received;
    engine::GenerateResult result;
    for (int32_t id : ids) {
      result.tokens.push_back(id);
      received += choice.add(id);
      const std::string decoded = tokenizer_->decode(result.tokens, true);
      for (const auto& stop : stops) {
        if (const size_t at = decoded.find(stop); at != std::string::npos) {
          result.stop_reason = engine::StopReason::kStopString;
          result.text = decoded.substr(0, at);
          break;
        }
      }
      if (result.stop_reason == engine::StopReason::kStopString) break;
    }
    for (const auto& stop : stops) EXPECT_EQ(received.find(stop), std::string::npos) << stop;
    if (result.stop_reason != engine::StopReason::kStopString) {
      result.stop_reason = engine::StopReason::kMaxTokens;
      result.text = tokenizer_->decode(result.tokens, true);
    }
    *engine_text = result.text;
    return received + choice.finish(result);
  }

  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
};

TEST_F(ServerChoiceText, WithoutStopStringsEverythingArrives) {
  std::string engine_text;
  EXPECT_EQ(stream("Hello there, what is a mixture of experts?", {}, &engine_text), engine_text);
  EXPECT_EQ(engine_text, "Hello there, what is a mixture of experts?");
}

TEST_F(ServerChoiceText, StopStringAndWhatFollowsAreNeverSent) {
  std::string engine_text;
  const std::string received = stream("Hello there, what is a mixture of experts?", {"mixture", "zzz"}, &engine_text);
  EXPECT_EQ(received, "Hello there, what is a ");
  EXPECT_EQ(received, engine_text);
}

TEST_F(ServerChoiceText, HeldBackTextIsReleasedWhenItTurnsOutNotToBeAStop) {
  server::ChoiceText choice(*tokenizer_, {"there!"});
  engine::GenerateResult result;
  std::string received;
  for (int32_t id : tokenizer_->encode("Hello there, friend", false)) {
    result.tokens.push_back(id);
    received += choice.add(id);
  }
  EXPECT_EQ(received.rfind("Hello there,", 0), 0u) << "\"there\" is held only until \",\" rules out the stop";
  result.text = tokenizer_->decode(result.tokens, true);
  EXPECT_EQ(received + choice.finish(result), "Hello there, friend");
}

TEST(ServerLogprobs, TokenLogprobsIsLogSoftmaxOfRawLogits) {
  const std::vector<float> logits = {1.0f, 3.0f, 3.0f, -2.0f};
  double total = 0.0;
  for (float x : logits) total += std::exp(x);
  const auto result = engine::token_logprobs(logits, 3, 3);
  EXPECT_EQ(result.chosen.token, 3);
  EXPECT_NEAR(result.chosen.logprob, -2.0 - std::log(total), 1e-6);
  ASSERT_EQ(result.top.size(), 3u);
  EXPECT_EQ(result.top[0].token, 1) << "ties go to the lower id";
  EXPECT_EQ(result.top[1].token, 2);
  EXPECT_EQ(result.top[2].token, 0);
  EXPECT_NEAR(result.top[0].logprob, 3.0 - std::log(total), 1e-6);
  EXPECT_EQ(engine::token_logprobs(logits, 0, 10).top.size(), 4u) << "top_n is capped at the vocabulary";
  EXPECT_TRUE(engine::token_logprobs(logits, 0, 0).top.empty());
  EXPECT_THROW(engine::token_logprobs(logits, 4, 1), Error);
  // Large logits must not overflow exp().
  const std::vector<float> large = {1000.0f, 1000.0f};
  EXPECT_NEAR(engine::token_logprobs(large, 0, 0).chosen.logprob, -std::log(2.0), 1e-6);
}

TEST(ServerMetricsText, HistogramBucketsAreCumulative) {
  server::Histogram histogram({0.5, 1.0});
  histogram.observe(0.25);
  histogram.observe(0.5);  // on a bound: counted in that bucket (le = less or equal)
  histogram.observe(0.75);
  histogram.observe(7.0);
  std::string text;
  histogram.render(text, "x_seconds", "help text");
  EXPECT_EQ(text,
            "# HELP x_seconds help text\n# TYPE x_seconds histogram\n"
            "x_seconds_bucket{le=\"0.5\"} 2\nx_seconds_bucket{le=\"1\"} 3\nx_seconds_bucket{le=\"+Inf\"} 4\n"
            "x_seconds_sum 8.5\nx_seconds_count 4\n");
}

}  // namespace
}  // namespace elephant
