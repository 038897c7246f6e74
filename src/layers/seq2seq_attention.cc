#include "layers/seq2seq_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "ops/ops.h"

namespace elephant::layers {

RelativePositionBias::RelativePositionBias(std::vector<float> table, int n_heads, int n_buckets, int max_distance,
                                           bool bidirectional)
    : table_(std::move(table)),
      n_heads_(n_heads),
      n_buckets_(n_buckets),
      max_distance_(max_distance),
      bidirectional_(bidirectional) {}

int RelativePositionBias::bucket(int64_t relative, bool bidirectional, int n_buckets, int max_distance) {
  int result = 0;
  int buckets = n_buckets;
  int64_t distance = 0;
  if (bidirectional) {
    buckets /= 2;
    if (relative > 0) result += buckets;
    distance = std::llabs(relative);
  } else {
    distance = -std::min<int64_t>(relative, 0);
  }
  const int max_exact = buckets / 2;
  if (distance < max_exact) return result + static_cast<int>(distance);
  const float log_ratio = std::log(static_cast<float>(distance) / static_cast<float>(max_exact));
  const auto log_range = static_cast<float>(std::log(static_cast<double>(max_distance) / max_exact));
  const float scaled = log_ratio / log_range * static_cast<float>(buckets - max_exact);
  const int large = max_exact + static_cast<int>(scaled);
  return result + std::min(large, buckets - 1);
}

float RelativePositionBias::at(int head, int64_t relative) const {
  return table_[static_cast<size_t>(bucket(relative, bidirectional_, n_buckets_, max_distance_) * n_heads_ + head)];
}

void attend_row(const float* query, const float* keys, const float* values, int64_t n_keys, int n_heads, int64_t head_dim,
                float scale, const RelativePositionBias& bias, int64_t query_position, std::vector<float>& scores,
                float* context) {
  const int64_t inner = n_heads * head_dim;
  if (static_cast<int64_t>(scores.size()) < n_keys) scores.resize(static_cast<size_t>(n_keys));
  for (int h = 0; h < n_heads; ++h) {
    const float* q = query + h * head_dim;
    float* dst = context + h * head_dim;
    std::fill_n(dst, head_dim, 0.0f);
    if (n_keys == 0) continue;
    ops::attention_scores(q, 1, keys + h * head_dim, DType::kF32, inner, n_keys, head_dim, scale, scores.data(), n_keys);
    if (!bias.empty()) {
      for (int64_t t = 0; t < n_keys; ++t) scores[static_cast<size_t>(t)] += bias.at(h, t - query_position);
    }
    const float max_score = *std::max_element(scores.begin(), scores.begin() + n_keys);
    float total = 0.0f;
    for (int64_t t = 0; t < n_keys; ++t) {
      scores[static_cast<size_t>(t)] = std::exp(scores[static_cast<size_t>(t)] - max_score);
      total += scores[static_cast<size_t>(t)];
    }
    for (int64_t t = 0; t < n_keys; ++t) scores[static_cast<size_t>(t)] /= total;
    ops::attention_values(scores.data(), n_keys, 1, values + h * head_dim, DType::kF32, inner, n_keys, head_dim, dst);
  }
}

}  // namespace elephant::layers
