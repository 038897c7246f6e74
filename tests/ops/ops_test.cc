// The op layer's own contracts on top of the kernels: matmul's split of output rows across threads
// (ranges handed out as threads become free) never changes a result, and silu_gated_matmul, which
// runs both products of a SwiGLU block and their combination in one parallel pass, gives what the
// two matmuls and silu(g) * u give; a group of products run in one pass gives what each alone gives.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/quantize.h"
#include "ops/ops.h"
#include "support/tolerance.h"

namespace elephant {
namespace {

using kernels::WeightFormat;

// Storage for one weight matrix in any format, made from N(0, 0.05²) weights.
struct Weights {
  std::vector<uint16_t> bf16;
  std::vector<int8_t> q8;
  std::vector<uint8_t> q4;
  std::vector<float> scales_f32;
  std::vector<uint16_t> scales_half;
  kernels::WeightMatrix matrix;
};

constexpr int64_t kGroup = 64;

Weights make_weights(WeightFormat format, int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& v : w) v = normal(rng);
  Weights weights;
  kernels::WeightMatrix& m = weights.matrix;
  m.rows = rows;
  m.cols = cols;
  m.format = format;
  if (format == WeightFormat::kDense) {
    for (float v : w) weights.bf16.push_back(f32_to_bf16(v));
    m.dtype = DType::kBF16;
    m.data = weights.bf16.data();
  } else if (format == WeightFormat::kInt8PerChannel) {
    weights.q8.resize(w.size());
    weights.scales_f32.resize(static_cast<size_t>(rows));
    kernels::quantize_int8_per_channel(w.data(), rows, cols, weights.q8.data(), weights.scales_f32.data(), "test");
    m.dtype = DType::kI8;
    m.data = weights.q8.data();
    m.scales = weights.scales_f32.data();
    m.scale_dtype = DType::kF32;
  } else {
    weights.q4.resize(w.size() / 2);
    weights.scales_half.resize(static_cast<size_t>(rows * cols / kGroup));
    kernels::quantize_int4_groups(w.data(), rows, cols, kGroup, DType::kBF16, weights.q4.data(),
                                  weights.scales_half.data(), "test");
    m.dtype = DType::kU8;
    m.data = weights.q4.data();
    m.scales = weights.scales_half.data();
    m.scale_dtype = DType::kBF16;
    m.group_size = kGroup;
  }
  return weights;
}

std::vector<float> random_rows(int64_t n_rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_rows * cols));
  for (float& v : x) v = normal(rng);
  return x;
}

class ThreadCount {
 public:
  explicit ThreadCount(int n) : saved_(thread_count()) { set_thread_count(n); }
  ~ThreadCount() { set_thread_count(saved_); }

 private:
  int saved_;
};

// 1000 output rows (not a whole number of 16-row blocks) of 2048 columns.
constexpr int64_t kRows = 1000;
constexpr int64_t kCols = 2048;

class OpsTest : public ::testing::TestWithParam<WeightFormat> {};

TEST_P(OpsTest, MatmulSplitsRowsIntoSeveralRangesWithoutChangingAnyResult) {
  // Enough weights that a range is less than a thread's share (ops.cc kMinWeightsPerRange).
  constexpr int64_t kSplitCols = 4 * kCols;
  const Weights w = make_weights(GetParam(), kRows, kSplitCols, 1);
  for (int64_t n_rows : {1, 6}) {
    {
      const ThreadCount threads(3);
      ASSERT_GT(kRows, 3 * ops::matmul_range_rows(w.matrix, n_rows)) << "the test needs more ranges than threads";
    }
    const std::vector<float> x = random_rows(n_rows, kSplitCols, 2);
    std::vector<float> one_thread(static_cast<size_t>(n_rows * kRows), -1.0f);
    std::vector<float> three_threads(one_thread.size(), -2.0f);
    {
      const ThreadCount threads(1);
      ops::matmul(x.data(), n_rows, w.matrix, one_thread.data());
    }
    {
      const ThreadCount threads(3);
      ops::matmul(x.data(), n_rows, w.matrix, three_threads.data());
    }
    for (size_t i = 0; i < one_thread.size(); ++i) {
      ASSERT_EQ(one_thread[i], three_threads[i]) << fmt::format("n_rows={} element {}", n_rows, i);
    }
  }
}

