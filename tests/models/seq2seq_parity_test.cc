// Parity of the encoder-decoder models with Hugging Face transformers on tiny random Switch
// Transformers and NLLB-MoE checkpoints (tests/fixtures/{switch,nllb_moe}, made by
// tools/make_seq2seq_fixtures.py): encoder outputs (Switch sources overflow the expert capacity,
// so dropped tokens are exercised), teacher-forced decoder logits decoded incrementally, and
// parameter counts. NLLB-MoE fixtures use the intended expert sum (tests/fixtures/NOTES.md: the
// expert loop of transformers 5.23 ignores the routing).
#include <gtest/gtest.h>

#include <algorithm>

#include "format/npy.h"
#include "models/seq2seq_model.h"
#include "ops/ops.h"
#include "support/fixtures.h"
#include "support/seq2seq_tolerance.h"

namespace elephant {
namespace {

using testing::fixture_dir;
using testing::fixture_json;

struct ParityCase {
  std::string family;
  std::string kernels;
};

std::vector<ParityCase> parity_cases() {
  std::vector<ParityCase> cases;
  for (const char* family : {"switch", "nllb_moe"}) {
    for (const auto* table : kernels::available_kernel_tables()) cases.push_back({family, std::string(table->name)});
  }
  return cases;
}

std::string case_name(const ::testing::TestParamInfo<ParityCase>& info) {
  return info.param.family + "_" + info.param.kernels;
}

class Seq2SeqParityTest : public ::testing::TestWithParam<ParityCase> {
 protected:
  void SetUp() override { ops::select_kernels(GetParam().kernels); }
  void TearDown() override { ops::select_kernels("auto"); }
};

TEST_P(Seq2SeqParityTest, EncoderOutputsMatchTransformers) {
  const auto& family = GetParam().family;
  auto model = models::Seq2SeqModel::load(fixture_dir(family));
  const auto reference = fixture_json(family, "reference.json");
  std::vector<std::vector<int32_t>> sources;
  for (const auto& source : reference["sources"]) sources.push_back(testing::ids(source["src_ids"]));
  // All sources in one batch: a source's output must not depend on the others (capacity is per sequence).
  const auto encoded = model->encode(sources);
  for (size_t s = 0; s < sources.size(); ++s) {
    const auto expected = format::read_npy_f32(fixture_dir(family) / reference["sources"][s]["encoder_npy"].get<std::string>());
    const auto& c = model->config();
    const double tolerance =
        testing::reduction_tolerance(testing::kEpsF32, testing::seq2seq_longest_reduction(c, static_cast<int64_t>(sources[s].size())),
                                     4 * c.encoder.n_layers, testing::max_abs(expected.values));
    testing::expect_close(expected.values, encoded[s].hidden, tolerance, family + " encoder output of source " + std::to_string(s));
  }
}

TEST_P(Seq2SeqParityTest, IncrementalDecoderLogitsMatchTransformers) {
  const auto& family = GetParam().family;
  auto model = models::Seq2SeqModel::load(fixture_dir(family));
  const auto reference = fixture_json(family, "reference.json");
  const auto& c = model->config();
  for (const auto& source : reference["sources"]) {
    const auto src = testing::ids(source["src_ids"]);
    const auto target = testing::ids(source["decoder_input_ids"]);
    const auto encoded = model->encode({src});
    models::DecoderCache cache;
    std::vector<float> actual;
    for (int32_t token : target) {
      models::DecoderCache* caches[] = {&cache};
      const models::EncodedSource* sources[] = {&encoded.front()};
      const auto logits = model->decode(std::span(&token, 1), caches, sources);
      actual.insert(actual.end(), logits.begin(), logits.end());
    }
    const auto expected = format::read_npy_f32(fixture_dir(family) / source["decoder_logits_npy"].get<std::string>());
    const int64_t depth = testing::seq2seq_depth(c);
    const double tolerance = testing::reduction_tolerance(
        testing::kEpsF32, testing::seq2seq_longest_reduction(c, static_cast<int64_t>(std::max(src.size(), target.size()))), depth,
        testing::max_abs(expected.values));
    testing::expect_close(expected.values, actual, tolerance,
                          family + " decoder logits of source " + std::to_string(source["index"].get<int>()));
  }
}

TEST_P(Seq2SeqParityTest, CountsEveryParameter) {
  const auto& family = GetParam().family;
  auto model = models::Seq2SeqModel::load(fixture_dir(family));
  EXPECT_EQ(model->parameter_counts().total, fixture_json(family, "reference.json")["total_params"].get<int64_t>());
}

INSTANTIATE_TEST_SUITE_P(Families, Seq2SeqParityTest, ::testing::ValuesIn(parity_cases()), case_name);

TEST(Seq2SeqCapacity, SwitchDropsTokensBeyondTheExpertCapacity) {
  auto model = models::Seq2SeqModel::load(fixture_dir("switch"));
  const auto reference = fixture_json("switch", "reference.json");
  std::vector<std::vector<int32_t>> sources;
  for (const auto& source : reference["sources"]) sources.push_back(testing::ids(source["src_ids"]));
  int64_t expected_drops = 0;
  for (const auto& [layer, count] : reference["encoder_tokens_dropped_per_layer"].items()) expected_drops += count.get<int64_t>();
  ASSERT_GT(expected_drops, 0) << "the fixture must overflow an expert";
  model->encode(sources);
  EXPECT_EQ(static_cast<int64_t>(model->dropped_rows()), expected_drops);
}

TEST(Seq2SeqRelativePositions, BucketsMatchTransformersAtLogBoundaries) {
  // transformers' _relative_position_bucket (32 buckets, max distance 128), evaluated in torch.
  struct Case {
    int64_t relative;
    bool bidirectional;
    int bucket;
  };
  for (const Case& c : {Case{0, true, 0}, Case{7, true, 23}, Case{-7, true, 7}, Case{8, true, 24}, Case{16, true, 26},
                        Case{-16, true, 10}, Case{32, true, 28}, Case{64, true, 30}, Case{127, true, 31},
                        Case{500, true, 31}, Case{-500, true, 15}, Case{5, false, 0}, Case{-15, false, 15},
                        Case{-16, false, 16}, Case{-32, false, 21}, Case{-127, false, 31}, Case{-1000, false, 31}}) {
    EXPECT_EQ(layers::RelativePositionBias::bucket(c.relative, c.bidirectional, 32, 128), c.bucket)
        << "relative " << c.relative << (c.bidirectional ? " bidirectional" : " causal");
  }
}

}  // namespace
}  // namespace elephant
