// Fused router: one block of 256 threads per token row computes the row's n_experts gate logits,
// then one thread does softmax, top-k and renormalisation in fp32.
//
// Logits: the gate is read in 16-byte chunks, thread t taking chunks t, t + 256, ... of every gate
// row, up to 8 experts per pass. Each activation a thread loads then serves all the experts of the
// pass, and the thread issues all its weight loads of a step (8 experts × 2 chunks) before using
// any, so a block keeps 64 KiB of gate reads in flight: a Mixtral gate row set (8 × 4096 bf16) is one
// round trip to memory instead of a chain of dependent loads per warp. Partial dots are summed per
// thread in a fixed column order, per warp by shuffles and across warps in warp order: the logits
// differ from a sequential dot only by fp32 reordering, and are the same bits on every run.
//
// Selection: E ≤ 256 logits fit in shared memory and the selection is O(E·k): cheap next to the
// gate matmul, and a single thread keeps the tie rule (lower id wins) and the summation order
// identical to the CPU reference.
#include <cuda_runtime.h>

#include "kernels/cuda/device.h"
#include "kernels/cuda/matrix_load.cuh"
#include "kernels/cuda/moe_kernels.h"

namespace elephant::cuda {

namespace {

constexpr int kRouterThreads = 256;
constexpr int kRouterWarps = kRouterThreads / kWarp;
// Accumulators per thread; 8 covers Mixtral-style gates in one pass over the activations.
constexpr int kExpertsPerPass = 8;
// 16-byte chunks per expert that a thread loads before using any: with kExpertsPerPass, the loads
// in flight that hide memory latency.
constexpr int kChunksPerThread = 2;
constexpr int kWordsPerChunk = 4;

// Leaves warp w's share of logit e, before int8's row scale, in warp_partials[w][e].
template <DeviceFormat F, bool kVectorX>
__device__ __forceinline__ void gate_partial_dots(const float* x_row, const MatrixView& gate,
                                                  float (*warp_partials)[kMaxRouterExperts]) {
  constexpr int kWordCols = FormatTraits<F>::kWordCols;
  constexpr int kChunkCols = kWordsPerChunk * kWordCols;
  constexpr int kChunksPerStep = kRouterThreads * kChunksPerThread;
  static_assert(kChunkCols <= kRouterThreads, "the tail of a row is one column per thread");
  const int n_experts = gate.rows;
  const int n_chunks = gate.cols / kChunkCols;
  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  for (int first_expert = 0; first_expert < n_experts; first_expert += kExpertsPerPass) {
    const int pass_experts = min(kExpertsPerPass, n_experts - first_expert);
    float partial[kExpertsPerPass] = {};
    for (int step = 0; step < n_chunks; step += kChunksPerStep) {
      // Expert and chunk are clamped rather than tested so that the loads are unconditional and all
      // issue back to back; the loop below skips the duplicates.
      uint4 bits[kExpertsPerPass][kChunksPerThread];
#pragma unroll
      for (int i = 0; i < kExpertsPerPass; ++i) {
        const auto* chunks = reinterpret_cast<const uint4*>(row_words(gate, first_expert + min(i, pass_experts - 1)));
#pragma unroll
        for (int j = 0; j < kChunksPerThread; ++j) {
          bits[i][j] = __ldg(chunks + min(step + j * kRouterThreads + static_cast<int>(threadIdx.x), n_chunks - 1));
        }
      }
#pragma unroll
      for (int j = 0; j < kChunksPerThread; ++j) {
        const int chunk = step + j * kRouterThreads + static_cast<int>(threadIdx.x);
        if (chunk >= n_chunks) break;
        float xv[kChunkCols];
        load_activations<kChunkCols, kVectorX>(x_row + chunk * kChunkCols, xv);
#pragma unroll
        for (int i = 0; i < kExpertsPerPass; ++i) {
          if (i >= pass_experts) break;
          const uint32_t words[kWordsPerChunk] = {bits[i][j].x, bits[i][j].y, bits[i][j].z, bits[i][j].w};
#pragma unroll
          for (int w = 0; w < kWordsPerChunk; ++w) {
            float values[kWordCols];
            word_values<F>(gate, first_expert + i, chunk * kWordsPerChunk + w, words[w], values);
#pragma unroll
            for (int c = 0; c < kWordCols; ++c) partial[i] += values[c] * xv[w * kWordCols + c];
          }
        }
      }
    }
    // Columns past the last whole chunk number fewer than kChunkCols: one thread each.
    const int tail_col = n_chunks * kChunkCols + static_cast<int>(threadIdx.x);
    if (tail_col < gate.cols) {
      const float xv = __ldg(x_row + tail_col);
#pragma unroll
      for (int i = 0; i < kExpertsPerPass; ++i) {
        if (i >= pass_experts) break;
        partial[i] += value_before_row_scale<F>(gate, first_expert + i, tail_col) * xv;
      }
    }
#pragma unroll
    for (int i = 0; i < kExpertsPerPass; ++i) {
      if (i >= pass_experts) break;
      const float warp_total = warp_sum(partial[i]);
      if (lane == 0) warp_partials[warp][first_expert + i] = warp_total;
    }
  }
}

template <DeviceFormat F, bool kVectorX>
__global__ void __launch_bounds__(kRouterThreads)
    route_softmax_top_k_kernel(const float* x, MatrixView gate, int top_k, bool renormalize, const uint8_t* active,
                               int32_t* experts, float* weights) {
  __shared__ float warp_partials[kRouterWarps][kMaxRouterExperts];
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
  gate_partial_dots<F, kVectorX>(x + row * gate.cols, gate, warp_partials);
  __syncthreads();
  for (int e = static_cast<int>(threadIdx.x); e < n_experts; e += kRouterThreads) {
    float logit = 0.0f;
#pragma unroll
    for (int w = 0; w < kRouterWarps; ++w) logit += warp_partials[w][e];
    probabilities[e] = logit * row_scale<F>(gate, e);
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
  // Every chunk's activations start a multiple of 4 columns into a row, so 16-byte loads need only
  // aligned rows.
  const bool vector_x = gate.cols % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
  dispatch_format(gate_format, [&](auto tag) {
    constexpr DeviceFormat F = decltype(tag)::value;
    const auto kernel = vector_x ? route_softmax_top_k_kernel<F, true> : route_softmax_top_k_kernel<F, false>;
    kernel<<<static_cast<unsigned>(n_rows), kRouterThreads, 0, stream>>>(x, gate, top_k, renormalize, active, experts,
                                                                         weights);
  });
  ELEPHANT_CUDA_CHECK_LAUNCH("route_softmax_top_k_kernel");
}

}  // namespace elephant::cuda