TEST_P(OpsTest, SiluGatedMatmulIsSiluOfGateTimesUp) {
  const Weights gate = make_weights(GetParam(), kRows, kCols, 3);
  const Weights up = make_weights(GetParam(), kRows, kCols, 4);
  const ThreadCount threads(3);
  for (int64_t n_rows : {1, 6}) {
    const std::vector<float> x = random_rows(n_rows, kCols, 5);
    const auto size = static_cast<size_t>(n_rows * kRows);
    std::vector<float> g(size), u(size);
    ops::matmul(x.data(), n_rows, gate.matrix, g.data());
    ops::matmul(x.data(), n_rows, up.matrix, u.data());
    std::vector<float> fused(size, -1.0f), scratch(size, -1.0f);
    ops::silu_gated_matmul(x.data(), n_rows, gate.matrix, up.matrix, fused.data(), scratch.data());
    for (size_t i = 0; i < size; ++i) {
      const double expected = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
      // The fp32 exp, division and two products each round once (exp to within an ulp or two).
      const double tolerance = 8.0 * testing::kEpsF32 * std::fabs(expected) + 1e-30;
      ASSERT_NEAR(fused[i], expected, tolerance) << fmt::format("n_rows={} element {}", n_rows, i);
    }
  }
}

// A group's ranges are sized from the whole group's weights (longer than a single call's for small
// matrices) and go to the threads in any order: each product is still bit for bit the single call.
TEST_P(OpsTest, GroupsGiveWhatSingleCallsGive) {
  const ThreadCount threads(3);
  struct Shape {
    int64_t rows, cols, n_rows;
  };
  const std::vector<Shape> shapes = {{kRows, kCols, 1}, {48, kCols, 6}, {64, 512, 0}, {32, 512, 3}, {kRows, 512, 2}};
  std::vector<Weights> gates, ups;
  std::vector<std::vector<float>> xs, single, single_scratch, grouped, grouped_scratch, single_gated, grouped_gated;
  std::vector<ops::MatmulTask> tasks;
  std::vector<ops::GatedMatmulTask> gated_tasks;
  for (size_t t = 0; t < shapes.size(); ++t) {
    gates.push_back(make_weights(GetParam(), shapes[t].rows, shapes[t].cols, 10 + t));
    ups.push_back(make_weights(GetParam(), shapes[t].rows, shapes[t].cols, 20 + t));
    xs.push_back(random_rows(shapes[t].n_rows, shapes[t].cols, 30 + t));
    const auto size = static_cast<size_t>(shapes[t].n_rows * shapes[t].rows);
    for (auto* outputs : {&single, &single_scratch, &grouped, &grouped_scratch, &single_gated, &grouped_gated}) {
      outputs->emplace_back(size, -1.0f);
    }
  }
  for (size_t t = 0; t < shapes.size(); ++t) {
    tasks.push_back({xs[t].data(), shapes[t].n_rows, &gates[t].matrix, grouped[t].data()});
    gated_tasks.push_back({xs[t].data(), shapes[t].n_rows, &gates[t].matrix, &ups[t].matrix, grouped_gated[t].data(),
                           grouped_scratch[t].data()});
    ops::matmul(xs[t].data(), shapes[t].n_rows, gates[t].matrix, single[t].data());
    ops::silu_gated_matmul(xs[t].data(), shapes[t].n_rows, gates[t].matrix, ups[t].matrix, single_gated[t].data(),
                           single_scratch[t].data());
  }
  ops::matmul_group(tasks);
  ops::silu_gated_matmul_group(gated_tasks);
  for (size_t t = 0; t < shapes.size(); ++t) {
    EXPECT_EQ(grouped[t], single[t]) << "matmul task " << t;
    EXPECT_EQ(grouped_gated[t], single_gated[t]) << "gated task " << t;
  }
}

std::string format_test_name(const ::testing::TestParamInfo<WeightFormat>& info) {
  if (info.param == WeightFormat::kDense) return "bf16";
  return info.param == WeightFormat::kInt8PerChannel ? "int8" : "int4_g64";
}

INSTANTIATE_TEST_SUITE_P(Formats, OpsTest,
                         ::testing::Values(WeightFormat::kDense, WeightFormat::kInt8PerChannel, WeightFormat::kInt4Group),
                         format_test_name);

TEST(Ops, SiluGatedMatmulRejectsGateAndUpOfDifferentShapes) {
  const Weights gate = make_weights(WeightFormat::kDense, 32, 64, 1);
  const Weights up = make_weights(WeightFormat::kDense, 48, 64, 2);
  std::vector<float> x(64, 1.0f), out(48), scratch(48);
  try {
    ops::silu_gated_matmul(x.data(), 1, gate.matrix, up.matrix, out.data(), scratch.data());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gate is [32, 64] but up is [48, 64]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace elephant
