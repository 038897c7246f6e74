// The scalar dtype conversions are the reference for every kernel's widening, so they are checked
// against exactly representable values and against round-to-nearest-even boundaries.
#include <gtest/gtest.h>

#include <cmath>

#include "core/dtype.h"

namespace elephant {
namespace {

TEST(Dtype, NamesRoundTrip) {
  for (int i = 0; i < static_cast<int>(DType::kCount); ++i) {
    const auto dtype = static_cast<DType>(i);
    EXPECT_EQ(dtype_from_name(dtype_name(dtype)), dtype);
  }
  EXPECT_FALSE(dtype_from_name("F8_E4M3").has_value());
  EXPECT_EQ(dtype_size_bytes(DType::kBF16), 2u);
}

TEST(Dtype, Bf16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to the even mantissa (1.0).
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // 1 + 3·2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties to even (1 + 2^-6).
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST(Dtype, F16ConvertsNormalsSubnormalsAndSpecials) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  for (uint32_t bits = 0; bits < 0x7c00; ++bits) {
    ASSERT_EQ(f32_to_f16(f16_to_f32(static_cast<uint16_t>(bits))), bits) << bits;
  }
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie to even
}

TEST(Dtype, WidenMatchesScalarConversions) {
  const uint16_t halves[3] = {0x3c00, 0xc000, 0x0001};
  float out[3];
  widen_to_f32(halves, DType::kF16, 3, out);
  EXPECT_EQ(out[1], -2.0f);
  widen_to_f32(halves, DType::kBF16, 3, out);
  EXPECT_EQ(out[0], bf16_to_f32(0x3c00));
}

}  // namespace
}  // namespace elephant
