// The CUDA MoE kernels against the CPU reference: router (rule R1, pruning), permute, both expert
// matmul paths in every weight format, finalize, and the whole DeviceMoeFfn. References are the
// engine's CPU functions (layers/moe) and fp64 sums over the CPU dequantization of the same
// weights; tolerances follow tests/support/tolerance.h (fp32 eps × √K × depth × magnitude).
// Every test needs a GPU and skips with the reason when none can be used.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cuda/moe_ffn.h"
#include "kernels/cuda/moe_kernels.h"
#include "kernels/cuda/weight_layout.h"
#include "layers/moe/permute.h"
#include "layers/moe/router.h"
#include "random_matrix.h"
#include "support/cuda_device.h"
#include "support/tolerance.h"

namespace elephant::cuda {
namespace {

using elephant::testing::expect_close;
using elephant::testing::kEpsF32;
using elephant::testing::max_abs;
using elephant::testing::reduction_tolerance;
using testing::random_matrix;
using testing::RandomMatrix;

std::vector<float> random_values(int64_t n, uint64_t seed, float std = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, std);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = normal(rng);
  return v;
}

// x [n, w.cols] · w^T in fp64 over the CPU dequantization.
std::vector<double> reference_matmul(const std::vector<float>& x, int64_t n, const RandomMatrix& w) {
  std::vector<double> y(static_cast<size_t>(n * w.matrix.rows));
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t o = 0; o < w.matrix.rows; ++o) {
      double sum = 0.0;
      for (int64_t k = 0; k < w.matrix.cols; ++k) sum += static_cast<double>(x[static_cast<size_t>(r * w.matrix.cols + k)]) * w.dequantized(o, k);
      y[static_cast<size_t>(r * w.matrix.rows + o)] = sum;
    }
  }
  return y;
}

double silu(double g) { return g / (1.0 + std::exp(-g)); }

// Widths that exercise 16-byte activation loads (hidden % 4 == 0) and single ones, rows that end
// inside a 16-byte chunk (bf16 301, int4 336), and more experts than one pass of the kernel takes.
struct RouterCase {
  DeviceFormat format;
  int64_t hidden;
  int64_t group;
};

TEST(CudaRouter, MatchesTheCpuRuleWithPruning) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  const int64_t n_rows = 37;
  const int n_experts = 60;
  for (const RouterCase& router_case : {RouterCase{DeviceFormat::kF32, 300, 0}, RouterCase{DeviceFormat::kBF16, 300, 0},
                                        RouterCase{DeviceFormat::kBF16, 301, 0}, RouterCase{DeviceFormat::kInt8, 300, 0},
                                        RouterCase{DeviceFormat::kInt4, 336, 16}}) {
    const DeviceFormat format = router_case.format;
    const int64_t hidden = router_case.hidden;
    SCOPED_TRACE(fmt::format("{} hidden {}", device_format_name(format), hidden));
    const RandomMatrix gate = random_matrix(format, n_experts, hidden, router_case.group, 3, 0.2f);
    const std::vector<float> x = random_values(n_rows * hidden, 4);
    std::vector<uint8_t> active(static_cast<size_t>(n_rows), 1);
    active[3] = active[20] = active[36] = 0;
    const DeviceMatrix device_gate = DeviceMatrix::upload(pack_for_device(gate.matrix, "gate"));
    const DeviceBuffer<float> d_x = to_device(x);
    const DeviceBuffer<uint8_t> d_active = to_device(active);
    const std::vector<double> logits = reference_matmul(x, n_rows, gate);
    for (int top_k : {1, 2, 8}) {
      for (bool renormalize : {true, false}) {
        DeviceBuffer<int32_t> d_experts(static_cast<size_t>(n_rows * top_k));
        DeviceBuffer<float> d_weights(static_cast<size_t>(n_rows * top_k));
        launch_route_softmax_top_k(d_x.data(), n_rows, device_gate.view(), format, top_k, renormalize, d_active.data(),
                                   d_experts.data(), d_weights.data(), nullptr);
        const std::vector<int32_t> experts = d_experts.download();
        const std::vector<float> weights = d_weights.download();
        std::vector<float> probabilities(logits.begin(), logits.end());
        const layers::Routing cpu =
            layers::route_softmax_top_k(probabilities.data(), n_rows, n_experts, top_k, config::RouterConfig{renormalize});
        for (int64_t r = 0; r < n_rows; ++r) {
          for (int j = 0; j < top_k; ++j) {
            const auto i = static_cast<size_t>(r * top_k + j);
            if (active[static_cast<size_t>(r)] == 0) {
              EXPECT_EQ(experts[i], n_experts) << "pruned row " << r;
              EXPECT_EQ(weights[i], 0.0f);
              continue;
            }
            EXPECT_EQ(experts[i], cpu.experts[i]) << "row " << r << " choice " << j;
            // Logits differ by fp32 rounding of a length-hidden dot; probabilities by that relative.
            EXPECT_NEAR(weights[i], cpu.weights[i], reduction_tolerance(kEpsF32, hidden, 2, 20.0)) << "row " << r;
          }
        }
      }
    }
  }
}

