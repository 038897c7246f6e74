// Quantized weights: the quantizers (error bounds, the cols % group rule) and every quantized
// matmul kernel of every available kernel table against the reference kernel of the same
// activation strategy, on random shapes with odd sizes, plus the batch-invariance contract.
// int8 weights × int8 activations are exact integer sums, so there the kernels must agree bit for
// bit; the other combinations sum fp32 terms in different orders and get rounding tolerances.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/kernels.h"
#include "kernels/activation_epoch.h"
#include "kernels/interleave.h"
#include "kernels/quantize.h"
#include "kernels/ref/ref.h"
#include "support/tolerance.h"

namespace elephant {
namespace {

using kernels::Activations;
using kernels::WeightFormat;

struct QuantizedOperands {
  std::vector<float> x;
  std::vector<float> w;  // the fp32 weights before quantization
  std::vector<int8_t> q8;
  std::vector<uint8_t> q4;
  std::vector<float> scales_f32;
  std::vector<uint16_t> scales_half;
  std::vector<std::byte> interleaved_data, interleaved_scales;
  kernels::WeightMatrix matrix;
};

// int4 with F32 scales: quantized with F16 scales, then widened (the same values); int8 with F16
// or BF16 scales: its F32 scales rounded. interleaved: with the CPU kernels' interleaved copy
// (interleave.h).
QuantizedOperands make_operands(WeightFormat format, int64_t n_rows, int64_t rows, int64_t cols, int64_t group,
                                DType scale_dtype, uint64_t seed, bool interleaved = false) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  QuantizedOperands ops;
  ops.x.resize(static_cast<size_t>(n_rows * cols));
  for (float& v : ops.x) v = normal(rng);
  ops.w.resize(static_cast<size_t>(rows * cols));
  for (float& v : ops.w) v = 0.05f * normal(rng);
  ops.matrix.rows = rows;
  ops.matrix.cols = cols;
  ops.matrix.format = format;
  if (format == WeightFormat::kInt8PerChannel) {
    ops.q8.resize(ops.w.size());
    ops.scales_f32.resize(static_cast<size_t>(rows));
    kernels::quantize_int8_per_channel(ops.w.data(), rows, cols, ops.q8.data(), ops.scales_f32.data(), "test");
    ops.matrix.dtype = DType::kI8;
    ops.matrix.data = ops.q8.data();
    ops.matrix.scales = ops.scales_f32.data();
    ops.matrix.scale_dtype = scale_dtype;
    if (scale_dtype != DType::kF32) {
      for (float scale : ops.scales_f32) {
        ops.scales_half.push_back(scale_dtype == DType::kF16 ? f32_to_f16(scale) : f32_to_bf16(scale));
      }
      ops.matrix.scales = ops.scales_half.data();
    }
    if (interleaved) {
      ops.interleaved_data.resize(static_cast<size_t>(kernels::interleaved_int8_bytes(ops.matrix)));
      kernels::interleave_int8(ops.matrix, ops.interleaved_data.data());
      ops.matrix.interleaved_data = ops.interleaved_data.data();
    }
  } else {
    const DType stored_scales = scale_dtype == DType::kF32 ? DType::kF16 : scale_dtype;
    ops.q4.resize(ops.w.size() / 2);
    ops.scales_half.resize(static_cast<size_t>(rows * cols / group));
    kernels::quantize_int4_groups(ops.w.data(), rows, cols, group, stored_scales, ops.q4.data(), ops.scales_half.data(),
                                  "test");
    ops.matrix.dtype = DType::kU8;
    ops.matrix.data = ops.q4.data();
    ops.matrix.scales = ops.scales_half.data();
    ops.matrix.scale_dtype = scale_dtype;
    ops.matrix.group_size = group;
    if (scale_dtype == DType::kF32) {
      for (uint16_t half : ops.scales_half) ops.scales_f32.push_back(f16_to_f32(half));
      ops.matrix.scales = ops.scales_f32.data();
    }
    if (interleaved) {
      ops.interleaved_data.resize(static_cast<size_t>(kernels::interleaved_int4_data_bytes(ops.matrix)));
      ops.interleaved_scales.resize(static_cast<size_t>(kernels::interleaved_int4_scale_bytes(ops.matrix)));
      kernels::interleave_int4(ops.matrix, ops.interleaved_data.data(), ops.interleaved_scales.data());
      ops.matrix.interleaved_data = ops.interleaved_data.data();
      ops.matrix.interleaved_scales = ops.interleaved_scales.data();
    }
  }
  return ops;
}

kernels::MatmulFn kernel_of(const kernels::KernelTable& table, WeightFormat format, Activations activations) {
  const auto index = static_cast<size_t>(activations);
  return format == WeightFormat::kInt8PerChannel ? table.matmul_int8[index] : table.matmul_int4[index];
}

std::vector<float> run(kernels::MatmulFn kernel, const QuantizedOperands& ops, int64_t n_rows) {
  std::vector<float> y(static_cast<size_t>(n_rows * ops.matrix.rows), -1.0f);
  kernel(ops.x.data(), n_rows, ops.matrix, y.data(), ops.matrix.rows, 0, ops.matrix.rows);
  return y;
}

struct Case {
  WeightFormat format;
  int64_t group;  // int4 only
  DType scale_dtype;
  int64_t n_rows, rows, cols;
  bool interleaved = false;
};

std::vector<Case> cases() {
  std::vector<Case> all;
  // int8: any cols, including ones that leave a scalar tail after the 16- and 32-column steps.
  // 21 rows × 8300 columns: passes of 4 rows and of 1 over long rows, and a 12-column tail.
  for (const auto& [n, rows, cols] : std::vector<std::array<int64_t, 3>>{
           {1, 1, 1}, {1, 7, 15}, {2, 9, 33}, {3, 5, 47}, {4, 33, 64}, {5, 17, 100}, {7, 13, 129}, {9, 40, 255}, {1, 64, 1024},
           {21, 9, 8300}}) {
    all.push_back({WeightFormat::kInt8PerChannel, 0, DType::kF32, n, rows, cols});
  }
  // int4: cols a multiple of the group; group 16 with cols % 32 == 16 takes the half-step tail.
  // 4160 and 8320 columns: an odd number of groups, so the last group pair has one group.
  for (const auto& [group, n, rows, cols] : std::vector<std::array<int64_t, 4>>{
           {16, 1, 3, 16}, {16, 2, 9, 48}, {16, 5, 17, 80}, {32, 1, 7, 32}, {32, 3, 33, 96}, {32, 9, 5, 160},
           {64, 4, 11, 64}, {64, 6, 18, 192}, {128, 1, 64, 1024}, {128, 7, 21, 384}, {256, 2, 5, 512}, {64, 5, 7, 4160},
           {128, 21, 9, 8320}}) {
    for (DType scale_dtype : {DType::kF16, DType::kBF16}) {
      all.push_back({WeightFormat::kInt4Group, group, scale_dtype, n, rows, cols});
    }
  }
  // With the interleaved copy (rows a multiple of 16): chunks of 1-8 rows over streams of 4 blocks
  // (one row), 2 blocks (several) and leftover single blocks, more rows than a chunk takes over
  // the same blocks; kernels without an interleaved path read the checkpoint layout.
  for (const auto& [n, rows, cols] : std::vector<std::array<int64_t, 3>>{
           {1, 16, 8}, {2, 32, 104}, {5, 48, 256}, {8, 64, 1024}, {9, 80, 392}, {13, 16, 8296}, {21, 32, 64}, {1, 208, 512}}) {
    for (DType scale_dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
      all.push_back({WeightFormat::kInt8PerChannel, 0, scale_dtype, n, rows, cols, true});
    }
  }
  for (const auto& [group, n, rows, cols] : std::vector<std::array<int64_t, 4>>{
           {16, 3, 16, 48}, {32, 5, 32, 96}, {64, 7, 48, 192}, {128, 1, 112, 1024}, {128, 13, 80, 384}, {256, 2, 16, 512},
           {128, 6, 32, 8320}}) {
    for (DType scale_dtype : {DType::kF16, DType::kBF16, DType::kF32}) {
      all.push_back({WeightFormat::kInt4Group, group, scale_dtype, n, rows, cols, true});
    }
  }
  return all;
}

std::string describe(const kernels::KernelTable& table, const Case& c, Activations activations) {
  return fmt::format("{} {}{} g{} {} scales, {} activations, n={} rows={} cols={}", table.name,
                     kernels::weight_format_name(c.format), c.interleaved ? " (interleaved copy)" : "", c.group,
                     dtype_name(c.scale_dtype), activations == Activations::kF32 ? "fp32" : "int8", c.n_rows, c.rows,
                     c.cols);
}

class QuantizedMatmulTest : public ::testing::TestWithParam<const kernels::KernelTable*> {};

TEST_P(QuantizedMatmulTest, MatchesReferenceOnOddShapes) {
  const kernels::KernelTable& table = *GetParam();
  const kernels::KernelTable& reference = kernels::reference_kernels();
  uint64_t seed = 100;
  for (const Case& c : cases()) {
    const QuantizedOperands ops =
        make_operands(c.format, c.n_rows, c.rows, c.cols, c.group, c.scale_dtype, seed++, c.interleaved);
    for (Activations activations : {Activations::kF32, Activations::kInt8}) {
      const auto expected = run(kernel_of(reference, c.format, activations), ops, c.n_rows);
      const auto actual = run(kernel_of(table, c.format, activations), ops, c.n_rows);
      const std::string what = describe(table, c, activations);
      if (c.format == WeightFormat::kInt8PerChannel && activations == Activations::kInt8) {
        EXPECT_EQ(expected, actual) << what << ": exact integer sums must agree bit for bit";
        continue;
      }
      // Terms x·w are ~N(0, 0.05²)-sized, their sum ~0.05·sqrt(cols); fp32 reordering only.
      const double magnitude = 0.05 * std::sqrt(static_cast<double>(c.cols)) + 0.05;
      testing::expect_close(expected, actual,
                            testing::reduction_tolerance(testing::kEpsF32, c.cols, 2, magnitude, 8.0), what);
    }
  }
}

TEST_P(QuantizedMatmulTest, RowResultsDoNotDependOnBatchOrRowRange) {
  const kernels::KernelTable& table = *GetParam();
  for (const Case& c : {Case{WeightFormat::kInt8PerChannel, 0, DType::kF32, 11, 37, 75},
                        Case{WeightFormat::kInt4Group, 16, DType::kF16, 11, 37, 80},
                        Case{WeightFormat::kInt4Group, 64, DType::kBF16, 11, 37, 128},
                        Case{WeightFormat::kInt8PerChannel, 0, DType::kF32, 21, 9, 8300},
                        Case{WeightFormat::kInt4Group, 128, DType::kBF16, 21, 9, 8320},
                        Case{WeightFormat::kInt4Group, 128, DType::kF16, 13, 80, 384, true},
                        Case{WeightFormat::kInt4Group, 64, DType::kBF16, 8, 48, 192, true},
                        Case{WeightFormat::kInt8PerChannel, 0, DType::kF16, 11, 48, 256, true},
                        Case{WeightFormat::kInt8PerChannel, 0, DType::kF32, 17, 32, 8296, true}}) {
    const QuantizedOperands ops =
        make_operands(c.format, c.n_rows, c.rows, c.cols, c.group, c.scale_dtype, 7, c.interleaved);
    for (Activations activations : {Activations::kF32, Activations::kInt8}) {
      const kernels::MatmulFn kernel = kernel_of(table, c.format, activations);
      const std::string what = describe(table, c, activations);
      const auto full = run(kernel, ops, c.n_rows);
      for (int64_t n = 1; n <= c.n_rows; ++n) {
        const auto prefix = run(kernel, ops, n);
        for (int64_t i = 0; i < n * c.rows; ++i) {
          ASSERT_EQ(prefix[static_cast<size_t>(i)], full[static_cast<size_t>(i)]) << what << " n=" << n << " i=" << i;
        }
      }
      std::vector<float> split(full.size(), -1.0f);
      for (int64_t begin = 0; begin < c.rows; begin += 5) {
        kernel(ops.x.data(), c.n_rows, ops.matrix, split.data(), c.rows, begin, std::min<int64_t>(begin + 5, c.rows));
      }
      EXPECT_EQ(split, full) << what;
    }
  }
}

// Quantized activation rows are reused only within one activation epoch and only for the same x,
// row count and columns (activation_epoch.h): any other call gives what a call in epoch 0, which
// always quantizes, gives.
TEST_P(QuantizedMatmulTest, QuantizedActivationsAreReusedOnlyForTheSameRowsInOneEpoch) {
  const kernels::KernelTable& table = *GetParam();
  for (const Case& c : {Case{WeightFormat::kInt8PerChannel, 0, DType::kF32, 3, 32, 256},
                        Case{WeightFormat::kInt4Group, 64, DType::kF16, 3, 32, 256},
                        Case{WeightFormat::kInt4Group, 128, DType::kBF16, 3, 32, 256, true}}) {
    QuantizedOperands ops = make_operands(c.format, c.n_rows, c.rows, c.cols, c.group, c.scale_dtype, 5, c.interleaved);
    const kernels::MatmulFn kernel = kernel_of(table, c.format, Activations::kInt8);
    const std::string what = describe(table, c, Activations::kInt8);
    const auto fresh = [&](const QuantizedOperands& operands, int64_t n_rows) {
      kernels::set_activation_epoch(0);
      return run(kernel, operands, n_rows);
    };
    QuantizedOperands moved = ops;
    for (float& v : moved.x) v = -2.0f * v;
    // In one epoch: one row, then all rows of the same x, then other rows at another address: each
    // quantized afresh. Then the same x again, changed in place: reused (the caller promised it
    // would not change within the epoch), and quantized again in a new epoch.
    kernels::set_activation_epoch(kernels::new_activation_epoch());
    const auto one_row = run(kernel, ops, 1);
    const auto all_rows = run(kernel, ops, c.n_rows);
    const auto other_rows = run(kernel, moved, c.n_rows);
    run(kernel, ops, c.n_rows);
    for (float& v : ops.x) v = -v;
    const auto reused = run(kernel, ops, c.n_rows);
    kernels::set_activation_epoch(kernels::new_activation_epoch());
    const auto changed = run(kernel, ops, c.n_rows);

    if (table.isa != kernels::Isa::kReference) {
      EXPECT_EQ(reused, all_rows) << what;
    }
    EXPECT_EQ(changed, fresh(ops, c.n_rows)) << what << ": a new epoch";
    EXPECT_NE(changed, all_rows) << what;
    for (float& v : ops.x) v = -v;
    EXPECT_EQ(one_row, fresh(ops, 1)) << what;
    EXPECT_EQ(all_rows, fresh(ops, c.n_rows)) << what;
    EXPECT_EQ(other_rows, fresh(moved, c.n_rows)) << what;
    EXPECT_NE(other_rows, all_rows) << what;
    kernels::set_activation_epoch(0);
  }
}

// The same activation buffer read as rows of another length, or grouped for another int4 group
// size, in one epoch is quantized again.
TEST_P(QuantizedMatmulTest, QuantizedActivationsAreNotReusedForAnotherShapeOrGroup) {
  const kernels::KernelTable& table = *GetParam();
  const QuantizedOperands g64 = make_operands(WeightFormat::kInt4Group, 4, 32, 256, 64, DType::kF16, 9);
  const QuantizedOperands g128 = make_operands(WeightFormat::kInt4Group, 4, 32, 256, 128, DType::kF16, 10);
  const QuantizedOperands narrow = make_operands(WeightFormat::kInt4Group, 4, 32, 128, 64, DType::kF16, 11);
  const kernels::MatmulFn kernel = table.matmul_int4[static_cast<size_t>(Activations::kInt8)];
  const auto run_on = [&](const QuantizedOperands& weights, int64_t n_rows) {
    std::vector<float> y(static_cast<size_t>(n_rows * weights.matrix.rows));
    kernel(g64.x.data(), n_rows, weights.matrix, y.data(), weights.matrix.rows, 0, weights.matrix.rows);
    return y;
  };
  kernels::set_activation_epoch(kernels::new_activation_epoch());
  const auto in_epoch = std::vector{run_on(g64, 4), run_on(g128, 4), run_on(narrow, 4), run_on(g64, 4)};
  kernels::set_activation_epoch(0);
  const auto fresh = std::vector{run_on(g64, 4), run_on(g128, 4), run_on(narrow, 4), run_on(g64, 4)};
  EXPECT_EQ(in_epoch, fresh) << table.name;
}

INSTANTIATE_TEST_SUITE_P(AvailableKernels, QuantizedMatmulTest, ::testing::ValuesIn(kernels::available_kernel_tables()),
                         [](const auto& info) { return std::string(info.param->name); });

// The reference with fp32 activations is exactly a dense matmul of the dequantized weights (up to
// summation order), which ties the kernels to the quantizers' definition of the formats.
// Every table that reads the interleaved int4 copy takes the same arithmetic steps on it (exact
// group sums, one FMA per group in increasing order, the row's scale last), so a model's tokens
// do not change between an AVX2 and an AVX-512 machine.
TEST(InterleavedInt4, EveryTableThatReadsItGivesTheSameBits) {
  std::vector<const kernels::KernelTable*> readers;
  for (const kernels::KernelTable* table : kernels::available_kernel_tables()) {
    if (table->reads_interleaved.int4) readers.push_back(table);
  }
  if (readers.size() < 2) GTEST_SKIP() << "this CPU runs fewer than two tables that read the interleaved int4 copy";
  uint64_t seed = 300;
  for (const Case& c : {Case{WeightFormat::kInt4Group, 16, DType::kF16, 3, 16, 48, true},
                        Case{WeightFormat::kInt4Group, 128, DType::kBF16, 7, 48, 384, true},
                        Case{WeightFormat::kInt4Group, 64, DType::kF32, 1, 80, 4160, true}}) {
    const QuantizedOperands ops =
        make_operands(c.format, c.n_rows, c.rows, c.cols, c.group, c.scale_dtype, seed++, c.interleaved);
    const auto first = run(kernel_of(*readers[0], c.format, Activations::kInt8), ops, c.n_rows);
    for (size_t t = 1; t < readers.size(); ++t) {
      EXPECT_EQ(first, run(kernel_of(*readers[t], c.format, Activations::kInt8), ops, c.n_rows))
          << describe(*readers[t], c, Activations::kInt8) << " against " << readers[0]->name;
    }
  }
}

TEST(QuantizedReference, EqualsDenseMatmulOfDequantizedWeights) {
  for (const Case& c : {Case{WeightFormat::kInt8PerChannel, 0, DType::kF32, 3, 19, 77},
                        Case{WeightFormat::kInt4Group, 32, DType::kF16, 3, 19, 96}}) {
    const QuantizedOperands ops = make_operands(c.format, c.n_rows, c.rows, c.cols, c.group, c.scale_dtype, 3);
    std::vector<float> dequantized(ops.w.size());
    for (int64_t o = 0; o < c.rows; ++o) {
      for (int64_t k = 0; k < c.cols; ++k) {
        const auto index = static_cast<size_t>(o * c.cols + k);
        dequantized[index] =
            c.format == WeightFormat::kInt8PerChannel
                ? static_cast<float>(ops.q8[index]) * ops.scales_f32[static_cast<size_t>(o)]
                : static_cast<float>(kernels::int4_at(ops.q4.data() + o * c.cols / 2, k)) *
                      kernels::scale_at(ops.scales_half.data(), c.scale_dtype, o * (c.cols / c.group) + k / c.group);
      }
    }
    const kernels::WeightMatrix dense{DType::kF32, c.rows, c.cols, dequantized.data()};
    std::vector<float> expected(static_cast<size_t>(c.n_rows * c.rows));
    kernels::ref::matmul(ops.x.data(), c.n_rows, dense, expected.data(), c.rows, 0, c.rows);
    const auto actual = run(kernel_of(kernels::reference_kernels(), c.format, Activations::kF32), ops, c.n_rows);
    testing::expect_close(expected, actual,
                          testing::reduction_tolerance(testing::kEpsF32, c.cols, 2, 0.05 * std::sqrt(c.cols), 8.0),
                          std::string(kernels::weight_format_name(c.format)));
  }
}

// Symmetric rounding: every weight is within half a step of its dequantized value (plus the
// clamp of the largest value when the stored scale rounded down), and the largest magnitude of a
// row (int8) or group (int4) maps to the largest level.
TEST(Quantizers, RoundTripErrorIsAtMostHalfAStep) {
  const QuantizedOperands q8 = make_operands(WeightFormat::kInt8PerChannel, 1, 23, 301, 0, DType::kF32, 11);
  for (int64_t o = 0; o < 23; ++o) {
    const float scale = q8.scales_f32[static_cast<size_t>(o)];
    int max_level = 0;
    for (int64_t k = 0; k < 301; ++k) {
      const auto index = static_cast<size_t>(o * 301 + k);
      ASSERT_LE(std::fabs(q8.w[index] - static_cast<float>(q8.q8[index]) * scale), 0.5f * scale * (1 + 1e-5f));
      max_level = std::max(max_level, std::abs(int{q8.q8[index]}));
    }
    EXPECT_EQ(max_level, kernels::kInt8Max);
  }
  for (DType scale_dtype : {DType::kF16, DType::kBF16}) {
    const QuantizedOperands q4 = make_operands(WeightFormat::kInt4Group, 1, 9, 256, 64, scale_dtype, 12);
    // The stored scale is rounded (2^-11 relative for F16, 2^-8 for BF16), so the largest value
    // may sit up to 7 · that beyond level 7 and is clamped.
    const double rounding = scale_dtype == DType::kF16 ? 1.0 / 2048 : 1.0 / 256;
    for (int64_t o = 0; o < 9; ++o) {
      for (int64_t k = 0; k < 256; ++k) {
        const float scale = kernels::scale_at(q4.scales_half.data(), scale_dtype, o * 4 + k / 64);
        const float value = static_cast<float>(kernels::int4_at(q4.q4.data() + o * 128, k)) * scale;
        ASSERT_LE(std::fabs(q4.w[static_cast<size_t>(o * 256 + k)] - value), scale * (0.5 + 7 * rounding) * 1.0001)
            << dtype_name(scale_dtype) << " row " << o << " col " << k;
      }
    }
  }
}

TEST(InterleavedInt8, OnlyShapesTheKernelTakes) {
  const auto shape = [](int64_t rows, int64_t cols) {
    kernels::WeightMatrix w{DType::kI8, rows, cols, nullptr};
    w.format = WeightFormat::kInt8PerChannel;
    return kernels::can_interleave_int8(w);
  };
  EXPECT_TRUE(shape(32, 8));
  EXPECT_TRUE(shape(16, kernels::kMaxInterleavedInt8Cols));
  EXPECT_FALSE(shape(24, 8));
  EXPECT_FALSE(shape(32, 12));
  EXPECT_FALSE(shape(16, kernels::kMaxInterleavedInt8Cols + 8));
}

TEST(Quantizers, Int4RequiresColumnsToBeAMultipleOfTheGroup) {
  std::vector<float> w(3 * 96, 0.5f);
  std::vector<uint8_t> packed(w.size() / 2);
  std::vector<uint16_t> scales(3 * 3);
  try {
    kernels::quantize_int4_groups(w.data(), 3, 96, 64, DType::kF16, packed.data(), scales.data(), "layer.w1");
    FAIL() << "96 columns with group 64 must be refused";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("layer.w1: 96 columns are not a multiple of the group size 64"),
              std::string::npos)
        << error.what();
  }
  EXPECT_THROW(kernels::quantize_int4_groups(w.data(), 3, 96, 48, DType::kF16, packed.data(), scales.data(), "w"), Error);
  EXPECT_NO_THROW(kernels::quantize_int4_groups(w.data(), 3, 96, 32, DType::kF16, packed.data(), scales.data(), "w"));
}

