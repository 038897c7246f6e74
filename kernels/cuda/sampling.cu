#include "kernels/cuda/sampling.h"

#include <cuda_runtime.h>

#include <cmath>

#include "kernels/cuda/device.h"
#include "kernels/cuda/warp.cuh"

namespace elephant::cuda {
namespace {

// A vocabulary row is hundreds of KiB and one block reads it: many loads in flight per row.
constexpr int kThreads = 1024;
constexpr int32_t kNoId = 0x7fffffff;


struct Candidate {
  float value;
  int32_t id;
};

// A NaN value never wins (both comparisons are false), so NaNs drop out as in std::max_element.
__device__ bool better(Candidate a, Candidate b) { return a.value > b.value || (a.value == b.value && a.id < b.id); }

__device__ Candidate warp_best(Candidate c) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    const Candidate other{__shfl_xor_sync(0xffffffffu, c.value, offset), __shfl_xor_sync(0xffffffffu, c.id, offset)};
    if (better(other, c)) c = other;
  }
  return c;
}

// One block per row.
__global__ void argmax_kernel(const float* logits, int64_t vocab, int32_t* out) {
  __shared__ Candidate warp_bests[kWarp];
  const float* row = logits + static_cast<int64_t>(blockIdx.x) * vocab;
  Candidate best{-INFINITY, kNoId};
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const Candidate c{row[i], static_cast<int32_t>(i)};
    if (better(c, best)) best = c;
  }
  best = warp_best(best);
  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (lane == 0) warp_bests[warp] = best;
  __syncthreads();
  if (warp != 0) return;
  best = lane < static_cast<int>(blockDim.x / kWarp) ? warp_bests[lane] : Candidate{-INFINITY, kNoId};
  best = warp_best(best);
  // std::max_element keeps its first element while every comparison with it is false.
  if (lane == 0) out[blockIdx.x] = isnan(row[0]) ? 0 : best.id;
}

}  // namespace

void argmax(const float* logits, int64_t n_rows, int64_t vocab, int32_t* out, cudaStream_t stream) {
  ELEPHANT_CUDA_REQUIRE(vocab > 0 && vocab <= kNoId, "argmax: vocab in (0, 2^31 - 1)");
  ELEPHANT_CUDA_REQUIRE(n_rows >= 0 && n_rows <= 0x7fffffff, "argmax: n_rows fits grid.x (one block per row)");
  if (n_rows == 0) return;
  argmax_kernel<<<static_cast<unsigned>(n_rows), kThreads, 0, stream>>>(logits, vocab, out);
  ELEPHANT_CUDA_CHECK_LAUNCH("argmax_kernel");
}

}  // namespace elephant::cuda
