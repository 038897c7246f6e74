// config::parse_model_config on the committed fixture configs of every family, and on copies with
// one key broken: a missing or unsupported model_type, a value of the wrong type or out of range,
// fields that contradict each other and unsupported RoPE scaling are each an elephant::Error that
// names config.json, the key, what was expected and what was found; none is silently accepted.
#include "config/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "support/fixtures.h"

namespace elephant {
namespace {

using config::Family;
using config::parse_model_config;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

config::ModelConfig parse_fixture(const std::string& family) {
  return parse_model_config(testing::fixture_json(family, "config.json"), testing::fixture_dir(family) / "config.json");
}

std::vector<bool> moe_layers(const config::ModelConfig& config) {
  std::vector<bool> flags;
  for (const auto& layer : config.layers) flags.push_back(layer.is_moe);
  return flags;
}

TEST(ModelConfig, ReadsMixtral) {
  const auto c = parse_fixture("mixtral");
  EXPECT_EQ(c.family, Family::kMixtral);
  EXPECT_EQ(c.vocab_size, 256);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.n_layers, 3);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 16);  // "head_dim": null -> hidden_size / heads
  EXPECT_EQ(c.moe.n_experts, 4);
  EXPECT_EQ(c.moe.top_k, 2);
  EXPECT_EQ(c.moe.expert_ffn, 32);
  EXPECT_TRUE(c.moe.router.renormalize_top_k);
  EXPECT_EQ(c.layers[0].sliding_window, 6);
  EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_EQ(c.eos_token_ids, std::vector<int>{2});
}

TEST(ModelConfig, ReadsQwen2Moe) {
  const auto c = parse_fixture("qwen2_moe");
  EXPECT_EQ(c.family, Family::kQwen2Moe);
  EXPECT_EQ(moe_layers(c), (std::vector<bool>{true, false, true}));  // mlp_only_layers [1]
  EXPECT_EQ(c.dense_ffn, 80);
  EXPECT_EQ(c.moe.expert_ffn, 32);
  EXPECT_EQ(c.moe.shared_expert_ffn, 48);
  EXPECT_TRUE(c.moe.shared_expert_gated);
  EXPECT_TRUE(c.attention_bias);
  EXPECT_FALSE(c.moe.router.renormalize_top_k);
  EXPECT_EQ(c.layers[0].sliding_window, 0);
}

TEST(ModelConfig, ReadsQwen3Moe) {
  const auto c = parse_fixture("qwen3_moe");
  EXPECT_EQ(c.family, Family::kQwen3Moe);
  EXPECT_EQ(c.moe.n_experts, 6);  // spelled num_local_experts
  EXPECT_EQ(c.head_dim, 32);      // explicit, not hidden_size / heads
  EXPECT_EQ(c.qk_norm, config::QkNorm::kPerHead);
  EXPECT_TRUE(c.moe.router.renormalize_top_k);
  EXPECT_EQ(moe_layers(c), (std::vector<bool>{true, false, true}));
}

TEST(ModelConfig, ReadsOlmoe) {
  const auto c = parse_fixture("olmoe");
  EXPECT_EQ(c.family, Family::kOlmoe);
  EXPECT_EQ(c.moe.n_experts, 8);
  EXPECT_EQ(c.qk_norm, config::QkNorm::kWholeProjection);
  EXPECT_EQ(c.clip_qkv, 0.0f);  // "clip_qkv": null
  EXPECT_FALSE(c.moe.router.renormalize_top_k);
}

TEST(ModelConfig, ConfigThatIsNotAnObject) {
  EXPECT_THAT([] { parse_model_config(nlohmann::json::array({"mixtral"}), "dir/config.json"); },
              ThrowsMessage<Error>(HasSubstr("dir/config.json: expected a JSON object, found array")));
}

// One broken key in a family's fixture config and the parts of the message it must give.
struct BrokenConfig {
  std::string name;
  std::string family;
  std::function<void(nlohmann::json&)> edit;
  std::vector<std::string> expected;
};

void PrintTo(const BrokenConfig& broken, std::ostream* out) { *out << broken.name; }

