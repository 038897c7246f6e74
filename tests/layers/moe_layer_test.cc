// The MoE layer (route -> permute -> grouped experts -> finalize) against a naive per-token loop,
// on the awkward cases: experts that receive no row (never touched), every row on one expert,
// top-k = E, a single row; plus the permutation's invariants.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "layers/moe/moe_layer.h"
#include "layers/moe/permute.h"
#include "support/tolerance.h"

namespace elephant {
namespace {

constexpr int kHidden = 24;
constexpr int kWidth = 10;
constexpr int kExperts = 5;

struct TinyMoe {
  config::ModelConfig config;
  std::vector<std::vector<float>> storage;  // keeps every weight matrix alive
  std::vector<float> router;               // [E, H]
  std::vector<std::vector<layers::SwigluWeights>> experts{1};  // [layer 0][E]

  ops::WeightMatrix matrix(int64_t rows, int64_t cols, std::mt19937_64& rng) {
    std::normal_distribution<float> normal(0.0f, 0.3f);
    storage.emplace_back(static_cast<size_t>(rows * cols));
    for (float& v : storage.back()) v = normal(rng);
    return {DType::kF32, rows, cols, storage.back().data()};
  }
};

std::unique_ptr<TinyMoe> make_moe(int top_k, bool renormalize) {
  auto moe = std::make_unique<TinyMoe>();
  moe->config.hidden_size = kHidden;
  moe->config.moe = {kExperts, top_k, kWidth, 0, false, {renormalize}};
  std::mt19937_64 rng(7);
  moe->storage.reserve(3 * kExperts + 1);
  for (int e = 0; e < kExperts; ++e) {
    layers::SwigluWeights w;
    w.gate = moe->matrix(kWidth, kHidden, rng);
    w.up = moe->matrix(kWidth, kHidden, rng);
    w.down = moe->matrix(kHidden, kWidth, rng);
    moe->experts[0].push_back(w);
  }
  moe->router.assign(kExperts * kHidden, 0.0f);
  return moe;
}

// Rows whose hidden state is a large one-hot at position `expert` route to that expert first when
// the router is the identity on the first E features.
void make_router_identity(TinyMoe& moe) {
  for (int e = 0; e < kExperts; ++e) moe.router[static_cast<size_t>(e * kHidden + e)] = 1.0f;
}

std::vector<float> naive_moe(const TinyMoe& moe, const std::vector<float>& x, int64_t n_rows) {
  const int top_k = moe.config.moe.top_k;
  std::vector<float> out(x.size(), 0.0f);
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* row = x.data() + r * kHidden;
    std::vector<double> p(kExperts);
    for (int e = 0; e < kExperts; ++e) {
      p[static_cast<size_t>(e)] = 0.0;
      for (int i = 0; i < kHidden; ++i) p[static_cast<size_t>(e)] += row[i] * moe.router[static_cast<size_t>(e * kHidden + i)];
    }
    const double max_logit = *std::max_element(p.begin(), p.end());
    double total = 0.0;
    for (double& v : p) total += (v = std::exp(v - max_logit));
    for (double& v : p) v /= total;
    std::vector<int> order(kExperts);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[static_cast<size_t>(a)] > p[static_cast<size_t>(b)]; });
    double chosen = 0.0;
    for (int j = 0; j < top_k; ++j) chosen += p[static_cast<size_t>(order[static_cast<size_t>(j)])];
    for (int j = 0; j < top_k; ++j) {
      const int e = order[static_cast<size_t>(j)];
      const double weight = moe.config.moe.router.renormalize_top_k ? p[static_cast<size_t>(e)] / chosen : p[static_cast<size_t>(e)];
      const auto& w = moe.experts[0][static_cast<size_t>(e)];
      const auto* gate = static_cast<const float*>(w.gate.data);
      const auto* up = static_cast<const float*>(w.up.data);
      const auto* down = static_cast<const float*>(w.down.data);
      std::vector<double> h(kWidth);
      for (int k = 0; k < kWidth; ++k) {
        double g = 0.0, u = 0.0;
        for (int i = 0; i < kHidden; ++i) {
          g += row[i] * gate[k * kHidden + i];
          u += row[i] * up[k * kHidden + i];
        }
        h[static_cast<size_t>(k)] = g / (1.0 + std::exp(-g)) * u;
      }
      for (int i = 0; i < kHidden; ++i) {
        double y = 0.0;
        for (int k = 0; k < kWidth; ++k) y += h[static_cast<size_t>(k)] * down[i * kWidth + k];
        out[static_cast<size_t>(r * kHidden + i)] += static_cast<float>(weight * y);
      }
    }
  }
  return out;
}

