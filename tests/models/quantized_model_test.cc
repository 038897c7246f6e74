// Quantized models end to end: `elephant quantize` on every family's fixture, reload, and compare
// with the fp32 Hugging Face reference (logits.npy, greedy_ids) on every kernel table, plus what
// quantize must keep or refuse (router/embedding precision, cols % group, overwriting).
//
// Error budget (derived, then checked against the measured numbers printed as [ quality ] lines):
// symmetric rounding moves a weight by at most half a step, scale/2 = max|w|/(2·127) for int8
// (~2^-8 relative) and max|w|/(2·7) for int4 (~2^-4); int8 activation quantization adds another
// max|x|/(2·127). Each of the `depth` reductions a logit passes through passes its share on, so
//   |logit error| <= (weight share + activation share) · depth · max|reference logit|.
// Greedy continuations: the tiny random fixtures have near-ties, so free-running greedy output is
// only reported (tokens matching the reference before the first divergence); what is required is
// the same top-1 wherever the fp32 model's margin exceeds twice the budget (teacher-forced).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "cli/cli_runner.h"
#include "engine/generate.h"
#include "format/checkpoint.h"
#include "format/npy.h"
#include "format/quantization.h"
#include "models/family_tensors.h"
#include "models/model.h"
#include "ops/ops.h"
#include "support/decoder_tolerance.h"
#include "support/fixtures.h"
#include "support/model_runs.h"
#include "support/tolerance.h"

