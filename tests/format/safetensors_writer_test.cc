// The safetensors writer against the reader: what is written reads back with the same names,
// dtypes, shapes, bytes and metadata (including empty and scalar tensors), data stays 8-byte
// aligned, a committed fixture rewritten tensor by tensor loads unchanged, and misuse is refused.
#include "format/safetensors_writer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/error.h"
#include "format/safetensors.h"
#include "format/scratch_checkpoint.h"

namespace elephant {
namespace {

std::span<const std::byte> as_bytes_of(const auto& values) { return std::as_bytes(std::span(values)); }

TEST(SafetensorsWriter, RoundTripsEveryDtypeShapeAndMetadata) {
  testing::ScratchDir dir;
  const std::vector<float> f32 = {1.0f, -2.5f, 3.25f, 0.0f, 5.0f, 6.0f};
  const std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x7bff};
  const std::vector<int8_t> i8 = {-127, 0, 5, 127, -1};
  const std::vector<uint8_t> u8 = {0x12, 0xff, 0x80};
  const std::vector<int32_t> i32 = {7};
  format::SafetensorsWriter writer;
  writer.add("a.f32", DType::kF32, {2, 3}, as_bytes_of(f32));
  writer.add("b.f16", DType::kF16, {3}, as_bytes_of(f16));
  writer.add("c.i8", DType::kI8, {5}, as_bytes_of(i8));  // 5 bytes: the next tensor starts unaligned
  writer.add("d.u8", DType::kU8, {1, 3}, as_bytes_of(u8));
  writer.add("e.empty", DType::kF32, {0, 4}, std::span<const std::byte>());
  writer.add("f.scalar", DType::kI32, {}, [&](std::span<std::byte> out) { std::memcpy(out.data(), i32.data(), 4); });
  writer.set_metadata("format", "pt");
  writer.set_metadata("quant_method", "elephant");
  std::vector<std::string> progress;
  writer.write(dir / "model.safetensors", [&](size_t done, size_t total, const std::string& name) {
    progress.push_back(std::to_string(done) + "/" + std::to_string(total) + " " + name);
  });
  EXPECT_EQ(progress.back(), "6/6 f.scalar");
  EXPECT_FALSE(std::filesystem::exists(dir / "model.safetensors.partial"));

  const auto file = format::SafetensorsFile::open(dir / "model.safetensors");
  const auto& tensors = file->tensors();
  ASSERT_EQ(tensors.size(), 6u);
  const auto expect_tensor = [&](const std::string& name, DType dtype, std::vector<int64_t> shape,
                                 std::span<const std::byte> bytes) {
    const format::TensorView& view = tensors.at(name);
    EXPECT_EQ(view.dtype, dtype) << name;
    EXPECT_EQ(view.shape, shape) << name;
    ASSERT_EQ(view.bytes.size(), bytes.size()) << name;
    if (!bytes.empty()) {
      EXPECT_EQ(std::memcmp(view.bytes.data(), bytes.data(), bytes.size()), 0) << name;
    }
  };
  expect_tensor("a.f32", DType::kF32, {2, 3}, as_bytes_of(f32));
  expect_tensor("b.f16", DType::kF16, {3}, as_bytes_of(f16));
  expect_tensor("c.i8", DType::kI8, {5}, as_bytes_of(i8));
  expect_tensor("d.u8", DType::kU8, {1, 3}, as_bytes_of(u8));
  expect_tensor("e.empty", DType::kF32, {0, 4}, {});
  expect_tensor("f.scalar", DType::kI32, {}, as_bytes_of(i32));
  EXPECT_EQ(file->metadata().at("quant_method"), "elephant");
  // The data section starts 8-byte aligned within the file (and the mapping is page aligned).
  EXPECT_EQ(reinterpret_cast<uintptr_t>(tensors.at("a.f32").bytes.data()) % 8, 0u);
}

TEST(SafetensorsWriter, RewritingAFixtureGivesTheSameTensors) {
  testing::ScratchDir dir;
  const auto original = format::SafetensorsFile::open(testing::fixture_dir("qwen2_moe") / "model.safetensors");
  format::SafetensorsWriter writer;
  for (const auto& [name, view] : original->tensors()) writer.add(name, view.dtype, view.shape, view.bytes);
  writer.write(dir / "copy.safetensors");
  const auto copy = format::SafetensorsFile::open(dir / "copy.safetensors");
  ASSERT_EQ(copy->tensors().size(), original->tensors().size());
  for (const auto& [name, view] : original->tensors()) {
    const format::TensorView& other = copy->tensors().at(name);
    EXPECT_EQ(other.shape, view.shape) << name;
    EXPECT_EQ(other.dtype, view.dtype) << name;
    ASSERT_EQ(other.bytes.size(), view.bytes.size()) << name;
    EXPECT_EQ(std::memcmp(other.bytes.data(), view.bytes.data(), view.bytes.size()), 0) << name;
  }
}

TEST(SafetensorsWriter, RefusesDuplicatesAndSizeMismatches) {
  const std::vector<float> values(6, 1.0f);
  format::SafetensorsWriter writer;
  writer.add("w", DType::kF32, {2, 3}, as_bytes_of(values));
  EXPECT_THROW(writer.add("w", DType::kF32, {2, 3}, as_bytes_of(values)), Error);
  EXPECT_THROW(writer.add("__metadata__", DType::kF32, {2, 3}, as_bytes_of(values)), Error);
  try {
    writer.add("v", DType::kF32, {2, 4}, as_bytes_of(values));
    FAIL() << "a size mismatch must be refused";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("tensor 'v': shape and dtype F32 need 32 bytes, got 24"),
              std::string::npos)
        << error.what();
  }
  EXPECT_THROW(writer.write("/nonexistent-dir/x.safetensors"), Error);
}

}  // namespace
}  // namespace elephant
