// The model's load-time copies (models/interleaved_copies.h): which matrices get one, what they
// hold, and how much memory a copy must leave.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/interleave.h"
#include "models/interleaved_copies.h"

namespace elephant {
namespace {

TEST(InterleavedCopies, CopiesInterleavableMatricesAndLeavesOthers) {
  std::vector<uint16_t> bf16(32 * 8);
  for (size_t i = 0; i < bf16.size(); ++i) bf16[i] = static_cast<uint16_t>(0x3f80 + i);
  std::vector<int8_t> int8(32 * 8, 3);
  std::vector<float> scales(32, 0.5f);
  ops::WeightMatrix dense{DType::kBF16, 32, 8, bf16.data()};
  ops::WeightMatrix quantized{DType::kI8, 32, 8, int8.data()};
  quantized.format = kernels::WeightFormat::kInt8PerChannel;
  quantized.scales = scales.data();
  ops::WeightMatrix odd_rows{DType::kBF16, 24, 8, bf16.data()};
  ops::WeightMatrix f32{DType::kF32, 32, 8, bf16.data()};

  models::InterleavedCopies copies;
  copies.add(dense, /*keep_source=*/true);
  copies.add(quantized, /*keep_source=*/true);
  copies.add(odd_rows);
  copies.add(f32);
  ASSERT_EQ(copies.skipped(), 0) << "this test needs a few KiB of memory";
  EXPECT_EQ(copies.bytes(), 32 * 8 * 2 + 32 * 8);
  EXPECT_EQ(odd_rows.interleaved_data, nullptr);
  EXPECT_EQ(f32.interleaved_data, nullptr);

  ASSERT_NE(dense.interleaved_data, nullptr);
  std::vector<std::byte> expected(static_cast<size_t>(kernels::interleaved_bf16_bytes(dense)));
  kernels::interleave_bf16(dense, expected.data());
  EXPECT_EQ(std::memcmp(dense.interleaved_data, expected.data(), expected.size()), 0);
  ASSERT_NE(quantized.interleaved_data, nullptr);
  EXPECT_EQ(quantized.interleaved_scales, nullptr);
  EXPECT_EQ(quantized.scales, scales.data()) << "int8 kernels read the matrix's own scales";
  // The source stays readable and unchanged.
  EXPECT_EQ(static_cast<const uint16_t*>(dense.data)[5], 0x3f85);
}

TEST(InterleavedCopies, LeaveAnEighthOfMemoryAndAtLeastOneGiB) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  EXPECT_EQ(models::InterleavedCopies::reserve_bytes(24 * kGiB), 3 * kGiB);
  EXPECT_EQ(models::InterleavedCopies::reserve_bytes(4 * kGiB), kGiB);
  EXPECT_EQ(models::InterleavedCopies::reserve_bytes(0), kGiB);
}

}  // namespace
}  // namespace elephant
