// Finalize: grid (rows, ⌈hidden / 512⌉), 128 threads per block, 4 elements of one row per thread:
// one 16-byte load per expert output when hidden and the pointers allow it, else 4 single columns
// 128 apart. Splitting each row over blocks is what lets a decode batch of a few rows use more than
// a few SMs. Each element sums its row's k expert outputs (un-permuted through position_of) in
// increasing expert id, the CPU moe_unpermute's order, so the result does not depend on which slot
// an assignment landed in, then adds the residual: the same fp32 operations in the same order on
// both paths. One pass over y, no atomics: deterministic.
#include <cuda_runtime.h>

#include "kernels/cuda/device.h"
#include "kernels/cuda/moe_kernels.h"

namespace elephant::cuda {

namespace {

constexpr int kFinalizeThreads = 128;
constexpr int kElementsPerThread = 4;
constexpr int kElementsPerBlock = kFinalizeThreads * kElementsPerThread;

// residual may alias out (an in-place residual add), so neither goes through the read-only cache;
// each element is read and written by the same thread.
template <bool kVector>
__global__ void __launch_bounds__(kFinalizeThreads)
    moe_finalize_kernel(const int32_t* experts, const float* weights, const int32_t* position_of, int top_k,
                        int n_experts, const float* y, int64_t hidden, float scale, const float* residual, float* out) {
  const int64_t row = blockIdx.x;
  const int64_t block_first = static_cast<int64_t>(blockIdx.y) * kElementsPerBlock;
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
  const float* y_rows[kMaxTopK];
  float expert_weights[kMaxTopK];
#pragma unroll
  for (int i = 0; i < kMaxTopK; ++i) {
    if (i >= n_used) break;
    const int64_t assignment = row * top_k + order[i];
    y_rows[i] = y + static_cast<int64_t>(position_of[assignment]) * hidden;
    expert_weights[i] = weights[assignment];
  }
  float* out_row = out + row * hidden;
  const float* residual_row = residual != nullptr ? residual + row * hidden : nullptr;
  if constexpr (kVector) {
    const int64_t h = block_first + static_cast<int64_t>(threadIdx.x) * kElementsPerThread;
    if (h >= hidden) return;
    float4 sum = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
    for (int i = 0; i < kMaxTopK; ++i) {
      if (i >= n_used) break;
      const float4 v = __ldg(reinterpret_cast<const float4*>(y_rows[i] + h));
      sum.x += v.x * scale * expert_weights[i];
      sum.y += v.y * scale * expert_weights[i];
      sum.z += v.z * scale * expert_weights[i];
      sum.w += v.w * scale * expert_weights[i];
    }
    if (residual_row != nullptr) {
      const float4 r = *reinterpret_cast<const float4*>(residual_row + h);
      sum = make_float4(r.x + sum.x, r.y + sum.y, r.z + sum.z, r.w + sum.w);
    }
    *reinterpret_cast<float4*>(out_row + h) = sum;
  } else {
#pragma unroll
    for (int c = 0; c < kElementsPerThread; ++c) {
      const int64_t h = block_first + c * kFinalizeThreads + threadIdx.x;
      if (h >= hidden) break;
      float sum = 0.0f;
#pragma unroll
      for (int i = 0; i < kMaxTopK; ++i) {
        if (i >= n_used) break;
        sum += __ldg(y_rows[i] + h) * scale * expert_weights[i];
      }
      out_row[h] = residual_row != nullptr ? residual_row[h] + sum : sum;
    }
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

void launch_moe_finalize(const int32_t* experts, const float* weights, const int32_t* position_of, int64_t n_rows,
                         int top_k, int n_experts, const float* y, int64_t hidden, float scale, const float* residual,
                         float* out, cudaStream_t stream) {
  ELEPHANT_CUDA_REQUIRE(top_k >= 1 && top_k <= kMaxTopK, "finalize: 1 <= top_k <= kMaxTopK");
  if (n_rows == 0 || hidden == 0) return;
  const int64_t blocks_per_row = (hidden + kElementsPerBlock - 1) / kElementsPerBlock;
  ELEPHANT_CUDA_REQUIRE(blocks_per_row <= 65535, "finalize: hidden fits the grid's y dimension");
  // Row starts stay 16-byte aligned only when hidden is a multiple of 4 floats.
  const bool vector = hidden % 4 == 0 && aligned16(y) && aligned16(out) && (residual == nullptr || aligned16(residual));
  const dim3 grid(static_cast<unsigned>(n_rows), static_cast<unsigned>(blocks_per_row));
  const auto kernel = vector ? moe_finalize_kernel<true> : moe_finalize_kernel<false>;
  kernel<<<grid, kFinalizeThreads, 0, stream>>>(experts, weights, position_of, top_k, n_experts, y, hidden, scale,
                                                residual, out);
  ELEPHANT_CUDA_CHECK_LAUNCH("moe_finalize_kernel");
}

}  // namespace elephant::cuda