struct Case {
  std::string name;
  int top_k;
  bool renormalize;
  std::vector<int> first_choice;  // per row: the expert its one-hot points at; -1: random row
};

class MoeLayerTest : public ::testing::TestWithParam<Case> {};

TEST_P(MoeLayerTest, MatchesNaivePerTokenLoopAndTouchesOnlyRoutedExperts) {
  const Case& c = GetParam();
  auto moe = make_moe(c.top_k, c.renormalize);
  make_router_identity(*moe);
  const auto n_rows = static_cast<int64_t>(c.first_choice.size());
  std::mt19937_64 rng(3);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> x(static_cast<size_t>(n_rows * kHidden));
  for (float& v : x) v = normal(rng);
  for (int64_t r = 0; r < n_rows; ++r) {
    if (c.first_choice[static_cast<size_t>(r)] >= 0) x[static_cast<size_t>(r * kHidden + c.first_choice[static_cast<size_t>(r)])] += 6.0f;
  }
  auto store = std::make_unique<layers::ResidentExpertStore>(moe->experts);

  layers::MoeLayer layer(moe->config, 0, {DType::kF32, kExperts, kHidden, moe->router.data()}, *store, std::nullopt);
  std::vector<float> out(x.size());
  layer.forward(x.data(), n_rows, out.data());
  const auto expected = naive_moe(*moe, x, n_rows);
  testing::expect_close(expected, out,
                        testing::reduction_tolerance(testing::kEpsF32, kHidden, 3, std::max(1.0, testing::max_abs(expected))),
                        c.name);

  // With top-1 and one-hot rows, exactly the pointed-at experts may be touched, once each.
  if (c.top_k == 1) {
    for (int e = 0; e < kExperts; ++e) {
      const bool routed = std::find(c.first_choice.begin(), c.first_choice.end(), e) != c.first_choice.end();
      EXPECT_EQ(store->acquire_count(0, e), routed ? 1u : 0u) << c.name << " expert " << e;
    }
  }
  for (int e = 0; e < kExperts; ++e) EXPECT_LE(store->acquire_count(0, e), 1u) << "an expert ran twice in one step";
}

INSTANTIATE_TEST_SUITE_P(
    AwkwardRoutings, MoeLayerTest,
    ::testing::Values(Case{"experts_without_rows_are_untouched", 1, false, {0, 2, 2, 0, 2}},
                      Case{"all_rows_on_one_expert", 1, true, {3, 3, 3, 3, 3, 3, 3}},
                      Case{"single_row", 2, true, {4}}, Case{"top_k_equals_experts", kExperts, false, {1, -1, 2}},
                      Case{"top_2_renormalized", 2, true, {0, 1, 2, 3, 4, -1, -1, 1}},
                      Case{"top_2_raw_probabilities", 2, false, {0, 1, 2, 3, 4, -1, -1, 1}}),
    [](const auto& info) { return info.param.name; });

TEST(MoePermute, GroupsStablyByExpertWithInverse) {
  layers::Routing routing;
  routing.top_k = 2;
  routing.experts = {3, 0, 0, 3, 1, 3};  // rows 0..2
  routing.weights.assign(6, 0.5f);
  const auto groups = layers::moe_permute(routing, 5);
  EXPECT_EQ(groups.offsets, (std::vector<int64_t>{0, 2, 3, 3, 6, 6}));
  EXPECT_EQ(groups.assignments, (std::vector<int64_t>{1, 2, 4, 0, 3, 5}));
  for (size_t p = 0; p < groups.assignments.size(); ++p) {
    EXPECT_EQ(groups.position_of[static_cast<size_t>(groups.assignments[p])], static_cast<int64_t>(p));
  }
  EXPECT_EQ(groups.count(2), 0);
  EXPECT_EQ(groups.count(4), 0);
}

TEST(MoeRouter, SoftmaxTopKWithAndWithoutRenormalization) {
  std::vector<float> logits = {0.0f, std::log(3.0f), std::log(2.0f), std::log(4.0f)};  // p = 0.1, 0.3, 0.2, 0.4
  auto raw = logits;
  const auto plain = layers::route_softmax_top_k(raw.data(), 1, 4, 2, {false});
  EXPECT_EQ(plain.experts, (std::vector<int32_t>{3, 1}));
  EXPECT_NEAR(plain.weights[0], 0.4f, 1e-6f);
  EXPECT_NEAR(plain.weights[1], 0.3f, 1e-6f);
  const auto renormalized = layers::route_softmax_top_k(logits.data(), 1, 4, 2, {true});
  EXPECT_NEAR(renormalized.weights[0], 0.4f / 0.7f, 1e-6f);
  EXPECT_NEAR(renormalized.weights[1], 0.3f / 0.7f, 1e-6f);
}

}  // namespace
}  // namespace elephant