TEST(CudaPermute, GroupsStablyAndMovesPrunedRowsPastTheEnd) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  const int n_experts = 13;
  const int top_k = 3;
  for (int64_t n_rows : {int64_t{1}, int64_t{40}, int64_t{3000}}) {
    std::mt19937 rng(static_cast<uint32_t>(n_rows));
    layers::Routing routing;
    routing.top_k = top_k;
    for (int64_t r = 0; r < n_rows; ++r) {
      const bool pruned = rng() % 7 == 0;
      std::vector<int32_t> ids(static_cast<size_t>(n_experts));
      std::iota(ids.begin(), ids.end(), 0);
      std::shuffle(ids.begin(), ids.end(), rng);
      for (int j = 0; j < top_k; ++j) routing.experts.push_back(pruned ? n_experts : ids[static_cast<size_t>(j)]);
    }
    routing.weights.assign(routing.experts.size(), 0.5f);
    // The pruned sentinel is one more "expert" for the CPU counting sort.
    const layers::ExpertGroups cpu = layers::moe_permute(routing, n_experts + 1);
    const int64_t n = n_rows * top_k;
    const DeviceBuffer<int32_t> d_experts = to_device(routing.experts);
    DeviceBuffer<uint8_t> workspace(permute_workspace_bytes(n, n_experts));
    DeviceBuffer<int32_t> offsets(static_cast<size_t>(n_experts) + 2);
    DeviceBuffer<int32_t> slot_assignment(static_cast<size_t>(n));
    DeviceBuffer<int32_t> slot_row(static_cast<size_t>(n));
    DeviceBuffer<int32_t> position_of(static_cast<size_t>(n));
    launch_permute(d_experts.data(), n, top_k, n_experts, workspace.data(), workspace.size(), offsets.data(),
                   slot_assignment.data(), slot_row.data(), position_of.data(), nullptr);
    const std::vector<int32_t> got_offsets = offsets.download();
    const std::vector<int32_t> got_assignment = slot_assignment.download();
    const std::vector<int32_t> got_row = slot_row.download();
    const std::vector<int32_t> got_position = position_of.download();
    for (int e = 0; e <= n_experts + 1; ++e) EXPECT_EQ(got_offsets[static_cast<size_t>(e)], cpu.offsets[static_cast<size_t>(e)]) << "expert " << e;
    for (int64_t s = 0; s < n; ++s) {
      ASSERT_EQ(got_assignment[static_cast<size_t>(s)], cpu.assignments[static_cast<size_t>(s)]) << "slot " << s;
      ASSERT_EQ(got_row[static_cast<size_t>(s)], cpu.assignments[static_cast<size_t>(s)] / top_k);
      ASSERT_EQ(got_position[static_cast<size_t>(s)], cpu.position_of[static_cast<size_t>(s)]);
    }
  }
}

struct MatmulCase {
  DeviceFormat format;
  int64_t in_features;
  int64_t group;
  bool swiglu;
  bool tiled;
};

std::string describe(const MatmulCase& c) {
  return fmt::format("{}_k{}_{}_{}", device_format_name(c.format), c.in_features, c.swiglu ? "swiglu" : "plain",
                     c.tiled ? "tiled" : "gemv");
}

void PrintTo(const MatmulCase& c, std::ostream* os) { *os << describe(c); }

std::string case_name(const ::testing::TestParamInfo<MatmulCase>& info) { return describe(info.param); }

class CudaExpertMatmul : public ::testing::TestWithParam<MatmulCase> {};

