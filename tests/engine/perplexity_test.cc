// Sliding-window perplexity against transformers: one window on a fixture model (NLL from the
// fixture's Hugging Face logits) and overlapping windows on the shipped tiny LM (the sum made
// by tools/eval/lm_eval.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "engine/perplexity.h"
#include "format/npy.h"
#include "support/fixtures.h"
#include "support/tolerance.h"

namespace elephant {
namespace {

// An fp32 logit carries the error of `depth` length-K reductions (tolerance.h); the NLL of a token
// moves by at most twice a logit's error (once through the log-sum-exp, once through the target).
double nll_tolerance(const config::ModelConfig& c, double logit_magnitude) {
  const int64_t longest_reduction = std::max({c.hidden_size, c.moe.expert_ffn, c.dense_ffn, c.n_heads * c.head_dim});
  return 2.0 * testing::reduction_tolerance(testing::kEpsF32, longest_reduction, 2 * c.n_layers + 1, logit_magnitude);
}

TEST(PerplexityTest, OneWindowMatchesTheReferenceLogits) {
  auto model = models::Model::load(testing::fixture_dir("mixtral"));
  const auto prompt = testing::ids(testing::fixture_json("mixtral", "prompt.json")["prompt_ids"]);
  const auto logits = format::read_npy_f32(testing::fixture_dir("mixtral") / "logits.npy");
  const int64_t vocab = logits.shape[1];
  double expected = 0.0;
  for (size_t t = 1; t < prompt.size(); ++t) {
    const float* row = logits.values.data() + (t - 1) * static_cast<size_t>(vocab);
    double sum = 0.0;
    for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v]));
    expected += std::log(sum) - row[prompt[t]];
  }
  engine::PerplexityOptions options;
  options.window = static_cast<int64_t>(prompt.size());
  const auto result = engine::perplexity(*model, prompt, options);
  EXPECT_EQ(result.tokens_scored, static_cast<int64_t>(prompt.size()) - 1);
  EXPECT_EQ(result.windows, 1);
  const double magnitude = testing::max_abs(logits.values);
  EXPECT_NEAR(result.negative_log_likelihood / result.tokens_scored, expected / result.tokens_scored,
              nll_tolerance(model->config(), magnitude));
}

TEST(PerplexityTest, DisjointWindowsLeaveEachWindowsFirstTokenUnscored) {
  auto model = models::Model::load(testing::fixture_dir("mixtral"));
  const auto prompt = testing::ids(testing::fixture_json("mixtral", "prompt.json")["prompt_ids"]);
  engine::PerplexityOptions options;
  options.window = 4;
  options.stride = 4;
  const auto result = engine::perplexity(*model, prompt, options);
  // 12 tokens in windows [0,4) [4,8) [8,12): 3 targets each.
  EXPECT_EQ(result.windows, 3);
  EXPECT_EQ(result.tokens_scored, 9);
}

TEST(PerplexityTest, ShippedModelMatchesTransformersOnHeldOutText) {
  const auto reference = testing::fixture_json("tiny_lm", "perplexity.json");
  auto model = models::Model::load(testing::shipped_model_dir("elephant-tiny-lm"));
  const auto tokens = testing::ids(reference["token_ids"]);
  engine::PerplexityOptions options;
  options.window = reference["window"].get<int64_t>();
  options.stride = reference["stride"].get<int64_t>();
  const auto result = engine::perplexity(*model, tokens, options);
  ASSERT_EQ(result.tokens_scored, reference["tokens_scored"].get<int64_t>());
  const double expected_mean = reference["nll_sum"].get<double>() / static_cast<double>(result.tokens_scored);
  std::printf("[ compare  ] perplexity %.6f, transformers %.6f\n", result.perplexity(), std::exp(expected_mean));
  // The bar the project set (0.5% of transformers' perplexity), then the arithmetic bound.
  EXPECT_LT(std::fabs(result.perplexity() / std::exp(expected_mean) - 1.0), 0.005);
  EXPECT_NEAR(result.mean_nll(), expected_mean,
              nll_tolerance(model->config(), reference["max_abs_logit"].get<double>()));
}

TEST(PerplexityTest, KlDivergenceFromAReferenceModel) {
  auto model = models::Model::load(testing::fixture_dir("mixtral"));
  auto bf16 = models::Model::load(testing::fixture_dir("mixtral") / "bf16");
  const auto prompt = testing::ids(testing::fixture_json("mixtral", "prompt.json")["prompt_ids"]);
  engine::PerplexityOptions options;
  options.window = 8;
  options.stride = 4;
  options.reference = model.get();
  const auto same = engine::perplexity(*model, prompt, options);
  EXPECT_EQ(same.kl_divergence, 0.0);
  EXPECT_EQ(same.same_top1, same.tokens_scored);
  EXPECT_EQ(same.reference_negative_log_likelihood, same.negative_log_likelihood);

  options.reference = bf16.get();
  const auto rounded = engine::perplexity(*model, prompt, options);
  EXPECT_GT(rounded.kl_divergence, 0.0);
  EXPECT_EQ(rounded.negative_log_likelihood, same.negative_log_likelihood);
  EXPECT_NE(rounded.reference_negative_log_likelihood, same.negative_log_likelihood);

  auto other_vocabulary = models::Model::load(testing::fixture_dir("text_mixtral"));
  ASSERT_NE(other_vocabulary->config().vocab_size, model->config().vocab_size);
  options.reference = other_vocabulary.get();
  EXPECT_THROW(engine::perplexity(*model, prompt, options), Error);
}

TEST(PerplexityTest, RejectsBadWindows) {
  auto model = models::Model::load(testing::fixture_dir("mixtral"));
  const std::vector<int32_t> tokens = {1, 2, 3, 4};
  engine::PerplexityOptions options;
  options.window = 1;
  EXPECT_THROW(engine::perplexity(*model, tokens, options), Error);
  options.window = 2;
  options.stride = 3;
  EXPECT_THROW(engine::perplexity(*model, tokens, options), Error);
  EXPECT_THROW(engine::perplexity(*model, std::vector<int32_t>{1}, {}), Error);
}

}  // namespace
}  // namespace elephant
