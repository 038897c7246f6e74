// The model's load-time copies (models/weight_copies.h): which matrices get one, what they
// hold, and how much memory a copy must leave.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/interleave.h"
#include "models/weight_copies.h"

namespace elephant {
namespace {

TEST(WeightCopies, InterleaveWhatHasALayoutAndCopyTheRestAsItIs) {
  std::vector<uint16_t> bf16(32 * 8);
  for (size_t i = 0; i < bf16.size(); ++i) bf16[i] = static_cast<uint16_t>(0x3f80 + i);
  std::vector<int8_t> int8(32 * 8, 3);
  std::vector<float> scales(32, 0.5f);
  ops::WeightMatrix dense{DType::kBF16, 32, 8, bf16.data()};
  ops::WeightMatrix quantized{DType::kI8, 32, 8, int8.data()};
  quantized.format = kernels::WeightFormat::kInt8PerChannel;
  quantized.scales = scales.data();
  ops::WeightMatrix odd_rows{DType::kBF16, 24, 8, bf16.data()};
  std::vector<float> floats(32 * 8, 1.5f);
  ops::WeightMatrix f32{DType::kF32, 32, 8, floats.data()};

  models::WeightCopies copies({.int4 = true, .int8 = true, .bf16 = true});
  copies.add(dense, /*keep_source=*/true);
  copies.add(quantized, /*keep_source=*/true);
  copies.add(odd_rows, /*keep_source=*/true);
  copies.add(f32, /*keep_source=*/true);
  ASSERT_EQ(copies.skipped(), 0) << "this test needs a few KiB of memory";
  EXPECT_EQ(copies.interleaved_bytes(), 32 * 8 * 2 + 32 * 8);
  EXPECT_EQ(copies.bytes(), 32 * 8 * 2 + 32 * 8 + 24 * 8 * 2 + 32 * 8 * 4);

  ASSERT_NE(dense.interleaved_data, nullptr);
  std::vector<std::byte> expected(static_cast<size_t>(kernels::interleaved_bf16_bytes(dense)));
  kernels::interleave_bf16(dense, expected.data());
  EXPECT_EQ(std::memcmp(dense.interleaved_data, expected.data(), expected.size()), 0);
  EXPECT_EQ(dense.data, bf16.data()) << "an interleaved copy sits beside the mapped matrix";
  ASSERT_NE(quantized.interleaved_data, nullptr);
  EXPECT_EQ(quantized.interleaved_scales, nullptr);
  EXPECT_EQ(quantized.scales, scales.data()) << "int8 kernels read the matrix's own scales";
  // A matrix with no interleaved layout is replaced by a copy of the same bytes.
  EXPECT_EQ(odd_rows.interleaved_data, nullptr);
  EXPECT_NE(odd_rows.data, bf16.data());
  EXPECT_EQ(std::memcmp(odd_rows.data, bf16.data(), 24 * 8 * 2), 0);
  EXPECT_EQ(f32.interleaved_data, nullptr);
  EXPECT_EQ(std::memcmp(f32.data, floats.data(), floats.size() * 4), 0);
  // The source stays readable and unchanged.
  EXPECT_EQ(static_cast<const uint16_t*>(dense.data)[5], 0x3f85);
}

TEST(WeightCopies, WithoutInterleavingEveryMatrixIsCopiedAsItIsScalesIncluded) {
  std::vector<uint8_t> packed(32 * 64 / 2);
  for (size_t i = 0; i < packed.size(); ++i) packed[i] = static_cast<uint8_t>(i * 7);
  std::vector<uint16_t> group_scales(32 * 2);
  for (size_t i = 0; i < group_scales.size(); ++i) group_scales[i] = static_cast<uint16_t>(0x3c00 + i);
  ops::WeightMatrix int4{DType::kU8, 32, 64, packed.data()};
  int4.format = kernels::WeightFormat::kInt4Group;
  int4.scales = group_scales.data();
  int4.scale_dtype = DType::kF16;
  int4.group_size = 32;

  models::WeightCopies copies(kernels::InterleavedLayouts{});
  copies.add(int4, /*keep_source=*/true);
  ASSERT_EQ(copies.skipped(), 0) << "this test needs a few KiB of memory";
  EXPECT_EQ(copies.interleaved_bytes(), 0);
  EXPECT_EQ(copies.bytes(), static_cast<int64_t>(packed.size() + group_scales.size() * 2));
  EXPECT_EQ(int4.interleaved_data, nullptr);
  EXPECT_NE(int4.data, packed.data());
  EXPECT_NE(int4.scales, group_scales.data());
  EXPECT_EQ(std::memcmp(int4.data, packed.data(), packed.size()), 0);
  EXPECT_EQ(std::memcmp(int4.scales, group_scales.data(), group_scales.size() * 2), 0);
}

// The AVX2 table reads only the int4 layout: its int8 and BF16 matrices are copied as they are.
TEST(WeightCopies, OnlyTheListedLayoutsAreInterleaved) {
  std::vector<uint8_t> packed(32 * 64 / 2, 0x5a);
  std::vector<uint16_t> group_scales(32 * 2, 0x3c00);
  ops::WeightMatrix int4{DType::kU8, 32, 64, packed.data()};
  int4.format = kernels::WeightFormat::kInt4Group;
  int4.scales = group_scales.data();
  int4.scale_dtype = DType::kF16;
  int4.group_size = 32;
  std::vector<uint16_t> bf16(32 * 8, 0x3f80);
  ops::WeightMatrix dense{DType::kBF16, 32, 8, bf16.data()};

  models::WeightCopies copies({.int4 = true});
  copies.add(int4, /*keep_source=*/true);
  copies.add(dense, /*keep_source=*/true);
  ASSERT_EQ(copies.skipped(), 0) << "this test needs a few KiB of memory";
  ASSERT_NE(int4.interleaved_data, nullptr);
  ASSERT_NE(int4.interleaved_scales, nullptr);
  EXPECT_EQ(int4.data, packed.data()) << "an interleaved copy sits beside the mapped matrix";
  EXPECT_EQ(dense.interleaved_data, nullptr);
  EXPECT_NE(dense.data, bf16.data());
  EXPECT_EQ(copies.interleaved_bytes(), static_cast<int64_t>(packed.size() + group_scales.size() * 2));
}

// A copy that would leave less than the reserve is not made (its bytes are never read: the matrix
// below claims 2^42 of them), and it does not count against the copies after it.
TEST(WeightCopies, ACopyThatWouldExhaustMemoryIsSkippedAndTheNextOneMade) {
  std::vector<uint16_t> bf16(32 * 8, 0x3f80);
  ops::WeightMatrix huge{DType::kBF16, int64_t{1} << 20, int64_t{1} << 21, bf16.data()};
  ops::WeightMatrix small{DType::kBF16, 32, 8, bf16.data()};
  models::WeightCopies copies(kernels::InterleavedLayouts{});
  copies.add(huge, /*keep_source=*/true);
  EXPECT_EQ(copies.skipped(), 1);
  EXPECT_EQ(copies.skipped_bytes(), int64_t{1} << 42);
  EXPECT_EQ(huge.data, bf16.data());
  copies.add(small, /*keep_source=*/true);
  EXPECT_EQ(copies.skipped(), 1) << "this test needs a few KiB of memory";
  EXPECT_NE(small.data, bf16.data());
  EXPECT_EQ(copies.bytes(), 32 * 8 * 2);
}

TEST(WeightCopies, LeaveAnEighthOfMemoryAndAtLeastOneGiB) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  EXPECT_EQ(models::WeightCopies::reserve_bytes(24 * kGiB), 3 * kGiB);
  EXPECT_EQ(models::WeightCopies::reserve_bytes(4 * kGiB), kGiB);
  EXPECT_EQ(models::WeightCopies::reserve_bytes(0), kGiB);
}

}  // namespace
}  // namespace elephant
