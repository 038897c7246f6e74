// Checkpoint::open and Checkpoint::require on damaged model directories built at test time from
// the mixtral and mixtral_sharded fixtures: a missing or unparsable config.json, a sharded index
// that disagrees with its shards, and tensors that are missing, transposed, mis-shaped or not
// float are errors naming the directory or file, the tensor and what was expected.
#include "format/checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "core/error.h"
#include "format/scratch_checkpoint.h"
#include "support/fixtures.h"

namespace elephant {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::SafetensorsImage;
using ::testing::ThrowsMessage;

constexpr const char* kExpert = "model.layers.1.block_sparse_moe.experts.2.w1.weight";  // [32, 64] F32
constexpr const char* kShard1 = "model-00001-of-00003.safetensors";
constexpr const char* kShard3 = "model-00003-of-00003.safetensors";

class CheckpointTest : public ::testing::Test {
 protected:
  // A copy of tests/fixtures/<fixture> in the scratch folder.
  std::filesystem::path copy(const std::string& fixture) { return testing::copy_fixture(fixture, scratch_ / fixture); }
  static auto open(const std::filesystem::path& directory) {
    return [directory] { format::Checkpoint::open(directory); };
  }

  testing::ScratchDir scratch_;
};

TEST_F(CheckpointTest, OpensSingleFileAndShardedFixtures) {
  const auto single = format::Checkpoint::open(testing::fixture_dir("mixtral"));
  const auto sharded = format::Checkpoint::open(testing::fixture_dir("mixtral_sharded"));
  EXPECT_EQ(single->file_count(), 1u);
  EXPECT_EQ(sharded->file_count(), 3u);
  EXPECT_EQ(single->tensors().size(), sharded->tensors().size());
  EXPECT_EQ(single->config()["model_type"], "mixtral");
}

TEST_F(CheckpointTest, NotADirectory) {
  EXPECT_THAT(open(scratch_ / "absent"), ThrowsMessage<Error>(AllOf(HasSubstr("absent: not a model directory"),
                                                                    HasSubstr("config.json and *.safetensors"))));
}

TEST_F(CheckpointTest, MissingConfigJson) {
  const auto dir = copy("mixtral");
  std::filesystem::remove(dir / "config.json");
  EXPECT_THAT(open(dir), ThrowsMessage<Error>(HasSubstr(dir.string() + ": missing config.json")));
}

TEST_F(CheckpointTest, ConfigJsonIsNotValidJson) {
  const auto dir = copy("mixtral");
  testing::write_file_bytes(dir / "config.json", "{\"model_type\": \"mixtral\",, }");
  EXPECT_THAT(open(dir), ThrowsMessage<Error>(HasSubstr((dir / "config.json").string() + ": not valid JSON")));
}

TEST_F(CheckpointTest, ConfigJsonIsNotAnObject) {
  const auto dir = copy("mixtral");
  testing::write_file_bytes(dir / "config.json", "[\"mixtral\"]");
  EXPECT_THAT(open(dir), ThrowsMessage<Error>(HasSubstr("config.json: must hold a JSON object")));
}

TEST_F(CheckpointTest, NoWeights) {
  const auto dir = copy("mixtral");
  std::filesystem::remove(dir / "model.safetensors");
  EXPECT_THAT(open(dir), ThrowsMessage<Error>(HasSubstr("no model.safetensors or model.safetensors.index.json found")));
}

TEST_F(CheckpointTest, DamagedWeightsFileIsNamed) {
  const auto dir = copy("mixtral");
  std::filesystem::resize_file(dir / "model.safetensors", 100);
  EXPECT_THAT(open(dir), ThrowsMessage<Error>(AllOf(HasSubstr((dir / "model.safetensors").string()),
                                                    HasSubstr("the file has only 92 bytes after the length field"))));
}

TEST_F(CheckpointTest, IndexNamesAMissingShard) {
  const auto dir = copy("mixtral_sharded");
  std::filesystem::remove(dir / kShard3);
  EXPECT_THAT(open(dir),
              ThrowsMessage<Error>(AllOf(HasSubstr("model.safetensors.index.json: weight_map['"),
                                         HasSubstr(fmt::format("names shard '{}', which does not exist", kShard3)))));
}

TEST_F(CheckpointTest, IndexNamesATensorItsShardLacks) {
  const auto dir = copy("mixtral_sharded");
  auto index = format::read_json_file(dir / "model.safetensors.index.json");
  const std::string moved = "model.layers.2.self_attn.o_proj.weight";
  ASSERT_NE(index["weight_map"][moved], kShard1);
  index["weight_map"][moved] = kShard1;
  testing::write_json_file(dir / "model.safetensors.index.json", index);
  EXPECT_THAT(open(dir), ThrowsMessage<Error>(AllOf(
                             HasSubstr(kShard1), HasSubstr(fmt::format("index says tensor '{}' is in this shard, but "
                                                                       "it is not",
                                                                       moved)))));
}

TEST_F(CheckpointTest, IndexShardOutsideTheDirectory) {
  const auto dir = copy("mixtral_sharded");
  auto index = format::read_json_file(dir / "model.safetensors.index.json");
  index["weight_map"]["lm_head.weight"] = "../mixtral/model.safetensors";
  testing::write_json_file(dir / "model.safetensors.index.json", index);
  EXPECT_THAT(open(dir), ThrowsMessage<Error>(AllOf(HasSubstr("weight_map['lm_head.weight']"),
                                                    HasSubstr("must be a file name inside the directory"))));
}

TEST_F(CheckpointTest, IndexWithoutWeightMap) {
  const auto dir = copy("mixtral_sharded");
  testing::write_json_file(dir / "model.safetensors.index.json", {{"metadata", nlohmann::json::object()}});
  EXPECT_THAT(open(dir), ThrowsMessage<Error>(HasSubstr("model.safetensors.index.json: expected an object with a "
                                                        "'weight_map' object")));
}

TEST_F(CheckpointTest, ShardTensorMissingFromTheIndexIsOnlyAWarning) {
  const auto dir = copy("mixtral_sharded");
  auto index = format::read_json_file(dir / "model.safetensors.index.json");
  index["weight_map"].erase("lm_head.weight");
  testing::write_json_file(dir / "model.safetensors.index.json", index);
  ::testing::internal::CaptureStderr();
  const auto checkpoint = format::Checkpoint::open(dir);
  const std::string warnings = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(checkpoint->contains("lm_head.weight"));
  EXPECT_THAT(warnings,
              AllOf(HasSubstr("warning: "), HasSubstr(kShard1),
                    HasSubstr("tensor 'lm_head.weight' is not listed in model.safetensors.index.json; ignored")));
}

// Checkpoint::require on a copy of the mixtral checkpoint with one tensor edited.
class RequireTest : public CheckpointTest {
 protected:
  void SetUp() override {
    dir_ = copy("mixtral");
    image_ = SafetensorsImage::read(dir_ / "model.safetensors");
  }
  auto require(const std::string& name, const std::vector<int64_t>& shape) {
    image_.write(dir_ / "model.safetensors");
    return [this, name, shape] { format::Checkpoint::open(dir_)->require(name, shape); };
  }

