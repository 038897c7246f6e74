// SafetensorsFile::open on damaged files built at test time from the mixtral fixture: every way a
// header, an offset, a shape or a dtype can be wrong is refused with an elephant::Error naming
// the file, the tensor and what was expected versus found, so layers can trust every TensorView.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "core/error.h"
#include "format/safetensors.h"
#include "format/scratch_checkpoint.h"
#include "support/fixtures.h"

namespace elephant {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::SafetensorsImage;
using ::testing::ThrowsMessage;

constexpr const char* kExpert = "model.layers.1.block_sparse_moe.experts.2.w1.weight";  // [32, 64] F32

class SafetensorsCorruptionTest : public ::testing::Test {
 protected:
  SafetensorsCorruptionTest() : image_(SafetensorsImage::read(testing::fixture_dir("mixtral") / "model.safetensors")) {}

  // Writes `bytes` as model.safetensors in the scratch folder and returns its path.
  std::filesystem::path write(const std::string& bytes) {
    const auto path = scratch_ / "model.safetensors";
    testing::write_file_bytes(path, bytes);
    return path;
  }
  std::filesystem::path write_image() { return write(image_.bytes()); }
  auto open(const std::filesystem::path& path) {
    return [path] { format::SafetensorsFile::open(path); };
  }

  testing::ScratchDir scratch_;
  SafetensorsImage image_;
};

TEST_F(SafetensorsCorruptionTest, RewrittenFixtureOpensWithTheSameTensors) {
  // The writer used by every other test produces valid files: their errors come from the damage.
  const auto file = format::SafetensorsFile::open(write_image());
  const auto original = format::SafetensorsFile::open(testing::fixture_dir("mixtral") / "model.safetensors");
  ASSERT_EQ(file->tensors().size(), original->tensors().size());
  const auto& view = file->tensors().at(kExpert);
  EXPECT_EQ(view.shape, (std::vector<int64_t>{32, 64}));
  EXPECT_TRUE(std::equal(view.bytes.begin(), view.bytes.end(), original->tensors().at(kExpert).bytes.begin(),
                         original->tensors().at(kExpert).bytes.end()));
  EXPECT_EQ(file->metadata().at("format"), "pt");
}

TEST_F(SafetensorsCorruptionTest, EmptyFile) {
  EXPECT_THAT(open(write("")), ThrowsMessage<Error>(AllOf(HasSubstr("model.safetensors: file is 0 bytes"),
                                                          HasSubstr("too short for a safetensors header"))));
}

TEST_F(SafetensorsCorruptionTest, FileShorterThanTheLengthField) {
  EXPECT_THAT(open(write(std::string("\x10\x00\x00\x00\x00", 5))),
              ThrowsMessage<Error>(HasSubstr("model.safetensors: file is 5 bytes")));
}

TEST_F(SafetensorsCorruptionTest, HeaderLengthLargerThanTheFile) {
  std::string bytes = image_.bytes();
  const size_t after_length = bytes.size() - 8;
  bytes.replace(0, 8, testing::u64_le(after_length + 1));
  EXPECT_THAT(open(write(bytes)), ThrowsMessage<Error>(AllOf(
                                      HasSubstr("model.safetensors"),
                                      HasSubstr(fmt::format("header claims {} bytes of JSON but the file has only {} "
                                                            "bytes after the length field",
                                                            after_length + 1, after_length)))));
}

TEST_F(SafetensorsCorruptionTest, HeaderLengthBeyondAnyRealHeader) {
  std::string bytes = image_.bytes();
  bytes.replace(0, 8, testing::u64_le(~uint64_t{0}));
  EXPECT_THAT(open(write(bytes)), ThrowsMessage<Error>(AllOf(HasSubstr("model.safetensors: header length field says"),
                                                             HasSubstr("not a safetensors file or corrupted"))));
}

TEST_F(SafetensorsCorruptionTest, TruncatedInTheDataSection) {
  std::string bytes = image_.bytes();
  bytes.resize(bytes.size() - image_.data.size() / 2);
  EXPECT_THAT(open(write(bytes)), ThrowsMessage<Error>(AllOf(HasSubstr("model.safetensors: tensor '"),
                                                             HasSubstr("reach past the end of the data section"),
                                                             HasSubstr("truncated file?"))));
}

TEST_F(SafetensorsCorruptionTest, HeaderIsNotJson) {
  EXPECT_THAT(open(write(testing::safetensors_bytes("{\"a\": {\"dtype\": \"F32\",", image_.data))),
              ThrowsMessage<Error>(HasSubstr("model.safetensors: header is not valid JSON")));
}

TEST_F(SafetensorsCorruptionTest, HeaderNumberPastTheRangeOfADouble) {
  // Well-formed JSON that nlohmann refuses with out_of_range rather than parse_error (found by
  // fuzz/safetensors_fuzz.cc).
  EXPECT_THAT(open(write(testing::safetensors_bytes("{\"a\": {\"dtype\": 1E999}}", image_.data))),
              ThrowsMessage<Error>(AllOf(HasSubstr("model.safetensors: header is not valid JSON"),
                                         HasSubstr("number overflow"))));
}

TEST_F(SafetensorsCorruptionTest, HeaderJsonIsNotAnObject) {
  EXPECT_THAT(open(write(testing::safetensors_bytes("[1, 2, 3]", image_.data))),
              ThrowsMessage<Error>(HasSubstr("model.safetensors: header JSON must be an object, found array")));
}

TEST_F(SafetensorsCorruptionTest, TensorEntryIsNotAnObject) {
  image_.header[kExpert] = "F32";
  EXPECT_THAT(
      open(write_image()),
      ThrowsMessage<Error>(HasSubstr(fmt::format("tensor '{}': entry must be an object, found string", kExpert))));
}

TEST_F(SafetensorsCorruptionTest, TensorEntryLacksAField) {
  image_.tensor(kExpert).erase("data_offsets");
  EXPECT_THAT(open(write_image()),
              ThrowsMessage<Error>(HasSubstr(fmt::format("tensor '{}': missing field 'data_offsets'", kExpert))));
}

TEST_F(SafetensorsCorruptionTest, MetadataValueIsNotAString) {
  image_.header["__metadata__"]["format"] = 1;
  EXPECT_THAT(open(write_image()),
              ThrowsMessage<Error>(HasSubstr("'__metadata__' value of 'format' must be a string")));
}

TEST_F(SafetensorsCorruptionTest, DataOffsetsPastTheEnd) {
  const uint64_t size = image_.data.size();
  image_.tensor(kExpert)["data_offsets"] = {size - 8192 + 4, size + 4};
  EXPECT_THAT(open(write_image()),
              ThrowsMessage<Error>(AllOf(HasSubstr(fmt::format("model.safetensors: tensor '{}'", kExpert)),
                                         HasSubstr(fmt::format("data_offsets [{}, {}] reach past the end of the data "
                                                               "section ({} bytes",
                                                               size - 8192 + 4, size + 4, size)))));
}

TEST_F(SafetensorsCorruptionTest, DataOffsetsNotABeginEndPair) {
  image_.tensor(kExpert)["data_offsets"] = {0};
  EXPECT_THAT(open(write_image()),
              ThrowsMessage<Error>(
                  AllOf(HasSubstr(kExpert), HasSubstr("'data_offsets' must be [begin, end]"), HasSubstr("found [0]"))));
}

TEST_F(SafetensorsCorruptionTest, DataOffsetsBeginAfterEnd) {
  image_.tensor(kExpert)["data_offsets"] = {8192, 0};
  EXPECT_THAT(open(write_image()), ThrowsMessage<Error>(AllOf(HasSubstr(kExpert), HasSubstr("data_offsets [8192, 0] "
                                                                                            "has begin after end"))));
}

TEST_F(SafetensorsCorruptionTest, OverlappingTensors) {
  // The expert's bytes moved 4 bytes into lm_head.weight, the first tensor of the data section.
  image_.tensor(kExpert)["data_offsets"] = {4, 4 + 8192};
  EXPECT_THAT(open(write_image()),
              ThrowsMessage<Error>(AllOf(HasSubstr("model.safetensors: tensors 'lm_head.weight' [0, 65536] and"),
                                         HasSubstr(fmt::format("'{}' [4, 8196] overlap", kExpert)))));
}

TEST_F(SafetensorsCorruptionTest, UnsupportedDtypes) {
  for (const char* dtype : {"F8_E4M3", "Q4", "f32"}) {
    SCOPED_TRACE(dtype);
    image_.tensor(kExpert)["dtype"] = dtype;
    EXPECT_THAT(
        open(write_image()),
        ThrowsMessage<Error>(AllOf(HasSubstr(fmt::format("tensor '{}': dtype '{}' is not supported", kExpert, dtype)),
                                   HasSubstr("supported: F32, F16, BF16"))));
  }
}

TEST_F(SafetensorsCorruptionTest, ShapeDisagreesWithTheByteCount) {
  image_.tensor(kExpert)["shape"] = {32, 63};
  EXPECT_THAT(
      open(write_image()),
      ThrowsMessage<Error>(AllOf(HasSubstr(fmt::format("tensor '{}': shape [32,63] of F32 needs 8064 bytes", kExpert)),
                                 HasSubstr("span 8192 bytes"))));
}

TEST_F(SafetensorsCorruptionTest, ShapeEntriesThatAreNotNonNegativeIntegers) {
  for (const nlohmann::json& shape :
       {nlohmann::json{-32, -64}, nlohmann::json{32.5, 64}, nlohmann::json{"32", 64}, nlohmann::json("32x64")}) {
    SCOPED_TRACE(shape.dump());
    image_.tensor(kExpert)["shape"] = shape;
    EXPECT_THAT(open(write_image()),
                ThrowsMessage<Error>(AllOf(HasSubstr(kExpert), HasSubstr("'shape' must be an array "
                                                                         "of non-negative integers"))));
  }
}

TEST_F(SafetensorsCorruptionTest, ShapeWhoseByteCountOverflows) {
  // 2^31 x 2^31 F32 elements are 2^64 bytes: the byte count must not wrap around to the 0 bytes
  // that the offsets give.
  // An extent beyond int64_t next to a zero extent has 0 elements but is no valid shape either.
  const uint64_t end = image_.data.size();
  for (const nlohmann::json& shape :
       {nlohmann::json{uint64_t{1} << 31, uint64_t{1} << 31}, nlohmann::json{uint64_t{0}, ~uint64_t{0}}}) {
    SCOPED_TRACE(shape.dump());
    image_.header["huge"] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {end, end}}};
    EXPECT_THAT(open(write_image()),
                ThrowsMessage<Error>(AllOf(HasSubstr("tensor 'huge'"), HasSubstr(shape.dump() + " of F32 overflows"))));
  }
}

}  // namespace
}  // namespace elephant
