#include "layers/moe/seq2seq_moe.h"

#include <algorithm>
#include <utility>

#include "layers/moe/permute.h"
#include "layers/moe/router.h"

namespace elephant::layers {

Seq2SeqMoeLayer::Seq2SeqMoeLayer(const config::Seq2SeqConfig& config, ops::WeightMatrix router,
                                 std::vector<float> router_bias, std::vector<ReluFfnWeights> experts)
    : config_(config),
      router_(router),
      router_bias_(std::move(router_bias)),
      experts_(std::move(experts)),
      expert_rows_(experts_.size(), 0) {}

void Seq2SeqMoeLayer::forward(const float* x, int64_t n_rows, std::span<const int32_t> segments, float* out) {
  const int64_t hidden = config_.d_model;
  const int n_experts = config_.n_experts;
  std::vector<float> logits(static_cast<size_t>(n_rows * n_experts));
  ops::matmul(x, n_rows, router_, logits.data(), router_bias_);
  const Routing routing = config_.routing == config::Seq2SeqRouting::kTop1Capacity
                              ? route_top1_capacity(logits.data(), n_rows, n_experts, segments, config_.expert_capacity)
                              : route_top2_gshard(logits.data(), n_rows, n_experts);
  const int top_k = routing.top_k;
  // Dropped assignments carry expert id n_experts: an extra group that is never run.
  const ExpertGroups groups = moe_permute(routing, n_experts + 1);
  dropped_rows_ += static_cast<uint64_t>(groups.count(n_experts));

  const auto n_assignments = static_cast<int64_t>(groups.assignments.size());
  permuted_x_.resize(static_cast<size_t>(n_assignments * hidden));
  permuted_y_.assign(static_cast<size_t>(n_assignments * hidden), 0.0f);
  for (int64_t p = 0; p < n_assignments; ++p) {
    const int64_t row = groups.assignments[static_cast<size_t>(p)] / top_k;
    std::copy_n(x + row * hidden, hidden, permuted_x_.data() + p * hidden);
  }
  for (int e = 0; e < n_experts; ++e) {
    const int64_t count = groups.count(e);
    if (count == 0) continue;
    expert_rows_[static_cast<size_t>(e)] += static_cast<uint64_t>(count);
    const int64_t begin = groups.offsets[static_cast<size_t>(e)];
    relu_ffn_forward(experts_[static_cast<size_t>(e)], permuted_x_.data() + begin * hidden, count,
                     permuted_y_.data() + begin * hidden, scratch_);
  }

  moe_unpermute(routing, groups, permuted_y_.data(), hidden, config_.expert_output_scale, n_experts, out);
}

}  // namespace elephant::layers
