#include "layers/attention.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>

#include "core/parallel.h"

namespace elephant::layers {

Attention::Attention(const config::ModelConfig& config, int layer, AttentionWeights weights)
    : config_(config),
      layer_(layer),
      sliding_window_(config.layers[static_cast<size_t>(layer)].sliding_window),
      weights_(std::move(weights)) {}

void Attention::forward(const float* x, const RowBatch& rows, KvCache& cache, float* out) const {
  const int64_t n = rows.size();
  const int64_t hd = config_.head_dim;
  const int64_t q_dim = config_.n_heads * hd;
  const int64_t kv_dim = config_.n_kv_heads * hd;
  std::vector<float> q(static_cast<size_t>(n * q_dim));   // [n, n_heads, hd]
  std::vector<float> k(static_cast<size_t>(n * kv_dim));  // [n, n_kv, hd]
  std::vector<float> v(static_cast<size_t>(n * kv_dim));
  ops::matmul(x, n, weights_.q, q.data(), weights_.q_bias);
  ops::matmul(x, n, weights_.k, k.data(), weights_.k_bias);
  ops::matmul(x, n, weights_.v, v.data(), weights_.v_bias);
  if (config_.clip_qkv > 0.0f) {
    const float c = config_.clip_qkv;
    for (auto* buffer : {&q, &k, &v}) {
      for (float& value : *buffer) value = std::clamp(value, -c, c);
    }
  }
  switch (config_.qk_norm) {
    case config::QkNorm::kPerHead:
      ops::rms_norm(q.data(), n * config_.n_heads, hd, weights_.q_norm, config_.rms_norm_eps, q.data());
      ops::rms_norm(k.data(), n * config_.n_kv_heads, hd, weights_.k_norm, config_.rms_norm_eps, k.data());
      break;
    case config::QkNorm::kWholeProjection:
      ops::rms_norm(q.data(), n, q_dim, weights_.q_norm, config_.rms_norm_eps, q.data());
      ops::rms_norm(k.data(), n, kv_dim, weights_.k_norm, config_.rms_norm_eps, k.data());
      break;
    case config::QkNorm::kNone:
    case config::QkNorm::kCount:
      break;
  }
  ops::rope(q.data(), n, config_.n_heads, hd, rows.positions, config_.rope_theta);
  ops::rope(k.data(), n, config_.n_kv_heads, hd, rows.positions, config_.rope_theta);
  for (int64_t r = 0; r < n; ++r) {
    cache.store(rows.slots[r], layer_, rows.positions[r], k.data() + r * kv_dim, v.data() + r * kv_dim);
  }

  std::vector<float> context(static_cast<size_t>(n * q_dim));  // [n, n_heads, hd]
  const int64_t group = config_.n_heads / config_.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int32_t block_size = cache.block_size();
  const DType kv_dtype = cache.dtype();
  const auto element_bytes = static_cast<int64_t>(dtype_size_bytes(kv_dtype));
  // The KV head's columns of a cached row.
  const auto cached_row = [element_bytes](const void* row, int64_t offset) {
    return static_cast<const std::byte*>(row) + offset * element_bytes;
  };
  // Waking a second thread costs more than a few short heads (decode steps of short sequences), so
  // KV heads are split across threads only when each share holds enough multiply-adds. A KV head's
  // query heads go together: its cached rows are read once for all of them.
  int64_t multiply_adds = 0;
  for (int64_t r = 0; r < n; ++r) multiply_adds += 2 * (int64_t{rows.positions[static_cast<size_t>(r)]} + 1) * q_dim;
  constexpr int64_t kMinMultiplyAddsPerThread = int64_t{1} << 17;
  const int64_t items = n * config_.n_kv_heads;
  const int64_t min_items = std::max<int64_t>(1, kMinMultiplyAddsPerThread * items / std::max<int64_t>(1, multiply_adds));
  parallel_for(items, min_items, [&](int64_t begin, int64_t end) {
    std::vector<float> scores;  // [group, length]
    for (int64_t item = begin; item < end; ++item) {
      const int64_t r = item / config_.n_kv_heads;
      const int64_t kv_head = item % config_.n_kv_heads;
      const int32_t position = rows.positions[static_cast<size_t>(r)];
      const int32_t first = sliding_window_ > 0 ? std::max(0, position - sliding_window_ + 1) : 0;
      const int32_t slot = rows.slots[static_cast<size_t>(r)];
      const int64_t kv_offset = kv_head * hd;
      const int64_t length = position - first + 1;
      const float* queries = q.data() + (r * config_.n_heads + kv_head * group) * hd;
      scores.resize(static_cast<size_t>(group * length));
      // Positions in one KV block are consecutive rows kv_dim elements apart: one kernel call per run.
      const auto for_each_run = [&](auto&& body) {
        for (int32_t t = first; t <= position;) {
          const int32_t run = std::min(position + 1 - t, block_size - t % block_size);
          body(t, run);
          t += run;
        }
      };
      for_each_run([&](int32_t t, int32_t run) {
        ops::attention_scores(queries, group, cached_row(cache.key(slot, layer_, t), kv_offset), kv_dtype, kv_dim, run,
                              hd, scale, scores.data() + (t - first), length);
      });
      for (int64_t j = 0; j < group; ++j) {
        const auto head_scores = std::span(scores).subspan(static_cast<size_t>(j * length), static_cast<size_t>(length));
        const float max_score = *std::max_element(head_scores.begin(), head_scores.end());
        float total = 0.0f;
        for (float& s : head_scores) {
          s = std::exp(s - max_score);
          total += s;
        }
        for (float& s : head_scores) s /= total;
      }
      float* dst = context.data() + (r * config_.n_heads + kv_head * group) * hd;
      std::fill_n(dst, group * hd, 0.0f);
      for_each_run([&](int32_t t, int32_t run) {
        ops::attention_values(scores.data() + (t - first), length, group, cached_row(cache.value(slot, layer_, t), kv_offset),
                              kv_dtype, kv_dim, run, hd, dst);
      });
    }
  });
  ops::matmul(context.data(), n, weights_.o, out);
}

}  // namespace elephant::layers
