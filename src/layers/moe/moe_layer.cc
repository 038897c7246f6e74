#include "layers/moe/moe_layer.h"

#include <algorithm>
#include <cmath>

#include "layers/moe/permute.h"
#include "layers/moe/router.h"

namespace elephant::layers {

MoeLayer::MoeLayer(const config::ModelConfig& config, int layer, ops::WeightMatrix router, ExpertStore& experts,
                   std::optional<SharedExpert> shared)
    : config_(config), layer_(layer), router_(router), experts_(experts), shared_(std::move(shared)) {}

std::vector<int> MoeLayer::predict_experts(const float* x, int64_t n_rows) const {
  const int n_experts = config_.moe.n_experts;
  std::vector<float> logits(static_cast<size_t>(n_rows * n_experts));
  ops::matmul(x, n_rows, router_, logits.data());
  const Routing routing = route_softmax_top_k(logits.data(), n_rows, n_experts, config_.moe.top_k, config_.moe.router);
  std::vector<uint8_t> chosen(static_cast<size_t>(n_experts), 0);
  for (int32_t expert : routing.experts) chosen[static_cast<size_t>(expert)] = 1;
  std::vector<int> experts;
  for (int e = 0; e < n_experts; ++e) {
    if (chosen[static_cast<size_t>(e)]) experts.push_back(e);
  }
  return experts;
}

void MoeLayer::forward(const float* x, int64_t n_rows, float* out, const std::function<void()>& after_routing) {
  const int64_t hidden = config_.hidden_size;
  const int n_experts = config_.moe.n_experts;
  const int top_k = config_.moe.top_k;

  std::vector<float> logits(static_cast<size_t>(n_rows * n_experts));  // [n_rows, E]
  ops::matmul(x, n_rows, router_, logits.data());
  const Routing routing = route_softmax_top_k(logits.data(), n_rows, n_experts, top_k, config_.moe.router);
  const ExpertGroups groups = moe_permute(routing, n_experts);

  std::vector<int> active;
  for (int e = 0; e < n_experts; ++e) {
    if (groups.count(e) > 0) active.push_back(e);
  }
  experts_.will_use(layer_, active);
  if (after_routing) after_routing();

  const auto n_assignments = static_cast<int64_t>(groups.assignments.size());
  permuted_x_.resize(static_cast<size_t>(n_assignments * hidden));
  permuted_y_.resize(static_cast<size_t>(n_assignments * hidden));
  for (int64_t p = 0; p < n_assignments; ++p) {
    const int64_t row = groups.assignments[static_cast<size_t>(p)] / top_k;
    std::copy_n(x + row * hidden, hidden, permuted_x_.data() + p * hidden);
  }
  // The active experts (and, with the first of them, the shared expert) run together, as many at a
  // time as the store keeps usable: one parallel pass over all their gate/up matrices, one over
  // their down matrices. Every row has top_k experts, so rows leave `active` non-empty.
  if (shared_) shared_out_.resize(static_cast<size_t>(n_rows * hidden));
  const size_t together = static_cast<size_t>(std::max(1, experts_.experts_usable_together()));
  for (size_t first = 0; first < active.size(); first += together) {
    tasks_.clear();
    for (size_t a = first; a < std::min(active.size(), first + together); ++a) {
      const int e = active[a];
      const int64_t begin = groups.offsets[static_cast<size_t>(e)];
      tasks_.push_back({&experts_.acquire(layer_, e), permuted_x_.data() + begin * hidden, groups.count(e),
                        permuted_y_.data() + begin * hidden});
    }
    if (first == 0 && shared_) tasks_.push_back({&shared_->mlp, x, n_rows, shared_out_.data()});
    swiglu_forward_group(tasks_, scratch_);
  }

  moe_unpermute(routing, groups, permuted_y_.data(), hidden, 1.0f, -1, out);

  if (shared_) {
    std::vector<float> gate(static_cast<size_t>(n_rows), 1.0f);
    if (shared_->gate) {
      ops::matmul(x, n_rows, *shared_->gate, gate.data());
      for (float& g : gate) g = 1.0f / (1.0f + std::exp(-g));
    }
    for (int64_t r = 0; r < n_rows; ++r) {
      for (int64_t i = 0; i < hidden; ++i) out[r * hidden + i] += gate[static_cast<size_t>(r)] * shared_out_[static_cast<size_t>(r * hidden + i)];
    }
  }
}

}  // namespace elephant::layers
