// Sampling semantics: greedy argmax with low-id ties, seeded determinism, each filter's effect on
// which tokens can be drawn, the repetition penalty's sign rule, and option validation.
#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "engine/sampler.h"

namespace elephant {
namespace {

using engine::Sampler;
using engine::SamplingOptions;

std::vector<float> logits_of(std::initializer_list<float> values) { return values; }

std::set<int32_t> drawn(const SamplingOptions& options, const std::vector<float>& logits, int draws = 400) {
  Sampler sampler(options);
  std::set<int32_t> seen;
  for (int i = 0; i < draws; ++i) {
    auto copy = logits;
    seen.insert(sampler.sample(copy, {}));
  }
  return seen;
}

TEST(Sampler, GreedyTakesArgmaxAndLowerIdOnTies) {
  Sampler sampler({});
  auto logits = logits_of({0.1f, 2.0f, -1.0f, 2.0f});
  EXPECT_EQ(sampler.sample(logits, {}), 1);
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferentTokens) {
  SamplingOptions options;
  options.temperature = 1.0f;
  const std::vector<float> logits(50, 0.0f);
  const auto sequence = [&](uint64_t seed) {
    options.seed = seed;
    Sampler sampler(options);
    std::vector<int32_t> out;
    for (int i = 0; i < 32; ++i) {
      auto copy = logits;
      out.push_back(sampler.sample(copy, {}));
    }
    return out;
  };
  EXPECT_EQ(sequence(5), sequence(5));
  EXPECT_NE(sequence(5), sequence(6));
}

TEST(Sampler, TopKKeepsOnlyTheKMostLikely) {
  SamplingOptions options;
  options.temperature = 1.0f;
  options.top_k = 2;
  EXPECT_EQ(drawn(options, {1.0f, 3.0f, 0.0f, 2.9f, -1.0f}), (std::set<int32_t>{1, 3}));
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingP) {
  SamplingOptions options;
  options.temperature = 1.0f;
  options.top_p = 0.5f;
  // probabilities ≈ 0.665, 0.245, 0.090: the first alone reaches 0.5.
  EXPECT_EQ(drawn(options, {2.0f, 1.0f, 0.0f}), (std::set<int32_t>{0}));
  options.top_p = 0.8f;
  EXPECT_EQ(drawn(options, {2.0f, 1.0f, 0.0f}), (std::set<int32_t>{0, 1}));
}

TEST(Sampler, MinPDropsTokensFarBelowTheTop) {
  SamplingOptions options;
  options.temperature = 1.0f;
  options.min_p = 0.3f;
  // relative probabilities 1, e^-1 ≈ 0.37, e^-2 ≈ 0.14: the last is below 0.3 × top.
  EXPECT_EQ(drawn(options, {0.0f, 2.0f, 1.0f}), (std::set<int32_t>{1, 2}));
}

TEST(Sampler, LowTemperatureIsNearlyGreedy) {
  SamplingOptions options;
  options.temperature = 0.01f;
  EXPECT_EQ(drawn(options, {0.0f, 1.0f, 0.5f}), (std::set<int32_t>{1}));
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  SamplingOptions options;
  options.repetition_penalty = 2.0f;
  Sampler sampler(options);
  auto logits = logits_of({3.0f, 2.0f, -1.0f});
  const std::vector<int32_t> context = {0, 0, 2};
  EXPECT_EQ(sampler.sample(logits, context), 1);  // 3 / 2 = 1.5 < 2
  EXPECT_FLOAT_EQ(logits[0], 1.5f);              // penalised once although it occurs twice
  EXPECT_FLOAT_EQ(logits[2], -2.0f);
}

TEST(Sampler, RejectsOutOfRangeOptions) {
  const auto invalid = [](auto change) {
    SamplingOptions options;
    change(options);
    EXPECT_THROW(Sampler{options}, Error);
  };
  invalid([](SamplingOptions& o) { o.temperature = -1.0f; });
  invalid([](SamplingOptions& o) { o.top_p = 0.0f; });
  invalid([](SamplingOptions& o) { o.top_p = 1.5f; });
  invalid([](SamplingOptions& o) { o.min_p = 2.0f; });
  invalid([](SamplingOptions& o) { o.top_k = -3; });
  invalid([](SamplingOptions& o) { o.repetition_penalty = 0.0f; });
}

}  // namespace
}  // namespace elephant