TEST_P(CudaExpertMatmul, MatchesTheFp64ReferenceOnEverySlot) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  const MatmulCase c = GetParam();
  const int64_t out_features = 77;
  // Empty experts, one slot, a partial pass of 8, several passes / several tiles.
  const std::vector<int32_t> counts = c.tiled ? std::vector<int32_t>{0, 70, 1, 130, 64} : std::vector<int32_t>{0, 1, 3, 8, 13};
  const int n_experts = static_cast<int>(counts.size());
  std::vector<int32_t> offsets = {0};
  for (int32_t count : counts) offsets.push_back(offsets.back() + count);
  const int64_t n_slots = offsets.back();
  const int64_t n_x_rows = n_slots + 5;
  const std::vector<float> x = random_values(n_x_rows * c.in_features, 21);
  std::vector<int32_t> slot_row(static_cast<size_t>(n_slots));
  std::mt19937 rng(5);
  for (int32_t& r : slot_row) r = static_cast<int32_t>(rng() % n_x_rows);

  std::vector<RandomMatrix> a;
  std::vector<RandomMatrix> b;
  std::vector<DeviceMatrix> device_a;
  std::vector<DeviceMatrix> device_b;
  std::vector<MatrixView> a_views;
  std::vector<MatrixView> b_views;
  for (int e = 0; e < n_experts; ++e) {
    a.push_back(random_matrix(c.format, out_features, c.in_features, c.group, 100 + static_cast<uint64_t>(e)));
    device_a.push_back(DeviceMatrix::upload(pack_for_device(a.back().matrix, "a")));
    a_views.push_back(device_a.back().view());
    if (c.swiglu) {
      b.push_back(random_matrix(c.format, out_features, c.in_features, c.group, 200 + static_cast<uint64_t>(e)));
      device_b.push_back(DeviceMatrix::upload(pack_for_device(b.back().matrix, "b")));
      b_views.push_back(device_b.back().view());
    }
  }
  const DeviceBuffer<float> d_x = to_device(x);
  const DeviceBuffer<int32_t> d_slot_row = to_device(slot_row);
  const DeviceBuffer<int32_t> d_offsets = to_device(offsets);
  const DeviceBuffer<MatrixView> d_a = to_device(a_views);
  const DeviceBuffer<MatrixView> d_b = to_device(b_views);
  const int64_t y_stride = out_features + 3;
  DeviceBuffer<float> d_y(static_cast<size_t>(n_slots * y_stride));

  ExpertMatmul m;
  m.x = d_x.data();
  m.x_stride = c.in_features;
  m.slot_row = d_slot_row.data();
  m.offsets = d_offsets.data();
  m.n_experts = n_experts;
  m.max_slots = n_slots;
  m.a_views = d_a.data();
  m.b_views = c.swiglu ? d_b.data() : nullptr;
  m.format = c.format;
  m.out_features = static_cast<int32_t>(out_features);
  m.in_features = static_cast<int32_t>(c.in_features);
  m.y = d_y.data();
  m.y_stride = y_stride;
  if (c.tiled) {
    DeviceBuffer<int32_t> tiles(static_cast<size_t>(expert_gemm_tile_capacity(n_slots, n_experts)));
    launch_expert_gemm_tiled(m, tiles.data(), nullptr);
    ELEPHANT_CUDA_CHECK(cudaDeviceSynchronize());
  } else {
    launch_expert_gemv(m, nullptr);
  }
  const std::vector<float> y = d_y.download();

  std::vector<float> expected;
  std::vector<float> actual;
  for (int e = 0; e < n_experts; ++e) {
    for (int32_t s = offsets[static_cast<size_t>(e)]; s < offsets[static_cast<size_t>(e) + 1]; ++s) {
      const std::vector<float> x_row(x.begin() + slot_row[static_cast<size_t>(s)] * c.in_features,
                                     x.begin() + (slot_row[static_cast<size_t>(s)] + 1) * c.in_features);
      const std::vector<double> ya = reference_matmul(x_row, 1, a[static_cast<size_t>(e)]);
      const std::vector<double> yb = c.swiglu ? reference_matmul(x_row, 1, b[static_cast<size_t>(e)]) : std::vector<double>();
      for (int64_t o = 0; o < out_features; ++o) {
        const double value = c.swiglu ? silu(ya[static_cast<size_t>(o)]) * yb[static_cast<size_t>(o)] : ya[static_cast<size_t>(o)];
        expected.push_back(static_cast<float>(value));
        actual.push_back(y[static_cast<size_t>(s * y_stride + o)]);
      }
    }
  }
  // SwiGLU multiplies two dot products: its error is at most about twice one dot's, relative.
  const double tolerance = reduction_tolerance(kEpsF32, c.in_features, c.swiglu ? 2 : 1, max_abs(expected));
  expect_close(expected, actual, tolerance, describe(c));
}

