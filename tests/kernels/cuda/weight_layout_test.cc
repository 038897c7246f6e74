// Host-side parts of the CUDA backend, tested without a GPU: the magic-number int-to-float
// conversions (the same inline functions the kernels compile) and the load-time repack into the
// kernels' layout, checked value by value against the CPU quantization spec.
#include "kernels/cuda/weight_layout.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <random>

#include "core/error.h"
#include "kernels/cuda/int_convert.h"
#include "random_matrix.h"

namespace elephant::cuda {
namespace {

TEST(CudaIntConvert, BytePermFollowsThePtxSelectorRule) {
  // Bytes of {y:x} are numbered 0-3 in x and 4-7 in y, least significant first.
  EXPECT_EQ(byte_perm(0x33221100u, 0x77665544u, 0x3210u), 0x33221100u);
  EXPECT_EQ(byte_perm(0x33221100u, 0x77665544u, 0x7654u), 0x77665544u);
  EXPECT_EQ(byte_perm(0x33221100u, 0x77665544u, 0x0246u), 0x00224466u);
  EXPECT_EQ(byte_perm(0x000000abu, kFloatMagicBits, 0x7540u), 0x4B0000abu);
}

TEST(CudaIntConvert, EveryInt8ValueConvertsExactly) {
  for (int a = -128; a < 128; ++a) {
    const int b = -a - 1;
    const int c = a / 2;
    const int d = 127 - (a + 128) / 3;
    const uint32_t word = static_cast<uint8_t>(a) | static_cast<uint32_t>(static_cast<uint8_t>(b)) << 8 |
                          static_cast<uint32_t>(static_cast<uint8_t>(c)) << 16 |
                          static_cast<uint32_t>(static_cast<uint8_t>(d)) << 24;
    float values[4];
    int8_word_to_float(word, values);
    EXPECT_EQ(values[0], static_cast<float>(a));
    EXPECT_EQ(values[1], static_cast<float>(b));
    EXPECT_EQ(values[2], static_cast<float>(c));
    EXPECT_EQ(values[3], static_cast<float>(d));
  }
}

TEST(CudaIntConvert, Int4WordsConvertInColumnOrder) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 1000; ++trial) {
    const uint32_t word = rng();
    float values[8];
    int4_word_to_float(word, values);
    for (int c = 0; c < 8; ++c) {
      const int byte = c % 4;
      const int expected = static_cast<int>((word >> (8 * byte + (c < 4 ? 0 : 4))) & 0xF) - 8;
      EXPECT_EQ(values[c], static_cast<float>(expected)) << "word " << word << " column " << c;
      EXPECT_EQ(int4_in_word(word, c), expected);
    }
  }
}

struct LayoutCase {
  DeviceFormat format;
  int64_t rows;
  int64_t cols;
  int64_t group;
};

void PrintTo(const LayoutCase& c, std::ostream* os) {
  *os << device_format_name(c.format) << " " << c.rows << "x" << c.cols << " group " << c.group;
}

class CudaWeightLayout : public ::testing::TestWithParam<LayoutCase> {};

TEST_P(CudaWeightLayout, RepackedValuesEqualTheCpuDequantization) {
  const LayoutCase c = GetParam();
  const testing::RandomMatrix m = testing::random_matrix(c.format, c.rows, c.cols, c.group, 11);
  const HostPackedMatrix packed = pack_for_device(m.matrix, "w");
  EXPECT_EQ(packed.format, c.format);
  EXPECT_EQ(packed.row_pitch % kRowAlignment, 0);
  for (int64_t r = 0; r < c.rows; ++r) {
    for (int64_t k = 0; k < c.cols; ++k) {
      ASSERT_EQ(packed_value(packed, r, k), m.dequantized(r, k)) << "row " << r << " column " << k;
    }
    // Padding past the last column is zero bytes: a kernel's 16-byte load may read it.
    const int64_t used = c.format == DeviceFormat::kInt4 ? c.cols / 2 : c.cols * static_cast<int64_t>(dtype_size_bytes(m.matrix.dtype));
    for (int64_t byte = used; byte < packed.row_pitch; ++byte) {
      ASSERT_EQ(packed.data[static_cast<size_t>(r * packed.row_pitch + byte)], 0) << "row " << r << " byte " << byte;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, CudaWeightLayout,
                         ::testing::Values(LayoutCase{DeviceFormat::kF32, 5, 13, 0}, LayoutCase{DeviceFormat::kF16, 7, 33, 0},
                                           LayoutCase{DeviceFormat::kBF16, 3, 100, 0},
                                           LayoutCase{DeviceFormat::kInt8, 9, 37, 0},
                                           LayoutCase{DeviceFormat::kInt4, 6, 48, 16},
                                           LayoutCase{DeviceFormat::kInt4, 4, 256, 32},
                                           LayoutCase{DeviceFormat::kInt4, 3, 384, 128}),
                         [](const ::testing::TestParamInfo<LayoutCase>& info) {
                           return fmt::format("{}_{}x{}", device_format_name(info.param.format), info.param.rows,
                                              info.param.cols);
                         });

TEST(CudaWeightLayout, RejectsFormatsTheKernelsDoNotRead) {
  std::vector<int32_t> values(16);
  kernels::WeightMatrix w;
  w.dtype = DType::kI32;
  w.rows = 2;
  w.cols = 8;
  w.data = values.data();
  try {
    pack_for_device(w, "layers.0.mlp.gate");
    FAIL() << "I32 weights were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layers.0.mlp.gate"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace elephant::cuda
