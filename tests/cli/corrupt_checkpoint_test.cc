// Damaged model directories, built at test time from the committed mixtral fixtures, as a user
// meets them: each one makes models::Model::load throw elephant::Error and `elephant inspect`
// exit with status 1, both with the one message that names the file, the tensor or key, and
// what was expected versus found. An unknown extra tensor is only a warning.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "cli/cli_runner.h"
#include "core/error.h"
#include "format/scratch_checkpoint.h"
#include "models/model.h"
#include "support/fixtures.h"

namespace elephant {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::SafetensorsImage;
using ::testing::StartsWith;

namespace fs = std::filesystem;

constexpr const char* kExpert = "model.layers.1.block_sparse_moe.experts.2.w1.weight";  // [32, 64] F32
constexpr const char* kIndex = "model.safetensors.index.json";

// Edits of a copied model directory.
void edit_weights(const fs::path& file, const std::function<void(SafetensorsImage&)>& edit) {
  auto image = SafetensorsImage::read(file);
  edit(image);
  image.write(file);
}
void edit_json(const fs::path& file, const std::function<void(nlohmann::json&)>& edit) {
  auto json = format::read_json_file(file);
  edit(json);
  testing::write_json_file(file, json);
}
// Replaces the header with `header_text` and keeps the data section.
void replace_header(const fs::path& file, const std::string& header_text) {
  testing::write_file_bytes(file, testing::safetensors_bytes(header_text, SafetensorsImage::read(file).data));
}

struct Damage {
  std::string name;
  std::string fixture;                         // copied from tests/fixtures
  std::function<void(const fs::path&)> apply;  // edits the copy
  std::vector<std::string> expected;           // parts of the message
};

void PrintTo(const Damage& damage, std::ostream* out) { *out << damage.name; }

// The first tensor (in the reader's name order) whose bytes end past `data_size`.
std::string first_tensor_past(const SafetensorsImage& image, uint64_t data_size) {
  for (const auto& [name, entry] : image.header.items()) {
    if (name != "__metadata__" && entry["data_offsets"][1].get<uint64_t>() > data_size) return name;
  }
  return "";
}

std::vector<Damage> damages() {
  const auto weights = SafetensorsImage::read(testing::fixture_dir("mixtral") / "model.safetensors");
  const uint64_t data_size = weights.data.size();
  const uint64_t cut_data_size = data_size / 2;
  const std::string tensor = fmt::format("model.safetensors: tensor '{}'", kExpert);
  const auto single = [](const fs::path& dir) { return dir / "model.safetensors"; };
  return {
      // The safetensors container.
      {"TruncatedInTheData",
       "mixtral",
       [=](const fs::path& dir) {
         fs::resize_file(single(dir), fs::file_size(single(dir)) - (data_size - cut_data_size));
       },
       {fmt::format("model.safetensors: tensor '{}'", first_tensor_past(weights, cut_data_size)),
        fmt::format("reach past the end of the data section ({} bytes; truncated file?)", cut_data_size)}},
      {"ShorterThanTheLengthField",
       "mixtral",
       [=](const fs::path& dir) { fs::resize_file(single(dir), 4); },
       {"model.safetensors: file is 4 bytes, too short for a safetensors header"}},
      {"HeaderLengthLargerThanTheFile",
       "mixtral",
       [=](const fs::path& dir) {
         auto bytes = testing::read_file_bytes(single(dir));
         bytes.replace(0, 8, testing::u64_le(bytes.size()));
         testing::write_file_bytes(single(dir), bytes);
       },
       {"model.safetensors: header claims", "(truncated download?)"}},
      {"HeaderNotJson",
       "mixtral",
       [=](const fs::path& dir) { replace_header(single(dir), "{'lm_head.weight': 1}"); },
       {"model.safetensors: header is not valid JSON"}},
      {"HeaderNotAnObject",
       "mixtral",
       [=](const fs::path& dir) { replace_header(single(dir), "\"F32\""); },
       {"model.safetensors: header JSON must be an object, found string"}},
      {"OffsetsPastTheEnd",
       "mixtral",
       [=](const fs::path& dir) {
         edit_weights(single(dir), [&](auto& w) { w.tensor(kExpert)["data_offsets"] = {data_size, data_size + 8192}; });
       },
       {tensor, fmt::format("data_offsets [{}, {}] reach past the end of the data section ({} bytes", data_size,
                            data_size + 8192, data_size)}},
      {"OverlappingOffsets",
       "mixtral",
       [=](const fs::path& dir) {
         edit_weights(single(dir), [&](auto& w) { w.tensor(kExpert)["data_offsets"] = {65536 - 8, 65536 + 8184}; });
       },
       {"model.safetensors: tensors 'lm_head.weight' [0, 65536] and",
        fmt::format("'{}' [65528, 73720] overlap in the data section", kExpert)}},
      {"OffsetsBeginAfterEnd",
       "mixtral",
       [=](const fs::path& dir) {
         edit_weights(single(dir), [&](auto& w) { w.tensor(kExpert)["data_offsets"] = {8192, 0}; });
       },
       {tensor, "data_offsets [8192, 0] has begin after end"}},
      {"Float8Dtype",
       "mixtral",
       [=](const fs::path& dir) {
         edit_weights(single(dir), [&](auto& w) { w.tensor(kExpert)["dtype"] = "F8_E4M3"; });
       },
       {tensor, "dtype 'F8_E4M3' is not supported (supported: F32, F16, BF16"}},
      {"QuantizedDtype",
       "mixtral",
       [=](const fs::path& dir) { edit_weights(single(dir), [&](auto& w) { w.tensor(kExpert)["dtype"] = "Q4"; }); },
       {tensor, "dtype 'Q4' is not supported"}},
      {"ShapeDisagreesWithBytes",
       "mixtral",
       [=](const fs::path& dir) { edit_weights(single(dir), [&](auto& w) {
                                    w.tensor(kExpert)["shape"] = {32, 32};
                                  }); },
       {tensor, "shape [32,32] of F32 needs 4096 bytes but data_offsets", "span 8192 bytes"}},
      {"NegativeShapeEntry",
       "mixtral",
       [=](const fs::path& dir) {
         edit_weights(single(dir), [&](auto& w) { w.tensor(kExpert)["shape"] = {-32, -64}; });
       },
       {tensor, "'shape' must be an array of non-negative integers, found [-32,-64]"}},
      {"FloatShapeEntry",
       "mixtral",
       [=](const fs::path& dir) {
         edit_weights(single(dir), [&](auto& w) { w.tensor(kExpert)["shape"] = {32.0, 64}; });
       },
       {tensor, "'shape' must be an array of non-negative integers, found [32.0,64]"}},
      // Tensors against what the config implies.
      {"MissingExpertWeight",
       "mixtral",
       [=](const fs::path& dir) { edit_weights(single(dir), [&](auto& w) { w.header.erase(kExpert); }); },
       {fmt::format("tensor '{}' is missing (expected shape [32, 64]; the config implies it)", kExpert)}},
      {"TransposedExpertWeight",
       "mixtral",
       [=](const fs::path& dir) { edit_weights(single(dir), [&](auto& w) {
                                    w.tensor(kExpert)["shape"] = {64, 32};
                                  }); },
       {tensor, "expected shape [32, 64], found [64, 32] F32 (transposed? check the converter)"}},
      {"IntegerWeight",
       "mixtral",
       [=](const fs::path& dir) { edit_weights(single(dir), [&](auto& w) { w.tensor(kExpert)["dtype"] = "I32"; }); },
       {fmt::format("model.safetensors: tensor '{}' has dtype I32, expected a float dtype (F32, F16 or BF16)",
                    kExpert)}},
      {"ConfigDisagreesWithWeights",
       "mixtral",
       [](const fs::path& dir) { edit_json(dir / "config.json", [](auto& c) { c["hidden_size"] = 32; }); },
       {"model.safetensors: tensor 'model.embed_tokens.weight': expected shape [256, 32], found [256, 64] F32 "
        "(does config.json match the weights?)"}},
      // config.json.
      {"MissingConfig",
       "mixtral",
       [](const fs::path& dir) { fs::remove(dir / "config.json"); },
       {": missing config.json (expected a Hugging Face model directory)"}},
      {"ConfigNotJson",
       "mixtral",
       [](const fs::path& dir) { testing::write_file_bytes(dir / "config.json", "{\"a\": }"); },
       {"config.json: not valid JSON"}},
      {"UnknownModelType",
       "mixtral",
       [](const fs::path& dir) { edit_json(dir / "config.json", [](auto& c) { c["model_type"] = "deepseek_v3"; }); },
       {"config.json: model_type 'deepseek_v3' is not supported (supported: mixtral, qwen2_moe, qwen3_moe, olmoe)"}},
      {"MoreExpertsPerTokenThanExperts",
       "mixtral",
       [](const fs::path& dir) { edit_json(dir / "config.json", [](auto& c) { c["num_experts_per_tok"] = 8; }); },
       {"config.json: key 'num_experts_per_tok': expected at most the number of experts (4), found 8"}},
      {"HiddenSizeAsAString",
       "mixtral",
       [](const fs::path& dir) { edit_json(dir / "config.json", [](auto& c) { c["hidden_size"] = "64"; }); },
       {"config.json: key 'hidden_size': expected a positive integer, found \"64\""}},
      {"KvHeadsNotDividingHeads",
       "mixtral",
       [](const fs::path& dir) { edit_json(dir / "config.json", [](auto& c) { c["num_key_value_heads"] = 3; }); },
       {"config.json: key 'num_key_value_heads': expected a divisor of num_attention_heads (4), found 3"}},
      {"YarnRope",
       "mixtral",
       [](const fs::path& dir) {
         edit_json(dir / "config.json", [](auto& c) {
           c["rope_parameters"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
         });
       },
       {"config.json: key 'rope_parameters': rope type 'yarn' is not supported (supported: default)"}},
      // Sharded checkpoints.
      {"IndexNamesAMissingShard",
       "mixtral_sharded",
       [](const fs::path& dir) { fs::remove(dir / "model-00002-of-00003.safetensors"); },
       {"model.safetensors.index.json: weight_map['",
        "names shard 'model-00002-of-00003.safetensors', which does not exist"}},
      {"IndexNamesATensorItsShardLacks",
       "mixtral_sharded",
       [](const fs::path& dir) {
         edit_json(dir / kIndex,
                   [](auto& index) { index["weight_map"]["lm_head.weight"] = "model-00003-of-00003.safetensors"; });
       },
       {"model-00003-of-00003.safetensors: index says tensor 'lm_head.weight' is in this shard, but it is not"}},
      {"TruncatedShard",
       "mixtral_sharded",
       [](const fs::path& dir) { fs::resize_file(dir / "model-00002-of-00003.safetensors", 1000); },
       {"model-00002-of-00003.safetensors: header claims"}},
  };
}

class DamagedCheckpointTest : public ::testing::TestWithParam<Damage> {
 protected:
  void SetUp() override {
    dir_ = testing::copy_fixture(GetParam().fixture, scratch_ / "model");
    GetParam().apply(dir_);
  }

  testing::ScratchDir scratch_;
  fs::path dir_;
};

TEST_P(DamagedCheckpointTest, LoadingThrowsTheMessage) {
  try {
    models::Model::load(dir_);
    ADD_FAILURE() << "the damaged checkpoint loaded";
  } catch (const Error& error) {
    for (const auto& part : GetParam().expected) EXPECT_THAT(error.what(), HasSubstr(part));
  }
}

TEST_P(DamagedCheckpointTest, InspectPrintsTheMessageAndExitsWithStatus1) {
  const auto result = testing::run_cli({"inspect", "-m", dir_.string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "");
  // One line, starting with the directory or file it is about.
  EXPECT_THAT(result.err, AllOf(StartsWith("error: " + dir_.string()), ::testing::EndsWith("\n")));
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  for (const auto& part : GetParam().expected) EXPECT_THAT(result.err, HasSubstr(part));
}

INSTANTIATE_TEST_SUITE_P(Damages, DamagedCheckpointTest, ::testing::ValuesIn(damages()),
                         [](const auto& info) { return info.param.name; });

TEST(ExtraTensor, IsOnlyAWarningNamingTheTensor) {
  const testing::ScratchDir scratch;
  const auto dir = testing::copy_fixture("mixtral", scratch / "model");
  edit_weights(dir / "model.safetensors", [](auto& w) { w.add_f32_tensor("model.layers.0.mlp.extra.weight", {4, 8}); });
  const std::string warning =
      fmt::format("warning: {}: tensor 'model.layers.0.mlp.extra.weight' is not used by the mixtral model; ignored\n",
                  dir.string());

  ::testing::internal::CaptureStderr();
  const auto model = models::Model::load(dir);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), warning);
  EXPECT_EQ(model->parameter_counts().total,
            testing::fixture_json("mixtral", "prompt.json")["total_params"].get<int64_t>());

  const auto result = testing::run_cli({"inspect", "-m", dir.string()});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.err, warning);
  EXPECT_THAT(result.out, HasSubstr("parameters:       144576 total"));
}

}  // namespace
}  // namespace elephant
