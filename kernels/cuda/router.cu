// Fused router: one block per row computes the row's n_experts gate logits (one warp per expert at
// a time), then one thread does softmax, top-k and renormalisation in fp32. E ≤ 256 logits fit in
// shared memory and the selection is O(E·k): cheap next to the gate matmul, and a single thread
// keeps the tie rule (lower id wins) and the summation order identical to the CPU reference.
#include <cuda_runtime.h>

#include "kernels/cuda/device.h"
#include "kernels/cuda/matrix_load.cuh"
#include "kernels/cuda/moe_kernels.h"

namespace elephant::cuda {

namespace {

constexpr int kRouterThreads = 128;

template <DeviceFormat F>
__global__ void route_softmax_top_k_kernel(const float* x, MatrixView gate, int top_k, bool renormalize,
                                           const uint8_t* active, int32_t* experts, float* weights) {
  __shared__ float probabilities[kMaxRouterExperts];
  __shared__ bool taken[kMaxRouterExperts];
  const int64_t row = blockIdx.x;
  const int n_experts = gate.rows;
  int32_t* row_experts = experts + row * top_k;
  float* row_weights = weights + row * top_k;
  if (active != nullptr && active[row] == 0) {
    if (threadIdx.x < top_k) {
      row_experts[threadIdx.x] = n_experts;
      row_weights[threadIdx.x] = 0.0f;
    }
    return;
  }
  const float* x_row = x + row * gate.cols;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  for (int e = warp; e < n_experts; e += kRouterThreads / 32) {
    float sum = 0.0f;
    for (int c = lane; c < gate.cols; c += 32) sum += value_at<F>(gate, e, c) * __ldg(x_row + c);
    sum = warp_sum(sum);
    if (lane == 0) probabilities[e] = sum;
  }
  __syncthreads();
  if (threadIdx.x != 0) return;
  float max_logit = probabilities[0];
  for (int e = 1; e < n_experts; ++e) max_logit = fmaxf(max_logit, probabilities[e]);
  float sum = 0.0f;
  for (int e = 0; e < n_experts; ++e) {
    probabilities[e] = expf(probabilities[e] - max_logit);
    sum += probabilities[e];
    taken[e] = false;
  }
  for (int e = 0; e < n_experts; ++e) probabilities[e] /= sum;
  float selected_sum = 0.0f;
  for (int j = 0; j < top_k; ++j) {
    int best = -1;
    for (int e = 0; e < n_experts; ++e) {
      if (!taken[e] && (best < 0 || probabilities[e] > probabilities[best])) best = e;
    }
    taken[best] = true;
    row_experts[j] = best;
    selected_sum += probabilities[best];
  }
  for (int j = 0; j < top_k; ++j) {
    const float p = probabilities[row_experts[j]];
    row_weights[j] = renormalize ? p / selected_sum : p;
  }
}

}  // namespace

void launch_route_softmax_top_k(const float* x, int64_t n_rows, const MatrixView& gate, DeviceFormat gate_format,
                                int top_k, bool renormalize, const uint8_t* active, int32_t* experts, float* weights,
                                cudaStream_t stream) {
  ELEPHANT_CUDA_REQUIRE(gate.rows >= 1 && gate.rows <= kMaxRouterExperts, "route: 1 <= experts <= kMaxRouterExperts");
  ELEPHANT_CUDA_REQUIRE(top_k >= 1 && top_k <= kMaxTopK && top_k <= gate.rows, "route: 1 <= top_k <= min(kMaxTopK, experts)");
  if (n_rows == 0) return;
  dispatch_format(gate_format, [&](auto tag) {
    constexpr DeviceFormat F = decltype(tag)::value;
    route_softmax_top_k_kernel<F><<<static_cast<unsigned>(n_rows), kRouterThreads, 0, stream>>>(
        x, gate, top_k, renormalize, active, experts, weights);
  });
  ELEPHANT_CUDA_CHECK_LAUNCH("route_softmax_top_k_kernel");
}

}  // namespace elephant::cuda
