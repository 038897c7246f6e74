// Expert offload (OffloadingExpertStore behind Model): outputs are bit-identical to the
// all-resident model in the same layout whatever the budget, policy or prefetching, on every fixture
// family and on the embedded LM; a corrupted or truncated expert region is a clear error mid-run;
// budgets parse.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "engine/generate.h"
#include "format/scratch_checkpoint.h"
#include "models/model.h"
#include "support/decoder_tolerance.h"
#include "support/fixtures.h"
#include "support/model_runs.h"

namespace elephant {
namespace {

using testing::all_position_logits;
using testing::greedy;

using layers::CachePolicy;
using testing::fixture_dir;

struct OffloadCase {
  std::string name;
  CachePolicy policy;
  bool pregate;
  int lookahead = 1;
  bool next_token = true;
};

const std::vector<OffloadCase>& offload_cases() {
  static const std::vector<OffloadCase> cases = {{"ondemand", CachePolicy::kOnDemand, false},
                                                 {"lru", CachePolicy::kLru, false},
                                                 {"lfu", CachePolicy::kLfu, false},
                                                 {"lru_pregate", CachePolicy::kLru, true},
                                                 {"lfu_pregate", CachePolicy::kLfu, true},
                                                 {"lru_pregate_lookahead2", CachePolicy::kLru, true, 2},
                                                 {"lru_pregate_this_token_only", CachePolicy::kLru, true, 1, false}};
  return cases;
}

// The smallest cache that leaves one expert per MoE layer.
models::ModelOptions one_expert_per_layer(const std::filesystem::path& dir, const OffloadCase& c) {
  auto probe = models::Model::load(dir);
  int moe_layers = 0;
  for (const auto& layer : probe->config().layers) moe_layers += layer.is_moe ? 1 : 0;
  models::ModelOptions options;
  layers::ExpertCacheOptions cache;
  cache.budget_fraction = 1.0 / probe->config().moe.n_experts;
  cache.policy = c.policy;
  cache.prefetch = c.pregate;
  options.expert_cache = cache;
  options.pregate = c.pregate;
  options.pregate_lookahead = c.lookahead;
  options.pregate_next_token = c.next_token;
  EXPECT_GT(moe_layers, 0);
  return options;
}

// Cache slots hold experts as the checkpoint stores them, while resident experts may also get the
// CPU kernels' interleaved copies (models/weight_copies.h), which sum in another fp32 order:
// so the exact comparison is made with both models in the checkpoint layout, and the default
// offloaded model is held to fp32 reordering of the default resident one.
void expect_identical_to_resident(const std::filesystem::path& dir, const std::vector<int32_t>& prompt) {
  models::ModelOptions checkpoint_layout;
  checkpoint_layout.cpu_weight_copies = false;
  auto resident = models::Model::load(dir, checkpoint_layout);
  const auto expected_logits = all_position_logits(*resident, prompt);
  const auto expected_tokens = greedy(*resident, prompt, 24);
  {
    auto default_resident = models::Model::load(dir);
    auto default_offloaded = models::Model::load(dir, one_expert_per_layer(dir, offload_cases().front()));
    const auto logits = all_position_logits(*default_resident, prompt);
    testing::expect_close(logits, all_position_logits(*default_offloaded, prompt),
                          testing::decoder_logit_tolerance(default_resident->config(), testing::max_abs(logits)),
                          dir.string() + ": offloaded vs resident, default layouts");
  }
  for (const auto& c : offload_cases()) {
    models::ModelOptions options = one_expert_per_layer(dir, c);
    options.cpu_weight_copies = false;
    auto offloaded = models::Model::load(dir, options);
    ASSERT_NE(offloaded->offloading_experts(), nullptr);
    EXPECT_EQ(all_position_logits(*offloaded, prompt), expected_logits) << dir << " " << c.name;
    EXPECT_EQ(greedy(*offloaded, prompt, 24), expected_tokens) << dir << " " << c.name;
    const auto stats = offloaded->offloading_experts()->stats();
    EXPECT_GT(stats.loads, 0u) << c.name;
    EXPECT_EQ(stats.hits + stats.misses + stats.late_prefetches, stats.acquires) << c.name;
    if (c.pregate) {
      EXPECT_GT(stats.used_with_prediction, 0u) << c.name << ": pre-gating made no prediction";
      // Two layers ahead only with look-ahead 2 (every fixture has at least two MoE layers).
      EXPECT_EQ(stats.used_with_far_prediction > 0, c.lookahead == 2) << c.name;
      // The first MoE layer has no layer before it: only the next-token hint predicts it.
      const auto per_layer = offloaded->offloading_experts()->prediction_counts_per_layer();
      const auto first_moe = std::find_if(per_layer.begin(), per_layer.end(), [](const layers::PredictionCounts& counts) {
        return counts.used_after_previous_step > 0;
      });
      ASSERT_NE(first_moe, per_layer.end());
      EXPECT_EQ(first_moe->used_with_prediction > 0, c.next_token) << c.name;
    }
  }
}

TEST(Offload, FixtureFamiliesAreBitIdenticalToResident) {
  for (const auto& family : testing::decoder_families()) {
    const auto prompt = testing::ids(testing::fixture_json(family, "prompt.json")["prompt_ids"]);
    expect_identical_to_resident(fixture_dir(family), prompt);
    expect_identical_to_resident(fixture_dir(family) / "bf16", prompt);
  }
}

TEST(Offload, EmbeddedLmIsBitIdenticalToResident) {
  expect_identical_to_resident(testing::shipped_model_dir("elephant-tiny-lm"), {2012, 279, 7218, 11, 323});
}

TEST(Offload, FullBudgetLoadsEachExpertOnce) {
  models::ModelOptions options;
  layers::ExpertCacheOptions cache;
  cache.budget_fraction = 1.0;
  options.expert_cache = cache;
  auto model = models::Model::load(fixture_dir("mixtral"), options);
  const auto prompt = testing::ids(testing::fixture_json("mixtral", "prompt.json")["prompt_ids"]);
  greedy(*model, prompt, 16);
  const auto first = model->offloading_experts()->stats();
  greedy(*model, prompt, 16);
  const auto second = model->offloading_experts()->stats();
  EXPECT_EQ(second.loads, first.loads) << "with every expert cached nothing is read again";
  EXPECT_GT(second.hits, first.hits);
}

// Copies a fixture so its file can be damaged.
std::filesystem::path copy_fixture(const testing::ScratchDir& scratch, const std::string& family) {
  const auto dir = scratch / family;
  std::filesystem::copy(fixture_dir(family), dir, std::filesystem::copy_options::recursive);
  return dir;
}

TEST(Offload, CorruptedExpertRegionIsAnErrorNamingTheExpert) {
  const testing::ScratchDir scratch;
  const auto dir = copy_fixture(scratch, "mixtral");
  models::ModelOptions options;
  layers::ExpertCacheOptions cache;
  cache.budget_fraction = 0.25;
  options.expert_cache = cache;
  auto model = models::Model::load(dir, options);
  // Overwrite the whole expert 0 weights of layer 0 on disk with 0xFF bytes (NaN in F32) after
  // the model is loaded: the damage is found when the expert is read.
  const auto& view = model->checkpoint().require("model.layers.0.block_sparse_moe.experts.0.w1.weight", {32, 64});
  const auto region = model->checkpoint().locate(view.bytes);
  {
    std::fstream file(region.file, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(region.offset);
    const std::string garbage(static_cast<size_t>(region.size), '\xff');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  const auto prompt = testing::ids(testing::fixture_json("mixtral", "prompt.json")["prompt_ids"]);
  try {
    for (int i = 0; i < 4; ++i) greedy(*model, prompt, 8);
    FAIL() << "a corrupted expert was used without an error";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("layer 0 expert 0 gate weights"), std::string::npos) << message;
    EXPECT_NE(message.find("not finite"), std::string::npos) << message;
    EXPECT_NE(message.find(region.file.string()), std::string::npos) << message;
  }
}

TEST(Offload, TruncatedExpertRegionIsAnErrorNotGarbage) {
  const testing::ScratchDir scratch;
  const auto file = scratch / "experts.bin";
  std::ofstream(file) << std::string(100, '\0');
  // One 8x8 F32 expert whose matrices lie partly past the end of the 100-byte file.
  static float mapped[3][64] = {};
  layers::SwigluWeights expert{{DType::kF32, 8, 8, mapped[0]}, {DType::kF32, 8, 8, mapped[1]}, {DType::kF32, 8, 8, mapped[2]}};
  const auto locate = [&](std::span<const std::byte> bytes) {
    const auto index = (bytes.data() - reinterpret_cast<const std::byte*>(mapped[0])) / 256;
    return layers::ExpertHomeRegion{file, 64 * index, static_cast<int64_t>(bytes.size())};
  };
  layers::ExpertCacheOptions options;
  options.budget_fraction = 1.0;
  layers::OffloadingExpertStore store({{expert}}, locate, options);
  try {
    store.acquire(0, 0);
    FAIL() << "a truncated expert was used without an error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("was the file truncated"), std::string::npos) << error.what();
  }
}

TEST(Offload, BudgetsParseAndTooSmallIsAnError) {
  layers::ExpertCacheOptions options;
  layers::parse_expert_cache_budget("2GiB", options);
  EXPECT_EQ(options.budget_bytes, int64_t{2} << 30);
  layers::parse_expert_cache_budget("25%", options);
  EXPECT_DOUBLE_EQ(options.budget_fraction, 0.25);
  EXPECT_EQ(options.budget_bytes, 0);
  for (const char* bad : {"", "lots", "-1G", "2XB", "150%"}) {
    EXPECT_THROW(layers::parse_expert_cache_budget(bad, options), Error) << bad;
  }
  EXPECT_THROW(layers::parse_cache_policy("mru"), Error);
  models::ModelOptions model_options;
  layers::ExpertCacheOptions tiny;
  tiny.budget_bytes = 100;
  model_options.expert_cache = tiny;
  try {
    models::Model::load(fixture_dir("mixtral"), model_options);
    FAIL() << "a budget below one expert was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("smaller than one expert"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace elephant
