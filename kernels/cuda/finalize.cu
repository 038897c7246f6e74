// Finalize: one block per token row sums its k expert outputs (un-permuted through position_of)
// in increasing expert id, the CPU moe_unpermute's order, so the result does not depend on which
// slot an assignment landed in, and adds the residual. One pass over y, no atomics: deterministic.
#include <cuda_runtime.h>

#include "kernels/cuda/device.h"
#include "kernels/cuda/moe_kernels.h"

namespace elephant::cuda {

namespace {

constexpr int kFinalizeThreads = 256;

__global__ void moe_finalize_kernel(const int32_t* experts, const float* weights, const int32_t* position_of,
                                    int top_k, int n_experts, const float* y, int64_t hidden, float scale,
                                    const float* residual, float* out) {
  const int64_t row = blockIdx.x;
  int order[kMaxTopK];
  int n_used = 0;
  for (int j = 0; j < top_k; ++j) {
    const int32_t expert = experts[row * top_k + j];
    if (expert >= n_experts) continue;
    int at = n_used++;
    while (at > 0 && experts[row * top_k + order[at - 1]] > expert) {
      order[at] = order[at - 1];
      --at;
    }
    order[at] = j;
  }
  float* out_row = out + row * hidden;
  const float* residual_row = residual != nullptr ? residual + row * hidden : nullptr;
  for (int64_t h = threadIdx.x; h < hidden; h += blockDim.x) {
    float sum = 0.0f;
    for (int i = 0; i < n_used; ++i) {
      const int64_t assignment = row * top_k + order[i];
      sum += y[static_cast<int64_t>(position_of[assignment]) * hidden + h] * scale * weights[assignment];
    }
    out_row[h] = residual_row != nullptr ? residual_row[h] + sum : sum;
  }
}

}  // namespace

void launch_moe_finalize(const int32_t* experts, const float* weights, const int32_t* position_of, int64_t n_rows,
                         int top_k, int n_experts, const float* y, int64_t hidden, float scale, const float* residual,
                         float* out, cudaStream_t stream) {
  ELEPHANT_CUDA_REQUIRE(top_k >= 1 && top_k <= kMaxTopK, "finalize: 1 <= top_k <= kMaxTopK");
  if (n_rows == 0) return;
  moe_finalize_kernel<<<static_cast<unsigned>(n_rows), kFinalizeThreads, 0, stream>>>(
      experts, weights, position_of, top_k, n_experts, y, hidden, scale, residual, out);
  ELEPHANT_CUDA_CHECK_LAUNCH("moe_finalize_kernel");
}

}  // namespace elephant::cuda
