#include "layers/moe/permute.h"

#include <algorithm>

namespace elephant::layers {

ExpertGroups moe_permute(const Routing& routing, int n_experts) {
  ExpertGroups groups;
  const auto n_assignments = static_cast<int64_t>(routing.experts.size());
  groups.offsets.assign(static_cast<size_t>(n_experts) + 1, 0);
  for (int32_t expert : routing.experts) ++groups.offsets[static_cast<size_t>(expert) + 1];
  for (int e = 0; e < n_experts; ++e) groups.offsets[static_cast<size_t>(e) + 1] += groups.offsets[static_cast<size_t>(e)];
  groups.assignments.resize(static_cast<size_t>(n_assignments));
  groups.position_of.resize(static_cast<size_t>(n_assignments));
  std::vector<int64_t> cursor(groups.offsets.begin(), groups.offsets.end() - 1);
  for (int64_t a = 0; a < n_assignments; ++a) {
    const int64_t position = cursor[static_cast<size_t>(routing.experts[static_cast<size_t>(a)])]++;
    groups.assignments[static_cast<size_t>(position)] = a;
    groups.position_of[static_cast<size_t>(a)] = position;
  }
  return groups;
}

void moe_unpermute(const Routing& routing, const ExpertGroups& groups, const float* permuted_y, int64_t hidden,
                   float scale, int32_t skip_expert, float* out) {
  const int top_k = routing.top_k;
  const auto n_rows = static_cast<int64_t>(routing.experts.size()) / top_k;
  std::vector<int> slot_order(static_cast<size_t>(top_k));
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int j = 0; j < top_k; ++j) slot_order[static_cast<size_t>(j)] = j;
    const int32_t* row_experts = routing.experts.data() + r * top_k;
    std::sort(slot_order.begin(), slot_order.end(), [&](int a, int b) { return row_experts[a] < row_experts[b]; });
    float* dst = out + r * hidden;
    std::fill_n(dst, hidden, 0.0f);
    for (int j : slot_order) {
      if (row_experts[j] == skip_expert) continue;
      const int64_t assignment = r * top_k + j;
      const float weight = routing.weights[static_cast<size_t>(assignment)];
      const float* y = permuted_y + groups.position_of[static_cast<size_t>(assignment)] * hidden;
      for (int64_t i = 0; i < hidden; ++i) dst[i] += y[i] * scale * weight;
    }
  }
}

}  // namespace elephant::layers
