// Every optimized matmul kernel against the reference kernel, for every weight dtype, on random
// shapes including sizes that are not multiples of any vector width, and the batch-invariance
// contract: a row's result does not depend on how many rows share the call or which range of
// output rows a thread computes.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/interleave.h"
#include "kernels/kernels.h"
#include "kernels/ref/ref.h"
#include "support/tolerance.h"

namespace elephant {
namespace {

struct Operands {
  std::vector<float> x;
  std::vector<float> w_f32;
  std::vector<uint16_t> w_half;
  std::vector<std::byte> interleaved;
  kernels::WeightMatrix w;
};

Operands make_operands(DType dtype, int64_t n_rows, int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Operands ops;
  ops.x.resize(static_cast<size_t>(n_rows * cols));
  for (float& v : ops.x) v = normal(rng);
  ops.w_f32.resize(static_cast<size_t>(rows * cols));
  for (float& v : ops.w_f32) v = normal(rng);
  ops.w = {dtype, rows, cols, ops.w_f32.data()};
  if (dtype != DType::kF32) {
    ops.w_half.resize(ops.w_f32.size());
    for (size_t i = 0; i < ops.w_f32.size(); ++i) {
      ops.w_half[i] = dtype == DType::kBF16 ? f32_to_bf16(ops.w_f32[i]) : f32_to_f16(ops.w_f32[i]);
    }
    ops.w.data = ops.w_half.data();
  }
  return ops;
}

// Attaches the CPU kernels' interleaved copy of the BF16 weights (kernels/interleave.h).
void add_interleaved_copy(Operands& ops) {
  ASSERT_TRUE(kernels::can_interleave_bf16(ops.w));
  ops.interleaved.resize(static_cast<size_t>(kernels::interleaved_bf16_bytes(ops.w)));
  kernels::interleave_bf16(ops.w, ops.interleaved.data());
  ops.w.interleaved_data = ops.interleaved.data();
}

std::vector<float> run(kernels::MatmulFn kernel, const Operands& ops, int64_t n_rows) {
  std::vector<float> y(static_cast<size_t>(n_rows * ops.w.rows), -1.0f);
  kernel(ops.x.data(), n_rows, ops.w, y.data(), ops.w.rows, 0, ops.w.rows);
  return y;
}

class MatmulKernelTest : public ::testing::TestWithParam<const kernels::KernelTable*> {};

TEST_P(MatmulKernelTest, MatchesReferenceOnOddShapes) {
  const auto* table = GetParam();
  struct Shape {
    int64_t n_rows, rows, cols;
  };
  // {21, 19, 2100}: passes of 4 and 1 rows over long rows with a tail.
  const std::vector<Shape> shapes = {{1, 1, 1},   {1, 7, 15},    {2, 9, 16},   {3, 5, 17},   {4, 33, 31},    {5, 8, 64},
                                     {7, 13, 100}, {9, 40, 129}, {16, 3, 255}, {1, 64, 1024}, {21, 19, 2100}};
  uint64_t seed = 1;
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (const Shape& s : shapes) {
      const Operands ops = make_operands(dtype, s.n_rows, s.rows, s.cols, seed++);
      const auto expected =
          run(table->bf16_activations ? &kernels::ref::matmul_bf16_activations : &kernels::ref::matmul, ops, s.n_rows);
      const auto actual = run(table->matmul, ops, s.n_rows);
      // Both sum the same exactly-widened products in fp32, in different orders; inputs are N(0,1)
      // so a dot product's terms are of magnitude ~1 and its size ~sqrt(cols).
      const double tolerance = testing::reduction_tolerance(testing::kEpsF32, s.cols, 1,
                                                            std::sqrt(static_cast<double>(s.cols)), 8.0);
      testing::expect_close(expected, actual, tolerance,
                            fmt::format("{} {} n={} rows={} cols={}", table->name, dtype_name(dtype), s.n_rows, s.rows,
                                        s.cols));
    }
  }
}

// Rounding an activation to bf16 moves it by at most half its bf16 step, 2^-8 of its size, so each
// output moves by at most 2^-8 Σ|x·w| (plus the fp32 rounding of either sum) from the fp32-activation
// reference.
TEST_P(MatmulKernelTest, Bf16ActivationsStayWithinTheirRoundingOfTheFp32Result) {
  const auto* table = GetParam();
  if (!table->bf16_activations) GTEST_SKIP() << table->name << " keeps fp32 activations";
  constexpr int64_t kRows = 6, kOutputs = 23, kCols = 1000;
  const Operands ops = make_operands(DType::kBF16, kRows, kOutputs, kCols, 11);
  const auto fp32 = run(&kernels::ref::matmul, ops, kRows);
  const auto actual = run(table->matmul, ops, kRows);
  const double fp32_rounding = testing::reduction_tolerance(testing::kEpsF32, kCols, 1, std::sqrt(double{kCols}), 8.0);
  for (int64_t i = 0; i < kRows; ++i) {
    for (int64_t o = 0; o < kOutputs; ++o) {
      double magnitude = 0.0;
      for (int64_t k = 0; k < kCols; ++k) {
        magnitude += std::abs(double{ops.x[static_cast<size_t>(i * kCols + k)]} *
                              double{bf16_to_f32(ops.w_half[static_cast<size_t>(o * kCols + k)])});
      }
      const size_t at = static_cast<size_t>(i * kOutputs + o);
      EXPECT_LE(std::abs(double{actual[at]} - double{fp32[at]}), 0.5 * testing::kEpsBF16 * magnitude + fp32_rounding)
          << table->name << " row " << i << " output " << o;
    }
  }
}

TEST_P(MatmulKernelTest, RowResultsDoNotDependOnBatchOrRowRange) {
  const auto* table = GetParam();
  // 21 rows: full passes of 4 and a last pass of 1; any n from 1 to 21 must give the same rows.
  constexpr int64_t kRows = 21;
  const Operands ops = make_operands(DType::kBF16, kRows, 37, 2100, 42);
  const auto full = run(table->matmul, ops, kRows);
  for (int64_t n = 1; n <= kRows; ++n) {
    const auto prefix = run(table->matmul, ops, n);
    for (int64_t i = 0; i < n * ops.w.rows; ++i) {
      ASSERT_EQ(prefix[static_cast<size_t>(i)], full[static_cast<size_t>(i)]) << table->name << " n=" << n << " i=" << i;
    }
  }
  // Split the output rows as threads would: the same values, bit for bit.
  std::vector<float> split(full.size(), -1.0f);
  for (int64_t begin = 0; begin < ops.w.rows; begin += 5) {
    table->matmul(ops.x.data(), kRows, ops.w, split.data(), ops.w.rows, begin, std::min<int64_t>(begin + 5, ops.w.rows));
  }
  EXPECT_EQ(split, full);
}

// Tables that read the interleaved BF16 copy compute from it for every row count: against the
// reference on 1-4 tiles of outputs (and a last partial tile), row counts around the passes, and
// column counts around the chunks; the batch-invariance contract holds for it too, including
// output ranges that cut a 16-output block.
TEST_P(MatmulKernelTest, InterleavedBf16CopyMatchesReferenceAndIsBatchInvariant) {
  const auto* table = GetParam();
  if (!table->reads_interleaved.bf16) GTEST_SKIP() << table->name << " has no interleaved BF16 kernel";
  struct Shape {
    int64_t n_rows, rows, cols;
  };
  const std::vector<Shape> shapes = {{1, 16, 2},     {2, 32, 30},    {3, 48, 256},  {5, 64, 258},  {6, 80, 1000},
                                     {7, 112, 512},  {8, 16, 770},   {9, 96, 130},  {13, 64, 62},  {16, 128, 300},
                                     {1, 1024, 256}, {4, 160, 2100}, {21, 48, 514}, {12, 32, 1026}};
  uint64_t seed = 100;
  for (const Shape& s : shapes) {
    Operands ops = make_operands(DType::kBF16, s.n_rows, s.rows, s.cols, seed++);
    const auto expected =
        run(table->bf16_activations ? &kernels::ref::matmul_bf16_activations : &kernels::ref::matmul, ops, s.n_rows);
    add_interleaved_copy(ops);
    const auto actual = run(table->matmul, ops, s.n_rows);
    const double tolerance = testing::reduction_tolerance(testing::kEpsF32, s.cols, 1,
                                                          std::sqrt(static_cast<double>(s.cols)), 8.0);
    testing::expect_close(expected, actual, tolerance,
                          fmt::format("{} interleaved n={} rows={} cols={}", table->name, s.n_rows, s.rows, s.cols));
  }

  constexpr int64_t kRows = 21;
  Operands ops = make_operands(DType::kBF16, kRows, 112, 530, 7);
  add_interleaved_copy(ops);
  const auto full = run(table->matmul, ops, kRows);
  for (int64_t n = 1; n <= kRows; ++n) {
    const auto prefix = run(table->matmul, ops, n);
    for (int64_t i = 0; i < n * ops.w.rows; ++i) {
      ASSERT_EQ(prefix[static_cast<size_t>(i)], full[static_cast<size_t>(i)]) << table->name << " n=" << n << " i=" << i;
    }
  }
  for (int64_t range : {5, 16, 48}) {
    std::vector<float> split(full.size(), -1.0f);
    for (int64_t begin = 0; begin < ops.w.rows; begin += range) {
      table->matmul(ops.x.data(), kRows, ops.w, split.data(), ops.w.rows, begin,
                    std::min<int64_t>(begin + range, ops.w.rows));
    }
    EXPECT_EQ(split, full) << table->name << " ranges of " << range;
  }
}

TEST(InterleavedBf16, LayoutPlacesEachColumnPairOfSixteenOutputsTogether) {
  Operands ops = make_operands(DType::kBF16, 1, 32, 6, 3);
  add_interleaved_copy(ops);
  const auto* copy = reinterpret_cast<const uint16_t*>(ops.interleaved.data());
  for (int64_t o = 0; o < 32; ++o) {
    for (int64_t k = 0; k < 6; ++k) {
      EXPECT_EQ(copy[(o / 16 * 3 + k / 2) * 32 + 2 * (o % 16) + k % 2], ops.w_half[static_cast<size_t>(o * 6 + k)])
          << o << " " << k;
    }
  }
  EXPECT_FALSE(kernels::can_interleave_bf16(make_operands(DType::kBF16, 1, 24, 6, 3).w));
  EXPECT_FALSE(kernels::can_interleave_bf16(make_operands(DType::kBF16, 1, 32, 7, 3).w));
  EXPECT_FALSE(kernels::can_interleave_bf16(make_operands(DType::kF16, 1, 32, 6, 3).w));
}

// The tables that read the interleaved BF16 copy with fp32 activations take the same steps on it
// (one FMA per column in increasing k for each output), so they give the same bits.
TEST(InterleavedBf16, EveryFp32ActivationTableThatReadsItGivesTheSameBits) {
  std::vector<const kernels::KernelTable*> readers;
  for (const kernels::KernelTable* table : kernels::available_kernel_tables()) {
    if (table->reads_interleaved.bf16 && !table->bf16_activations) readers.push_back(table);
  }
  if (readers.size() < 2) GTEST_SKIP() << "this CPU runs fewer than two tables that read the interleaved BF16 copy";
  uint64_t seed = 500;
  for (const auto& [n_rows, rows, cols] : std::vector<std::array<int64_t, 3>>{{1, 48, 2100}, {7, 80, 514}, {16, 32, 4098}}) {
    Operands ops = make_operands(DType::kBF16, n_rows, rows, cols, seed++);
    add_interleaved_copy(ops);
    const auto first = run(readers[0]->matmul, ops, n_rows);
    for (size_t t = 1; t < readers.size(); ++t) {
      EXPECT_EQ(first, run(readers[t]->matmul, ops, n_rows))
          << readers[t]->name << " against " << readers[0]->name << ", n=" << n_rows << " cols=" << cols;
    }
  }
}

TEST(InterleavedBf16, CheckRejectsACopyTheKernelsCannotRead) {
  Operands ops = make_operands(DType::kF16, 1, 32, 6, 3);
  ops.w.interleaved_data = ops.w_half.data();
  EXPECT_THROW(kernels::check_weight_matrix(ops.w, "f16 weight"), Error);
  Operands odd = make_operands(DType::kBF16, 1, 24, 6, 3);
  odd.w.interleaved_data = odd.w_half.data();
  EXPECT_THROW(kernels::check_weight_matrix(odd.w, "24-row weight"), Error);
}

INSTANTIATE_TEST_SUITE_P(AvailableKernels, MatmulKernelTest, ::testing::ValuesIn(kernels::available_kernel_tables()),
                         [](const auto& info) { return std::string(info.param->name); });

TEST(KernelDispatch, ReportsWhichInstructionSetsRunHere) {
  for (const auto* table : kernels::available_kernel_tables()) std::printf("[ kernels  ] available: %s\n", table->name.data());
  EXPECT_EQ(kernels::available_kernel_tables().front(), &kernels::reference_kernels());
}

}  // namespace
}  // namespace elephant
