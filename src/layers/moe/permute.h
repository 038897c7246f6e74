// Grouping of a step's (row, k) assignments by expert: a stable counting sort, so every expert's
// rows are contiguous and in increasing row order, and experts that received no row are visible
// as empty ranges (never touched).
#pragma once

#include <cstdint>
#include <vector>

#include "layers/moe/router.h"

namespace elephant::layers {

struct ExpertGroups {
  std::vector<int64_t> offsets;      // [n_experts + 1]: expert e owns assignments [offsets[e], offsets[e+1])
  std::vector<int64_t> assignments;  // [n_rows * top_k]: index r * top_k + j of each grouped assignment
  std::vector<int64_t> position_of;  // [n_rows * top_k]: inverse of assignments

  int64_t count(int expert) const { return offsets[static_cast<size_t>(expert) + 1] - offsets[static_cast<size_t>(expert)]; }
};

ExpertGroups moe_permute(const Routing& routing, int n_experts);

// The inverse: out[r] = Σ_j permuted_y[position of (r, j)] × scale × weight(r, j), summed over the
// row's k experts in increasing expert id (the order of the reference's index_add_). Assignments
// to skip_expert (a capacity-dropped token's sentinel id; -1: none) contribute nothing.
// permuted_y: [n_rows * k, hidden] in grouped order; out: [n_rows, hidden].
void moe_unpermute(const Routing& routing, const ExpertGroups& groups, const float* permuted_y, int64_t hidden,
                   float scale, int32_t skip_expert, float* out);

}  // namespace elephant::layers
