// The MoE step on the GPU, one launcher per stage of DESIGN.md's data flow:
//   route (fused gate matmul + softmax + top-k + renormalisation, with batch pruning)
//   -> permute (stable radix sort of assignments by expert; pruned rows sort past the end)
//   -> expert matmuls (fused dequantization; gate/up fused with SwiGLU) -> finalize.
// All pointers are device pointers; every launcher is asynchronous on `stream`. Semantics mirror
// the CPU reference (layers/moe/router.h, permute.h) so tests compare the two directly.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/matrix_view.h"

namespace elephant::cuda {

inline constexpr int kMaxRouterExperts = 256;
inline constexpr int kMaxTopK = 8;

// Routing rule R1 (route_softmax_top_k): x [n_rows, gate.cols], gate [n_experts, hidden].
// Rows whose active[r] is 0 (finished or paused sequences; active may be null) get expert id
// n_experts and weight 0 for all k: the permute moves them past the last expert and no expert
// matmul reads them. experts/weights: [n_rows, top_k], in descending probability (lower id wins
// ties).
void launch_route_softmax_top_k(const float* x, int64_t n_rows, const MatrixView& gate, DeviceFormat gate_format,
                                int top_k, bool renormalize, const uint8_t* active, int32_t* experts, float* weights,
                                cudaStream_t stream);

// Device scratch for launch_permute with up to n_assignments assignments.
size_t permute_workspace_bytes(int64_t n_assignments, int n_experts);

// Groups assignments a = r * top_k + j by expert, stably (CPU moe_permute):
//   offsets [n_experts + 2]: expert e owns slots [offsets[e], offsets[e+1]); slots from
//            offsets[n_experts] on belong to pruned rows (offsets[n_experts + 1] = n_assignments);
//   slot_assignment [n_assignments]: the assignment in each slot; slot_row = that / top_k;
//   position_of [n_assignments]: the slot of each assignment.
void launch_permute(const int32_t* experts, int64_t n_assignments, int top_k, int n_experts, void* workspace,
                    size_t workspace_bytes, int32_t* offsets, int32_t* slot_assignment, int32_t* slot_row,
                    int32_t* position_of, cudaStream_t stream);

// Grouped expert matmul over the slots of every expert:
//   y[s, o] = Σ_k x[row(s), k] · A_e[o, k]                           (plain)
//   y[s, o] = silu(Σ x·A_e[o]) · (Σ x·B_e[o])                         (swiglu: A = gate, B = up)
// for s in [offsets[e], offsets[e+1]), e < n_experts; row(s) = slot_row[s], or s when slot_row is
// null. a_views/b_views: device arrays [n_experts]; every expert's matrices share `format` and
// shape. y: [slots, y_stride].
struct ExpertMatmul {
  const float* x = nullptr;
  int64_t x_stride = 0;
  const int32_t* slot_row = nullptr;
  const int32_t* offsets = nullptr;
  int n_experts = 0;
  int64_t max_slots = 0;  // upper bound of offsets[n_experts] (sizes the tiled path's grid)
  const MatrixView* a_views = nullptr;
  const MatrixView* b_views = nullptr;  // null: plain
  DeviceFormat format = DeviceFormat::kF32;
  int32_t out_features = 0;  // rows of A (and B)
  int32_t in_features = 0;   // cols of A (and B)
  float* y = nullptr;
  int64_t y_stride = 0;
};

// Small-M path (decode: 1-8 slots per expert): each warp reads a weight row once for up to 8 slots.
void launch_expert_gemv(const ExpertMatmul& m, cudaStream_t stream);
// Tiled path (prefill: many slots per expert): 64 slots × 64 outputs per block, weights dequantized
// into shared memory tile by tile. `tiles` is device scratch of expert_gemm_tile_capacity ints.
int64_t expert_gemm_tile_capacity(int64_t max_slots, int n_experts);
void launch_expert_gemm_tiled(const ExpertMatmul& m, int32_t* tiles, cudaStream_t stream);
// The path for `expected_slots_per_expert`: gemv up to kGemvMaxSlots, tiled above.
inline constexpr int64_t kGemvMaxSlots = 8;

// out[r] = residual[r] (when not null) + Σ_j y[position_of[r·k + j]] · scale · weights[r·k + j],
// summed in increasing expert id as the CPU moe_unpermute; assignments to expert ids ≥ n_experts
// (pruned rows) add nothing. y: [slots, hidden]; out: [n_rows, hidden].
void launch_moe_finalize(const int32_t* experts, const float* weights, const int32_t* position_of, int64_t n_rows,
                         int top_k, int n_experts, const float* y, int64_t hidden, float scale, const float* residual,
                         float* out, cudaStream_t stream);

}  // namespace elephant::cuda
