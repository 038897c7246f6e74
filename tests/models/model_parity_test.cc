// Parity of the whole model with Hugging Face transformers on tiny random checkpoints of every
// family (tests/fixtures/<family>, made by tools/make_fixtures.py): all-position logits, greedy
// continuations, the BF16-weights path, batching of several prompts, sharded checkpoints and the
// parameter counts that `inspect` prints.
#include <gtest/gtest.h>

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "engine/generate.h"
#include "format/npy.h"
#include "models/model.h"
#include "ops/ops.h"
#include "support/fixtures.h"
#include "support/model_runs.h"
#include "support/decoder_tolerance.h"
#include "support/tolerance.h"

namespace elephant {
namespace {

using testing::all_position_logits;
using testing::greedy;

using testing::fixture_dir;
using testing::fixture_json;

struct ParityCase {
  std::string family;
  std::string kernels;
};

std::string case_name(const ::testing::TestParamInfo<ParityCase>& info) {
  return info.param.family + "_" + info.param.kernels;
}

std::vector<ParityCase> parity_cases() {
  std::vector<ParityCase> cases;
  for (const auto& family : testing::decoder_families()) {
    for (const auto* table : kernels::available_kernel_tables()) cases.push_back({family, std::string(table->name)});
  }
  return cases;
}

class ModelParityTest : public ::testing::TestWithParam<ParityCase> {
 protected:
  void SetUp() override { ops::select_kernels(GetParam().kernels); }
  void TearDown() override { ops::select_kernels("auto"); }
};

TEST_P(ModelParityTest, AllPositionLogitsMatchTransformersFp32) {
  const auto& family = GetParam().family;
  auto model = models::Model::load(fixture_dir(family));
  const auto prompt = testing::ids(fixture_json(family, "prompt.json")["prompt_ids"]);
  const auto expected = format::read_npy_f32(fixture_dir(family) / "logits.npy");
  const auto actual = all_position_logits(*model, prompt);
  const auto& c = model->config();
  const double tolerance = testing::decoder_logit_tolerance(c, testing::max_abs(expected.values));
  testing::expect_close(expected.values, actual, tolerance, family + " fp32 logits");
}

TEST_P(ModelParityTest, GreedyContinuationMatchesTransformers) {
  const auto& family = GetParam().family;
  auto model = models::Model::load(fixture_dir(family));
  const auto reference = fixture_json(family, "prompt.json");
  const auto expected = testing::ids(reference["greedy_ids"]);
  EXPECT_EQ(greedy(*model, testing::ids(reference["prompt_ids"]), static_cast<int>(expected.size())), expected);
}

TEST_P(ModelParityTest, Bf16WeightsMatchTransformers) {
  const auto& family = GetParam().family;
  auto model = models::Model::load(fixture_dir(family) / "bf16");
  const auto prompt = testing::ids(fixture_json(family, "prompt.json")["prompt_ids"]);
  const auto actual = all_position_logits(*model, prompt);
  const auto& c = model->config();

  // Against transformers run on the same bf16-rounded weights in fp32: only fp32 rounding differs,
  // unless the kernels round activations to bf16 too; then, as for the weights below, every
  // matmul input carries a relative error up to eps_bf16 / 2 through each of the `depth` reductions.
  const auto same_weights = format::read_npy_f32(fixture_dir(family) / "bf16" / "logits.npy");
  const double max_logit = testing::max_abs(same_weights.values);
  const double activation_rounding =
      ops::active_kernels().bf16_activations
          ? 0.5 * testing::kEpsBF16 * static_cast<double>(testing::decoder_reduction_depth(c)) * max_logit
          : 0.0;
  testing::expect_close(same_weights.values, actual, activation_rounding + testing::decoder_logit_tolerance(c, max_logit),
                        family + " bf16 weights vs transformers on the same weights");

  // Against the fp32 model: every weight carries a relative rounding error up to eps_bf16 / 2,
  // and each of the `depth` reductions passes its share on.
  const auto fp32 = format::read_npy_f32(fixture_dir(family) / "logits.npy");
  testing::expect_close(fp32.values, actual,
                        activation_rounding + 0.5 * testing::kEpsBF16 * static_cast<double>(testing::decoder_reduction_depth(c)) *
                                                  testing::max_abs(fp32.values),
                        family + " bf16 weights vs fp32 model");

  const auto expected_greedy = testing::ids(fixture_json(family, "bf16/greedy.json")["greedy_ids"]);
  EXPECT_EQ(greedy(*model, prompt, static_cast<int>(expected_greedy.size())), expected_greedy);
}

TEST_P(ModelParityTest, Bf16KvCacheStaysCloseToTransformersFp32) {
  const auto& family = GetParam().family;
  models::ModelOptions options;
  options.kv_dtype = DType::kBF16;
  auto model = models::Model::load(fixture_dir(family), options);
  const auto prompt = testing::ids(fixture_json(family, "prompt.json")["prompt_ids"]);
  const auto expected = format::read_npy_f32(fixture_dir(family) / "logits.npy");
  const auto actual = all_position_logits(*model, prompt);
  const auto& c = model->config();
  // Every cached K and V element carries a relative rounding error up to eps_bf16 / 2, and it enters
  // two reductions per layer (scores, weighted values); the fp32 rounding of the rest comes on top.
  const double max_logit = testing::max_abs(expected.values);
  const double tolerance = 0.5 * testing::kEpsBF16 * 2.0 * c.n_layers * max_logit +
                           testing::decoder_logit_tolerance(c, max_logit);
  testing::expect_close(expected.values, actual, tolerance, family + " bf16 KV cache vs transformers fp32");
}

TEST_P(ModelParityTest, PromptsBatchedTogetherGiveTheSameLogitsAsAlone) {
  const auto& family = GetParam().family;
  auto model = models::Model::load(fixture_dir(family));
  const auto reference = fixture_json(family, "prompt.json");
  std::vector<std::vector<int32_t>> prompts = {testing::ids(reference["prompt_ids"])};
  for (const auto& other : reference["other_prompts"]) prompts.push_back(testing::ids(other));

  auto cache = model->make_kv_cache(static_cast<int>(prompts.size()));
  layers::RowBatch rows;
  // Interleave the prompts' rows so that no prompt is a contiguous block of the batch.
  size_t longest = 0;
  for (const auto& p : prompts) longest = std::max(longest, p.size());
  std::vector<std::pair<size_t, size_t>> origin;
  for (size_t i = 0; i < longest; ++i) {
    for (size_t s = 0; s < prompts.size(); ++s) {
      if (i >= prompts[s].size()) continue;
      rows.add(prompts[s][i], static_cast<int32_t>(i), static_cast<int32_t>(s));
      origin.emplace_back(s, i);
    }
  }
  const auto batched = model->forward(rows, cache);
  const int64_t vocab = model->config().vocab_size;
  for (size_t s = 0; s < prompts.size(); ++s) {
    const auto alone = all_position_logits(*model, prompts[s]);
    for (size_t r = 0; r < origin.size(); ++r) {
      if (origin[r].first != s) continue;
      const size_t i = origin[r].second;
      ASSERT_TRUE(std::equal(alone.begin() + static_cast<int64_t>(i) * vocab,
                             alone.begin() + static_cast<int64_t>(i + 1) * vocab, batched.begin() + static_cast<int64_t>(r) * vocab))
          << family << ": prompt " << s << " position " << i << " differs between batched and alone";
    }
    if (s == 0) continue;
    // Each extra prompt also matches its own transformers reference.
    const auto expected = format::read_npy_f32(fixture_dir(family) / fmt::format("logits_other_{}.npy", s - 1));
    const auto& c = model->config();
    testing::expect_close(expected.values, alone,
                          testing::decoder_logit_tolerance(c, testing::max_abs(expected.values)),
                          fmt::format("{} other prompt {}", family, s - 1));
  }
}

TEST_P(ModelParityTest, ParameterCountsMatchTheCheckpoint) {
  const auto& family = GetParam().family;
  auto model = models::Model::load(fixture_dir(family));
  const auto reference = fixture_json(family, "prompt.json");
  EXPECT_EQ(model->parameter_counts().total, reference["total_params"].get<int64_t>());
  EXPECT_EQ(model->parameter_counts().active_per_token, reference["active_params"].get<int64_t>());
}

INSTANTIATE_TEST_SUITE_P(Families, ModelParityTest, ::testing::ValuesIn(parity_cases()), case_name);

TEST(ShardedCheckpoint, GivesTheSameLogitsAsTheSingleFile) {
  auto single = models::Model::load(fixture_dir("mixtral"));
  auto sharded = models::Model::load(fixture_dir("mixtral_sharded"));
  EXPECT_GT(sharded->checkpoint().file_count(), 1u);
  const auto prompt = testing::ids(fixture_json("mixtral", "prompt.json")["prompt_ids"]);
  EXPECT_EQ(all_position_logits(*single, prompt), all_position_logits(*sharded, prompt));
}

TEST(FusedExpertLayout, GivesTheSameLogitsAsPerExpertTensors) {
  // tests/fixtures/mixtral_fused is the Mixtral fixture re-saved by transformers 5 with
  // save_original_format=False (tools/make_fused_fixture.py): stacked gate_up/down, mlp.gate router.
  auto per_expert = models::Model::load(fixture_dir("mixtral"));
  auto fused = models::Model::load(fixture_dir("mixtral_fused"));
  const auto prompt = testing::ids(fixture_json("mixtral", "prompt.json")["prompt_ids"]);
  EXPECT_EQ(all_position_logits(*per_expert, prompt), all_position_logits(*fused, prompt));
  EXPECT_EQ(per_expert->parameter_counts().total, fused->parameter_counts().total);
  EXPECT_EQ(per_expert->parameter_counts().active_per_token, fused->parameter_counts().active_per_token);
  EXPECT_TRUE(fused->checkpoint().unused_tensor_names().empty());
}

TEST(ExpertsPerToken, OverrideChangesRoutingAndIsValidated) {
  models::ModelOptions options;
  options.experts_per_token = 3;
  auto model = models::Model::load(fixture_dir("olmoe"), options);
  EXPECT_EQ(model->config().moe.top_k, 3);
  const auto prompt = testing::ids(fixture_json("olmoe", "prompt.json")["prompt_ids"]);
  const auto expected = format::read_npy_f32(fixture_dir("olmoe") / "logits.npy");
  EXPECT_GT(testing::compare(expected.values, all_position_logits(*model, prompt)).max_error, 1e-2);
  options.experts_per_token = 99;
  EXPECT_THROW(models::Model::load(fixture_dir("olmoe"), options), Error);
}

}  // namespace
}  // namespace elephant