namespace elephant {
namespace {

using testing::all_position_logits;

using testing::fixture_dir;
using testing::fixture_json;

struct QuantConfig {
  int bits;
  int group;  // int4 only
  std::string label() const { return bits == 8 ? "int8" : fmt::format("int4_g{}", group); }
};

struct QuantCase {
  std::string family;
  QuantConfig quant;
  std::string kernels;
};

// Group 16 is the largest that divides every fixture's matrices (olmoe and qwen3_moe experts are
// 16 wide); group 32 fits mixtral and qwen2_moe. Real models (widths 768..14336) take 128.
std::vector<QuantCase> quant_cases() {
  std::vector<QuantCase> cases;
  for (const auto& family : testing::decoder_families()) {
    std::vector<QuantConfig> configs = {{8, 0}, {4, 16}};
    if (family == "mixtral" || family == "qwen2_moe") configs.push_back({4, 32});
    for (const auto& quant : configs) {
      for (const auto* table : kernels::available_kernel_tables()) cases.push_back({family, quant, std::string(table->name)});
    }
  }
  return cases;
}

// Each (family, config) is quantized once per test run.
const std::filesystem::path& quantized_dir(const std::string& family, const QuantConfig& quant) {
  static std::map<std::string, std::unique_ptr<testing::ScratchDir>> dirs;
  const std::string key = family + "_" + quant.label();
  auto& dir = dirs[key];
  if (!dir) {
    dir = std::make_unique<testing::ScratchDir>();
    std::vector<std::string> args = {"quantize", "-m", fixture_dir(family).string(), "-o", (*dir / "model").string(),
                                     "--bits", std::to_string(quant.bits)};
    if (quant.bits == 4) args.insert(args.end(), {"--group", std::to_string(quant.group)});
    const auto result = testing::run_cli(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
  }
  static std::map<std::string, std::filesystem::path> paths;
  return paths[key] = *dir / "model";
}

// Mean KL(reference || quantized) over positions (nats) and the fraction of equal argmaxes.
std::pair<double, double> kl_and_top1(const std::vector<float>& reference, const std::vector<float>& actual,
                                      int64_t vocab) {
  const int64_t n = static_cast<int64_t>(reference.size()) / vocab;
  double kl = 0.0;
  int64_t agree = 0;
  for (int64_t r = 0; r < n; ++r) {
    const float* p = reference.data() + r * vocab;
    const float* q = actual.data() + r * vocab;
    const auto log_softmax = [vocab](const float* logits, std::vector<double>& out) {
      double m = logits[0];
      for (int64_t i = 1; i < vocab; ++i) m = std::max(m, static_cast<double>(logits[i]));
      double sum = 0.0;
      for (int64_t i = 0; i < vocab; ++i) sum += std::exp(logits[i] - m);
      out.resize(static_cast<size_t>(vocab));
      for (int64_t i = 0; i < vocab; ++i) out[static_cast<size_t>(i)] = logits[i] - m - std::log(sum);
    };
    std::vector<double> lp, lq;
    log_softmax(p, lp);
    log_softmax(q, lq);
    for (size_t i = 0; i < lp.size(); ++i) kl += std::exp(lp[i]) * (lp[i] - lq[i]);
    agree += std::max_element(p, p + vocab) - p == std::max_element(q, q + vocab) - q ? 1 : 0;
  }
  return {kl / static_cast<double>(n), static_cast<double>(agree) / static_cast<double>(n)};
}

class QuantizedModelTest : public ::testing::TestWithParam<QuantCase> {
 protected:
  void SetUp() override { ops::select_kernels(GetParam().kernels); }
  void TearDown() override { ops::select_kernels("auto"); }
};

TEST_P(QuantizedModelTest, LogitsAndGreedyOutputStayWithinTheQuantizationBudget) {
  const QuantCase& c = GetParam();
  auto model = models::Model::load(quantized_dir(c.family, c.quant));
  const auto reference = fixture_json(c.family, "prompt.json");
  const auto prompt = testing::ids(reference["prompt_ids"]);
  const auto expected = format::read_npy_f32(fixture_dir(c.family) / "logits.npy");
  const auto actual = all_position_logits(*model, prompt);

  const auto& config = model->config();
  const double depth = 4.0 * config.n_layers + 1;
  const double weight_share = c.quant.bits == 8 ? 1.0 / (2 * 127) : 1.0 / (2 * 7);
  const double activation_share =
      ops::quantized_activations(c.quant.bits == 8 ? kernels::WeightFormat::kInt8PerChannel
                                                   : kernels::WeightFormat::kInt4Group) == kernels::Activations::kInt8
          ? 1.0 / (2 * 127)
          : 0.0;
  const double budget = (weight_share + activation_share) * depth * testing::max_abs(expected.values);
  const std::string what = fmt::format("{} {} {}", c.family, c.quant.label(), c.kernels);
  const int64_t vocab = config.vocab_size;
  const auto n_positions = static_cast<int64_t>(prompt.size());
  // The budget bounds the smooth part of the error. A perturbation can also flip a near-tied
  // routing decision (the router itself stays fp32, its input does not), which moves that
  // position's logits by far more: at most one such position is tolerated, and reported.
  int64_t over_budget = 0;
  for (int64_t r = 0; r < n_positions; ++r) {
    const std::span<const float> e(expected.values.data() + r * vocab, static_cast<size_t>(vocab));
    const std::span<const float> a(actual.data() + r * vocab, static_cast<size_t>(vocab));
    const double error = testing::compare(e, a).max_error;
    if (error > budget) {
      ++over_budget;
      std::printf("[ quality  ] %s: position %lld over budget: %.4f > %.4f (routing flip)\n", what.c_str(),
                  static_cast<long long>(r), error, budget);
    }
  }
  EXPECT_LE(over_budget, 1) << what << ": logits over the budget " << budget << " at " << over_budget << " positions";

  // Teacher-forced over prompt + reference continuation: wherever the fp32 model's top-1 leads by
  // more than twice the budget, the quantized model must pick the same token.
  const auto expected_greedy = testing::ids(reference["greedy_ids"]);
  std::vector<int32_t> sequence = prompt;
  sequence.insert(sequence.end(), expected_greedy.begin(), expected_greedy.end() - 1);
  auto fp32_model = models::Model::load(fixture_dir(c.family));
  const auto fp32_logits = all_position_logits(*fp32_model, sequence);
  const auto quantized_logits = all_position_logits(*model, sequence);
  int required = 0, required_agree = 0;
  for (auto r = static_cast<size_t>(n_positions - 1); r < sequence.size(); ++r) {
    const float* f = fp32_logits.data() + r * static_cast<size_t>(vocab);
    const float* q = quantized_logits.data() + r * static_cast<size_t>(vocab);
    const auto top = std::max_element(f, f + vocab) - f;
    float second = -INFINITY;
    for (int64_t i = 0; i < vocab; ++i) second = i == top ? second : std::max(second, f[i]);
    if (f[top] - second <= 2 * budget) continue;
    ++required;
    required_agree += std::max_element(q, q + vocab) - q == top ? 1 : 0;
  }
  EXPECT_EQ(required_agree, required) << what << ": top-1 differs where the fp32 margin exceeds 2 × budget";

  const auto [kl, top1] = kl_and_top1(expected.values, actual, vocab);
  engine::GenerateOptions options;
  options.max_new_tokens = static_cast<int>(expected_greedy.size());
  options.stop_on_eos = false;
  const auto greedy = engine::generate(*model, prompt, options).tokens;
  size_t matching = 0;
  while (matching < greedy.size() && greedy[matching] == expected_greedy[matching]) ++matching;
  const auto err = testing::compare(expected.values, actual).max_error;
  std::printf("[ quality  ] %s: max |logit err| %.4f (%.3f of max |logit|, budget %.3f), mean KL %.5f nats, top-1 "
              "%.0f%%, greedy %zu/%zu, teacher-forced top-1 required at %d/%zu positions\n",
              what.c_str(), err, err / testing::max_abs(expected.values), budget / testing::max_abs(expected.values),
              kl, 100 * top1, matching, expected_greedy.size(), required, expected_greedy.size());
}

INSTANTIATE_TEST_SUITE_P(Families, QuantizedModelTest, ::testing::ValuesIn(quant_cases()), [](const auto& info) {
  return info.param.family + "_" + info.param.quant.label() + "_" + info.param.kernels;
});

TEST(QuantizedCheckpoint, KeepsRouterGatesAndEmbeddingInFullPrecision) {
  const auto& dir = quantized_dir("qwen2_moe", {4, 16});
  const auto checkpoint = format::Checkpoint::open(dir);
  const auto config = format::read_quantization_config(checkpoint->config(), checkpoint->config_path());
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->bits, 4);
  EXPECT_EQ(config->group_size, 16);
  const auto& names = models::family_tensor_names(config::Family::kQwen2Moe);
  for (int layer : {0, 1, 2}) {
    for (const auto& pattern : {names.router, names.shared_expert_gate}) {
      const std::string name = fmt::format(fmt::runtime(pattern), layer, 0);
      const auto* view = checkpoint->find(name);
      if (view == nullptr) continue;  // a dense layer
      EXPECT_EQ(view->dtype, DType::kF32) << name;
      EXPECT_FALSE(checkpoint->contains(format::qweight_name(name))) << name;
    }
  }
  EXPECT_EQ(checkpoint->find("model.embed_tokens.weight")->dtype, DType::kF32);
  const auto expert = fmt::format(fmt::runtime(names.expert_up), 2, 3);  // layer 1 is dense (mlp_only_layers)
  EXPECT_FALSE(checkpoint->contains(expert));
  ASSERT_TRUE(checkpoint->contains(format::qweight_name(expert)));
  EXPECT_EQ(checkpoint->find(format::qweight_name(expert))->dtype, DType::kU8);
  // The model reads every tensor, and counts parameters as the fp32 model does.
  auto model = models::Model::load(dir);
  EXPECT_TRUE(model->checkpoint().unused_tensor_names().empty());
  EXPECT_EQ(model->parameter_counts().total, fixture_json("qwen2_moe", "prompt.json")["total_params"].get<int64_t>());
}

TEST(QuantizedCheckpoint, ScopeAllQuantizesAttentionSharedExpertAndLmHeadButNotRouters) {
  testing::ScratchDir dir;
  const auto result = testing::run_cli({"quantize", "-m", fixture_dir("qwen2_moe").string(), "-o",
                                        (dir / "model").string(), "--bits", "8", "--scope", "all"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("verify: reloaded"), std::string::npos) << result.err;
  const auto checkpoint = format::Checkpoint::open(dir / "model");
  for (const std::string name : {"model.layers.0.self_attn.q_proj.weight", "model.layers.2.mlp.shared_expert.down_proj.weight",
                                 "model.layers.1.mlp.down_proj.weight", "lm_head.weight"}) {
    EXPECT_FALSE(checkpoint->contains(name)) << name;
    ASSERT_TRUE(checkpoint->contains(format::qweight_name(name))) << name;
    EXPECT_EQ(checkpoint->find(format::qweight_name(name))->dtype, DType::kI8) << name;
  }
  for (const std::string name : {"model.layers.2.mlp.gate.weight", "model.layers.2.mlp.shared_expert_gate.weight",
                                 "model.embed_tokens.weight"}) {
    ASSERT_TRUE(checkpoint->contains(name)) << name;
    EXPECT_EQ(checkpoint->find(name)->dtype, DType::kF32) << name;
  }
}

TEST(QuantizeCommand, RefusesAGroupThatDoesNotDivideTheColumnsAndOverwritingWithoutForce) {
  testing::ScratchDir dir;
  const auto output = (dir / "model").string();
  auto result = testing::run_cli({"quantize", "-m", fixture_dir("mixtral").string(), "-o", output, "--bits", "4",
                                  "--group", "64"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("tensor 'model.layers.0.block_sparse_moe.experts.0.w2.weight' has 32 columns, not a "
                            "multiple of --group 64"),
            std::string::npos)
      << result.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "model" / "model.safetensors"));

  result = testing::run_cli({"quantize", "-m", fixture_dir("mixtral").string(), "-o", output, "--bits", "8"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  result = testing::run_cli({"quantize", "-m", fixture_dir("mixtral").string(), "-o", output, "--bits", "4", "--group", "32"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("pass --force to overwrite"), std::string::npos) << result.err;
  result = testing::run_cli(
      {"quantize", "-m", fixture_dir("mixtral").string(), "-o", output, "--bits", "4", "--group", "32", "--force"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(format::read_quantization_config(format::read_json_file(dir / "model" / "config.json"), "config.json")->bits, 4);
  // A quantized model is not quantized again.
  result = testing::run_cli({"quantize", "-m", output, "-o", (dir / "again").string(), "--bits", "8"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("already has a quantization_config"), std::string::npos) << result.err;
  result = testing::run_cli({"quantize", "-m", fixture_dir("mixtral").string(), "-o", output, "--bits", "4", "--group", "48", "--force"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("--group 48"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace elephant

namespace elephant {
namespace {

// Offloaded quantized experts (weights and scales read from disk, in the checkpoint layout) give
// the logits of the resident model in the same layout bit for bit (tests/models/offload_test.cc
// covers full-precision models). A resident model whose int4 matrices have the AVX-512 kernels'
// interleaved copy sums in another fp32 order: within fp32 reordering of the offloaded result.
TEST(QuantizedOffload, OffloadedQuantizedExpertsAreBitIdenticalToResident) {
  for (const QuantConfig quant : {QuantConfig{8, 0}, QuantConfig{4, 16}, QuantConfig{4, 32}}) {
    const auto& dir = quantized_dir("mixtral", quant);
    const auto prompt = testing::ids(testing::fixture_json("mixtral", "prompt.json")["prompt_ids"]);
    models::ModelOptions checkpoint_layout;
    checkpoint_layout.cpu_weight_copies = false;
    auto resident = models::Model::load(dir, checkpoint_layout);
    models::ModelOptions options;
    layers::ExpertCacheOptions cache;
    cache.budget_fraction = 1.0 / resident->config().moe.n_experts;
    cache.prefetch = true;
    options.expert_cache = cache;
    options.pregate = true;
    auto offloaded = models::Model::load(dir, options);
    const auto offloaded_logits = all_position_logits(*offloaded, prompt);
    EXPECT_EQ(offloaded_logits, all_position_logits(*resident, prompt)) << quant.label();
    EXPECT_GT(offloaded->offloading_experts()->stats().loads, 0u);

    auto interleaved = models::Model::load(dir);
    testing::expect_close(offloaded_logits, all_position_logits(*interleaved, prompt),
                          testing::decoder_logit_tolerance(interleaved->config(), testing::max_abs(offloaded_logits)),
                          quant.label() + " resident with the interleaved int4 copy vs offloaded");
  }
}

}  // namespace
}  // namespace elephant
