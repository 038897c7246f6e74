// Every attention kernel against the reference kernel on random shapes (head sizes and runs that
// are not multiples of any vector width, rows padded apart as in the KV cache, 1 to 4 query heads
// per KV head), and the contract that a score or an output does not depend on how a sequence's
// positions are split into runs or how many query heads share the call. Both cache element types:
// F32 and BF16 (widened exactly by every kernel, so the same tolerances hold).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/ref/ref.h"
#include "support/tolerance.h"

namespace elephant {
namespace {

std::vector<float> normal_values(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(n);
  for (float& v : values) v = normal(rng);
  return values;
}

// Softmax-like weights: positive, summing to 1.
std::vector<float> probabilities(int64_t n, uint64_t seed) {
  std::vector<float> p = normal_values(static_cast<size_t>(n), seed);
  float total = 0.0f;
  for (float& v : p) total += v = std::exp(v);
  for (float& v : p) v /= total;
  return p;
}

// Cache rows of N(0,1) values in `dtype` (BF16: rounded once, here).
struct CachedRows {
  std::vector<float> f32;
  std::vector<uint16_t> bf16;
  DType dtype;
  CachedRows(size_t n, uint64_t seed, DType dtype_) : f32(normal_values(n, seed)), dtype(dtype_) {
    for (float v : f32) bf16.push_back(f32_to_bf16(v));
  }
  const void* data() const { return dtype == DType::kBF16 ? static_cast<const void*>(bf16.data()) : f32.data(); }
  // Element offset `offset` of the rows.
  const void* at(int64_t offset) const {
    return static_cast<const std::byte*>(data()) + offset * static_cast<int64_t>(dtype_size_bytes(dtype));
  }
};

constexpr DType kCacheTypes[] = {DType::kF32, DType::kBF16};

struct Shape {
  int64_t n, dim, queries;
};
const std::vector<Shape> kShapes = {{1, 1, 1},   {1, 8, 2},    {3, 7, 1},   {8, 64, 4},
                                    {9, 100, 3}, {16, 128, 4}, {17, 129, 2}, {5, 256, 1}};

class AttentionKernelTest : public ::testing::TestWithParam<const kernels::KernelTable*> {};

TEST_P(AttentionKernelTest, ScoresMatchReference) {
  const auto* table = GetParam();
  uint64_t seed = 1;
  for (DType dtype : kCacheTypes) {
    for (const Shape& s : kShapes) {
      const int64_t stride = s.dim + 5, score_stride = s.n + 2;
      const auto q = normal_values(static_cast<size_t>(s.queries * s.dim), seed++);
      const CachedRows k(static_cast<size_t>(s.n * stride), seed++, dtype);
      const float scale = 1.0f / std::sqrt(static_cast<float>(s.dim));
      std::vector<float> expected(static_cast<size_t>(s.queries * score_stride), -1.0f), actual = expected;
      kernels::ref::attention_scores(q.data(), s.queries, k.data(), dtype, stride, s.n, s.dim, scale, expected.data(),
                                     score_stride);
      table->attention_scores(q.data(), s.queries, k.data(), dtype, stride, s.n, s.dim, scale, actual.data(),
                              score_stride);
      // N(0,1) terms: a dot product is of size ~sqrt(dim), then scaled. Padding stays untouched (-1).
      const double magnitude = std::sqrt(static_cast<double>(s.dim)) * scale;
      const double tolerance = testing::reduction_tolerance(testing::kEpsF32, s.dim, 1, magnitude, 8.0);
      testing::expect_close(expected, actual, tolerance,
                            fmt::format("{} {} scores n={} dim={} queries={}", table->name, dtype_name(dtype), s.n,
                                        s.dim, s.queries));
    }
  }
}

TEST_P(AttentionKernelTest, ValuesMatchReference) {
  const auto* table = GetParam();
  uint64_t seed = 100;
  for (DType dtype : kCacheTypes) {
    for (const Shape& s : kShapes) {
      const int64_t stride = s.dim + 3, p_stride = s.n + 1;
      std::vector<float> p(static_cast<size_t>(s.queries * p_stride), 0.0f);
      for (int64_t j = 0; j < s.queries; ++j) {
        const auto row = probabilities(s.n, seed++);
        std::copy(row.begin(), row.end(), p.begin() + j * p_stride);
      }
      const CachedRows v(static_cast<size_t>(s.n * stride), seed++, dtype);
      const auto start = normal_values(static_cast<size_t>(s.queries * s.dim), seed++);
      std::vector<float> expected = start, actual = start;
      kernels::ref::attention_values(p.data(), p_stride, s.queries, v.data(), dtype, stride, s.n, s.dim,
                                     expected.data());
      table->attention_values(p.data(), p_stride, s.queries, v.data(), dtype, stride, s.n, s.dim, actual.data());
      // A convex combination of N(0,1) values added to an N(0,1) start: terms and result of size ~1.
      const double tolerance = testing::reduction_tolerance(testing::kEpsF32, s.n + 1, 1, 4.0, 8.0);
      testing::expect_close(expected, actual, tolerance,
                            fmt::format("{} {} values n={} dim={} queries={}", table->name, dtype_name(dtype), s.n,
                                        s.dim, s.queries));
    }
  }
}

TEST_P(AttentionKernelTest, RunsAndQueryGroupsDoNotChangeBits) {
  const auto* table = GetParam();
  constexpr int64_t kN = 37, kDim = 100, kStride = 128, kQueries = 3;
  for (DType dtype : kCacheTypes) {
    const auto q = normal_values(kQueries * kDim, 7);
    const CachedRows k(kN * kStride, 8, dtype);
    std::vector<float> p(kQueries * kN);
    for (int64_t j = 0; j < kQueries; ++j) {
      const auto row = probabilities(kN, 9 + static_cast<uint64_t>(j));
      std::copy(row.begin(), row.end(), p.begin() + j * kN);
    }
    std::vector<float> whole_scores(kQueries * kN), whole_out(kQueries * kDim, 0.0f);
    table->attention_scores(q.data(), kQueries, k.data(), dtype, kStride, kN, kDim, 0.1f, whole_scores.data(), kN);
    table->attention_values(p.data(), kN, kQueries, k.data(), dtype, kStride, kN, kDim, whole_out.data());
    for (int64_t split : {1, 5, 8, 16, 29}) {
      std::vector<float> scores(kQueries * kN), out(kQueries * kDim, 0.0f);
      for (int64_t begin = 0; begin < kN; begin += split) {
        const int64_t n = std::min(split, kN - begin);
        // Runs split anywhere, and each query on its own.
        for (int64_t j = 0; j < kQueries; ++j) {
          table->attention_scores(q.data() + j * kDim, 1, k.at(begin * kStride), dtype, kStride, n, kDim, 0.1f,
                                  scores.data() + j * kN + begin, kN);
          table->attention_values(p.data() + j * kN + begin, kN, 1, k.at(begin * kStride), dtype, kStride, n, kDim,
                                  out.data() + j * kDim);
        }
      }
      EXPECT_EQ(scores, whole_scores) << table->name << " " << dtype_name(dtype) << " runs of " << split;
      EXPECT_EQ(out, whole_out) << table->name << " " << dtype_name(dtype) << " runs of " << split;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AvailableKernels, AttentionKernelTest, ::testing::ValuesIn(kernels::available_kernel_tables()),
                         [](const auto& info) { return std::string(info.param->name); });

}  // namespace
}  // namespace elephant