std::vector<MatmulCase> matmul_cases() {
  std::vector<MatmulCase> cases;
  for (bool tiled : {false, true}) {
    for (bool swiglu : {false, true}) {
      cases.push_back({DeviceFormat::kF32, 301, 0, swiglu, tiled});
      cases.push_back({DeviceFormat::kF16, 259, 0, swiglu, tiled});
      cases.push_back({DeviceFormat::kBF16, 1024, 0, swiglu, tiled});
      cases.push_back({DeviceFormat::kInt8, 301, 0, swiglu, tiled});
      cases.push_back({DeviceFormat::kInt4, 336, 16, swiglu, tiled});
      cases.push_back({DeviceFormat::kInt4, 1024, 128, swiglu, tiled});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Paths, CudaExpertMatmul, ::testing::ValuesIn(matmul_cases()), case_name);

TEST(CudaFinalize, SumsInExpertOrderLikeTheCpuUnpermute) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  const int n_experts = 8;
  const int top_k = 2;
  const int64_t n_rows = 19;
  std::mt19937 rng(9);
  layers::Routing routing;
  routing.top_k = top_k;
  for (int64_t r = 0; r < n_rows; ++r) {
    const bool pruned = r % 6 == 5;
    const int32_t first = static_cast<int32_t>(rng() % n_experts);
    const int32_t second = static_cast<int32_t>((first + 1 + rng() % (n_experts - 1)) % n_experts);
    routing.experts.push_back(pruned ? n_experts : first);
    routing.experts.push_back(pruned ? n_experts : second);
    routing.weights.push_back(pruned ? 0.0f : 0.7f);
    routing.weights.push_back(pruned ? 0.0f : 0.3f);
  }
  const layers::ExpertGroups groups = layers::moe_permute(routing, n_experts + 1);
  std::vector<int32_t> position_of(groups.position_of.begin(), groups.position_of.end());
  const DeviceBuffer<int32_t> d_experts = to_device(routing.experts);
  const DeviceBuffer<float> d_weights = to_device(routing.weights);
  const DeviceBuffer<int32_t> d_position = to_device(position_of);
  // 515 takes single-float loads; 1100 takes 16-byte loads and ends inside a block.
  for (const int64_t hidden : {int64_t{515}, int64_t{1100}}) {
    SCOPED_TRACE(fmt::format("hidden {}", hidden));
    const std::vector<float> y = random_values(n_rows * top_k * hidden, 10);
    const std::vector<float> residual = random_values(n_rows * hidden, 11);
    std::vector<float> expected(static_cast<size_t>(n_rows * hidden));
    layers::moe_unpermute(routing, groups, y.data(), hidden, 1.0f, n_experts, expected.data());
    for (size_t i = 0; i < expected.size(); ++i) expected[i] += residual[i];
    const DeviceBuffer<float> d_y = to_device(y);
    const DeviceBuffer<float> d_residual = to_device(residual);
    DeviceBuffer<float> d_out(expected.size());
    launch_moe_finalize(d_experts.data(), d_weights.data(), d_position.data(), n_rows, top_k, n_experts, d_y.data(),
                        hidden, 1.0f, d_residual.data(), d_out.data(), nullptr);
    const std::vector<float> out = d_out.download();
    // Same order of the same fp32 operations; only fused multiply-adds may round differently.
    expect_close(expected, out, reduction_tolerance(kEpsF32, top_k + 1, 1, max_abs(expected)), "finalize");
  }
}

// The whole block against a CPU composition of the reference functions, on both paths.
class CudaMoeFfn : public ::testing::TestWithParam<std::tuple<DeviceFormat, int64_t>> {};

TEST_P(CudaMoeFfn, MatchesTheCpuReference) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  const auto [format, n_rows] = GetParam();
  const int n_experts = 8;
  const int top_k = 2;
  const int64_t hidden = 256;
  const int64_t ffn = 160;
  const RandomMatrix router = random_matrix(DeviceFormat::kF32, n_experts, hidden, 0, 1, 0.3f);
  std::vector<RandomMatrix> gate, up, down;
  std::vector<ExpertWeights> experts;
  for (int e = 0; e < n_experts; ++e) {
    gate.push_back(random_matrix(format, ffn, hidden, 32, 10 + static_cast<uint64_t>(e)));
    up.push_back(random_matrix(format, ffn, hidden, 32, 30 + static_cast<uint64_t>(e)));
    down.push_back(random_matrix(format, hidden, ffn, 32, 50 + static_cast<uint64_t>(e)));
  }
  for (int e = 0; e < n_experts; ++e) experts.push_back({gate[static_cast<size_t>(e)].matrix, up[static_cast<size_t>(e)].matrix, down[static_cast<size_t>(e)].matrix});
  DeviceMoeFfn ffn_block(router.matrix, experts, top_k, true, n_rows, "test moe");

  const std::vector<float> x = random_values(n_rows * hidden, 77);
  const std::vector<float> residual = random_values(n_rows * hidden, 78);
  std::vector<uint8_t> active(static_cast<size_t>(n_rows), 1);
  active[0] = 0;

  // CPU side: fp64 logits, the CPU rule, fp64 experts, the CPU un-permute.
  const std::vector<double> logits = reference_matmul(x, n_rows, router);
  std::vector<float> probabilities(logits.begin(), logits.end());
  const layers::Routing routing = layers::route_softmax_top_k(probabilities.data(), n_rows, n_experts, top_k, config::RouterConfig{});
  std::vector<float> expected(static_cast<size_t>(n_rows * hidden));
  for (int64_t r = 0; r < n_rows; ++r) {
    const std::vector<float> x_row(x.begin() + r * hidden, x.begin() + (r + 1) * hidden);
    for (int64_t h = 0; h < hidden; ++h) expected[static_cast<size_t>(r * hidden + h)] = residual[static_cast<size_t>(r * hidden + h)];
    if (active[static_cast<size_t>(r)] == 0) continue;
    for (int j = 0; j < top_k; ++j) {
      const auto e = static_cast<size_t>(routing.experts[static_cast<size_t>(r * top_k + j)]);
      const std::vector<double> g = reference_matmul(x_row, 1, gate[e]);
      const std::vector<double> u = reference_matmul(x_row, 1, up[e]);
      std::vector<float> act(static_cast<size_t>(ffn));
      for (int64_t i = 0; i < ffn; ++i) act[static_cast<size_t>(i)] = static_cast<float>(silu(g[static_cast<size_t>(i)]) * u[static_cast<size_t>(i)]);
      const std::vector<double> d = reference_matmul(act, 1, down[e]);
      for (int64_t h = 0; h < hidden; ++h) {
        expected[static_cast<size_t>(r * hidden + h)] += static_cast<float>(d[static_cast<size_t>(h)] * routing.weights[static_cast<size_t>(r * top_k + j)]);
      }
    }
  }

  const DeviceBuffer<float> d_x = to_device(x);
  const DeviceBuffer<float> d_residual = to_device(residual);
  const DeviceBuffer<uint8_t> d_active = to_device(active);
  DeviceBuffer<float> d_out(expected.size());
  ffn_block.forward(d_x.data(), n_rows, d_active.data(), d_residual.data(), d_out.data(), nullptr);
  const std::vector<float> out = d_out.download();
  const std::vector<int32_t> offsets = ffn_block.last_offsets(nullptr);
  EXPECT_EQ(offsets[static_cast<size_t>(n_experts)], (n_rows - 1) * top_k) << "the pruned row's slots come last";
  expect_close(expected, out, reduction_tolerance(kEpsF32, hidden, 3, max_abs(expected)),
               fmt::format("moe ffn {} rows {}", device_format_name(format), n_rows));
}

INSTANTIATE_TEST_SUITE_P(Paths, CudaMoeFfn,
                         ::testing::Combine(::testing::Values(DeviceFormat::kBF16, DeviceFormat::kInt8, DeviceFormat::kInt4),
                                            ::testing::Values(int64_t{5}, int64_t{300})),
                         [](const auto& info) {
                           return fmt::format("{}_{}rows", device_format_name(std::get<0>(info.param)), std::get<1>(info.param));
                         });

}  // namespace
}  // namespace elephant::cuda