  std::filesystem::path dir_;
  SafetensorsImage image_;
};

TEST_F(RequireTest, ReturnsTheTensorAndRecordsItAsUsed) {
  const auto checkpoint = format::Checkpoint::open(dir_);
  const auto& view = checkpoint->require(kExpert, {32, 64});
  EXPECT_EQ(view.dtype, DType::kF32);
  EXPECT_EQ(view.bytes.size(), 32u * 64u * 4u);
  const auto unused = checkpoint->unused_tensor_names();
  EXPECT_EQ(std::count(unused.begin(), unused.end(), kExpert), 0);
  EXPECT_EQ(unused.size(), checkpoint->tensors().size() - 1);
}

TEST_F(RequireTest, MissingTensor) {
  image_.header.erase(kExpert);
  EXPECT_THAT(
      require(kExpert, {32, 64}),
      ThrowsMessage<Error>(AllOf(HasSubstr(dir_.string()),
                                 HasSubstr(fmt::format("tensor '{}' is missing (expected shape [32, 64]", kExpert)))));
}

TEST_F(RequireTest, TransposedTensor) {
  image_.tensor(kExpert)["shape"] = {64, 32};
  EXPECT_THAT(require(kExpert, {32, 64}),
              ThrowsMessage<Error>(
                  AllOf(HasSubstr("model.safetensors"),
                        HasSubstr(fmt::format("tensor '{}': expected shape [32, 64], found [64, 32] F32", kExpert)),
                        HasSubstr("(transposed? check the converter)"))));
}

TEST_F(RequireTest, WrongShapePointsAtTheConfig) {
  image_.tensor(kExpert)["shape"] = {16, 128};
  EXPECT_THAT(require(kExpert, {32, 64}),
              ThrowsMessage<Error>(AllOf(HasSubstr("expected shape [32, 64], found [16, 128] F32"),
                                         HasSubstr("(does config.json match the weights?)"))));
}

TEST_F(RequireTest, IntegerTensorWhereAFloatWeightIsExpected) {
  image_.tensor(kExpert)["dtype"] = "I32";
  EXPECT_THAT(require(kExpert, {32, 64}),
              ThrowsMessage<Error>(
                  AllOf(HasSubstr("model.safetensors"),
                        HasSubstr(fmt::format("tensor '{}' has dtype I32, expected a float dtype", kExpert)))));
}

}  // namespace
}  // namespace elephant
