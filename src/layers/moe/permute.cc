#include "layers/moe/permute.h"

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

}  // namespace elephant::layers