std::vector<BrokenConfig> broken_configs() {
  const std::string all_families = "mixtral, qwen2_moe, qwen3_moe, olmoe";
  return {
      {"MissingModelType",
       "mixtral",
       [](auto& j) { j.erase("model_type"); },
       {"key 'model_type': expected one of: " + all_families, "found nothing (key missing)"}},
      {"UnknownModelType",
       "mixtral",
       [](auto& j) { j["model_type"] = "llama"; },
       {"model_type 'llama' is not supported (supported: " + all_families + ")"}},
      {"ModelTypeNotAString",
       "olmoe",
       [](auto& j) { j["model_type"] = 7; },
       {"key 'model_type': expected one of: " + all_families, "found 7"}},
      {"HiddenSizeAsAString",
       "mixtral",
       [](auto& j) { j["hidden_size"] = "64"; },
       {"key 'hidden_size': expected a positive integer", "found \"64\""}},
      {"HiddenSizeAsAFloat",
       "qwen3_moe",
       [](auto& j) { j["hidden_size"] = 64.5; },
       {"key 'hidden_size': expected a positive integer", "found 64.5"}},
      {"NegativeLayerCount",
       "olmoe",
       [](auto& j) { j["num_hidden_layers"] = -3; },
       {"key 'num_hidden_layers': expected a positive integer", "found -3"}},
      {"LayerCountBeyondAnyModel",  // sized the per-layer table (GBs) before any check (fuzz/)
       "qwen2_moe",
       [](auto& j) { j["num_hidden_layers"] = 77777773; },
       {"key 'num_hidden_layers': expected a number of layers no larger than 4096", "found 77777773"}},
      {"VocabSizeBeyondAnyModel",
       "mixtral",
       [](auto& j) { j["vocab_size"] = int64_t{1} << 40; },
       {"key 'vocab_size': expected a positive integer no larger than 1073741824", "found 1099511627776"}},
      {"MissingVocabSize",
       "qwen2_moe",
       [](auto& j) { j.erase("vocab_size"); },
       {"key 'vocab_size': expected a positive integer, found nothing (key missing)"}},
      {"MoreExpertsPerTokenThanExperts",
       "mixtral",
       [](auto& j) { j["num_experts_per_tok"] = 5; },
       {"key 'num_experts_per_tok': expected at most the number of experts (4), found 5"}},
      {"ZeroExpertsPerToken",
       "olmoe",
       [](auto& j) { j["num_experts_per_tok"] = 0; },
       {"key 'num_experts_per_tok': expected a positive integer, found 0"}},
      {"ExpertCountAsAString",
       "qwen3_moe",
       [](auto& j) { j["num_local_experts"] = "6"; },
       {"key 'num_local_experts': expected a positive integer, found \"6\""}},
      {"KvHeadsNotDividingHeads",
       "mixtral",
       [](auto& j) { j["num_key_value_heads"] = 3; },
       {"key 'num_key_value_heads': expected a divisor of num_attention_heads (4), found 3"}},
      {"HeadsNotDividingHiddenSize",
       "olmoe",
       [](auto& j) {
         j["num_attention_heads"] = 3;
         j["num_key_value_heads"] = 1;
       },
       {"key 'num_attention_heads': expected a divisor of hidden_size 64, found 3"}},
      {"OddHeadDim", "qwen3_moe", [](auto& j) { j["head_dim"] = 15; }, {"head_dim must be even for RoPE, found 15"}},
      {"YarnRope",
       "mixtral",
       [](auto& j) {
         j["rope_parameters"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
       },
       {"key 'rope_parameters': rope type 'yarn' is not supported (supported: default)"}},
      {"LinearRopeScalingOfOlderCheckpoints",
       "qwen2_moe",
       [](auto& j) {
         j.erase("rope_parameters");
         j["rope_theta"] = 10000.0;
         j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
       },
       {"key 'rope_scaling': rope type 'linear' is not supported"}},
      {"RopeParametersNotAnObject",
       "olmoe",
       [](auto& j) { j["rope_parameters"] = "default"; },
       {"key 'rope_parameters': expected an object, found \"default\""}},
      {"NegativeRopeTheta",
       "mixtral",
       [](auto& j) { j["rope_parameters"]["rope_theta"] = -1.0; },
       {"key 'rope_parameters': expected 'rope_theta' to be a positive number"}},
      {"ZeroRmsNormEps",
       "qwen2_moe",
       [](auto& j) { j["rms_norm_eps"] = 0; },
       {"key 'rms_norm_eps': expected a positive number, found 0"}},
      {"UnsupportedActivation",
       "mixtral",
       [](auto& j) { j["hidden_act"] = "gelu"; },
       {"key 'hidden_act': expected \"silu\"", "found \"gelu\""}},
      {"TieEmbeddingsNotABool",
       "olmoe",
       [](auto& j) { j["tie_word_embeddings"] = "yes"; },
       {"key 'tie_word_embeddings': expected true or false, found \"yes\""}},
      {"EosOutsideTheVocabulary",
       "mixtral",
       [](auto& j) { j["eos_token_id"] = 256; },
       {"key 'eos_token_id': expected ids in [0, 256), found 256"}},
      {"BosOutsideTheVocabulary",
       "mixtral",
       [](auto& j) { j["bos_token_id"] = 300; },
       {"key 'bos_token_id': expected an id in [0, 256), found 300"}},
      {"MlpOnlyLayerOutOfRange",
       "qwen2_moe",
       [](auto& j) { j["mlp_only_layers"] = {1, 7}; },
       {"key 'mlp_only_layers': expected layer indices in [0, 3), found [1,7]"}},
      {"RopeTypeNotAString",
       "olmoe",
       [](auto& j) { j["rope_parameters"] = {{"rope_type", 3}, {"rope_theta", 10000.0}}; },
       {"key 'rope_parameters': expected 'rope_type' to be a string"}},
      {"EosBeyondInt",
       "mixtral",
       [](auto& j) { j["eos_token_id"] = (int64_t{1} << 32) + 2; },
       {"key 'eos_token_id': expected an integer or a list of integers", "found 4294967298"}},
      {"EosListWithAString",
       "qwen3_moe",
       [](auto& j) {
         j["eos_token_id"] = {2, "</s>"};
       },
       {"key 'eos_token_id': expected an integer or a list of integers, found [2,\"</s>\"]"}},
      {"SlidingWindowWithoutASize",
       "qwen3_moe",
       [](auto& j) { j["use_sliding_window"] = true; },
       {"key 'sliding_window': expected a positive integer, found null"}},
      {"LayerTypesOfTheWrongLength",
       "qwen2_moe",
       [](auto& j) { j["layer_types"] = {"full_attention"}; },
       {"key 'layer_types': expected a list of 3 attention kinds"}},
      {"UnknownLayerType",
       "qwen2_moe",
       [](auto& j) { j["layer_types"][1] = "chunked_attention"; },
       {"key 'layer_types': expected entries \"full_attention\" or \"sliding_attention\""}},
      {"DenseLayerWithoutIntermediateSize",
       "qwen3_moe",
       [](auto& j) { j.erase("intermediate_size"); },
       {"key 'intermediate_size': expected a positive integer, found nothing (key missing)"}},
      {"MlpOnlyLayersNotAList",
       "qwen2_moe",
       [](auto& j) { j["mlp_only_layers"] = "1"; },
       {"key 'mlp_only_layers': expected a list of integers, found \"1\""}},
      {"NegativeSharedExpertWidth",
       "qwen2_moe",
       [](auto& j) { j["shared_expert_intermediate_size"] = -48; },
       {"key 'shared_expert_intermediate_size' must not be negative, found -48"}},
      {"NegativeClipQkv",
       "olmoe",
       [](auto& j) { j["clip_qkv"] = -8.0; },
       {"key 'clip_qkv': expected a positive number, found -8.0"}},
  };
}

class BrokenConfigTest : public ::testing::TestWithParam<BrokenConfig> {};

TEST_P(BrokenConfigTest, IsRefusedWithAMessageNamingTheKey) {
  const auto& broken = GetParam();
  auto json = testing::fixture_json(broken.family, "config.json");
  broken.edit(json);
  const auto path = testing::fixture_dir(broken.family) / "config.json";
  try {
    parse_model_config(json, path);
    ADD_FAILURE() << "accepted: " << json.dump();
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr(path.string() + ": "));
    for (const auto& part : broken.expected) EXPECT_THAT(error.what(), HasSubstr(part));
  }
}

INSTANTIATE_TEST_SUITE_P(Keys, BrokenConfigTest, ::testing::ValuesIn(broken_configs()),
                         [](const auto& info) { return info.param.name; });

TEST(ExpertsPerToken, OverrideIsCheckedAgainstTheExpertCount) {
  auto c = parse_fixture("mixtral");
  config::set_experts_per_token(c, 4);
  EXPECT_EQ(c.moe.top_k, 4);
  for (int bad : {0, -1, 5}) {
    EXPECT_THAT([&] { config::set_experts_per_token(c, bad); },
                ThrowsMessage<Error>(HasSubstr(fmt::format("--experts-per-token {}: expected 1..4 (the model has 4 "
                                                           "experts per MoE layer)",
                                                           bad))));
  }
  EXPECT_EQ(c.moe.top_k, 4);
}

}  // namespace
}  // namespace elephant