TEST(Quantizers, ActivationRowsUseMaxOver127AndRoundToNearestEven) {
  // max|x| = 127 makes the scale 1, so x · (127 / max) is exact and only the rounding is tested.
  const std::vector<float> x = {0.0f, 63.5f, -127.0f, 1.5f, 0.5f, -2.5f};
  std::vector<int8_t> q(x.size());
  EXPECT_EQ(kernels::quantize_activation_row(x.data(), static_cast<int64_t>(x.size()), q.data()), 1.0f);
  EXPECT_EQ(q, (std::vector<int8_t>{0, 64, -127, 2, 0, -2}));
  const std::vector<float> halved = {1.0f, -0.25f};
  EXPECT_FLOAT_EQ(kernels::quantize_activation_row(halved.data(), 2, q.data()), 1.0f / 127.0f);
  EXPECT_EQ(q[0], 127);
  EXPECT_EQ(q[1], -32);  // -31.75
  std::vector<float> zeros(5, 0.0f);
  std::vector<int8_t> zero_q(5, 1);
  EXPECT_EQ(kernels::quantize_activation_row(zeros.data(), 5, zero_q.data()), 0.0f);
  EXPECT_EQ(zero_q, std::vector<int8_t>(5, 0));
}

}  // namespace
}  // namespace elephant
