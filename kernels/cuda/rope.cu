#include "kernels/cuda/rope.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "kernels/cuda/device.h"
#include "kernels/cuda/warp.cuh"

namespace elephant::cuda {
namespace {

constexpr int kMaxThreads = 256;

// Passed by value as a kernel parameter (1 KiB, well under the 4 KiB limit), so a launch needs no
// upload and no table that outlives it.
struct InverseFrequencies {
  float values[kMaxRopeHeadDim / 2];
};


// One block per row: the row's half-dim cosines and sines are computed once into shared memory and
// serve every head. The products are rounded separately (no FMA contraction), as on the CPU.
__global__ void rope_kernel(float* x, int n_heads, int half, const int32_t* positions, InverseFrequencies inverse) {
  __shared__ float cosines[kMaxRopeHeadDim / 2];
  __shared__ float sines[kMaxRopeHeadDim / 2];
  const int64_t row = blockIdx.x;
  const float position = static_cast<float>(positions[row]);
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    const float angle = __fmul_rn(position, inverse.values[i]);
    sincosf(angle, &sines[i], &cosines[i]);
  }
  __syncthreads();
  const int head_dim = 2 * half;
  float* base = x + row * n_heads * head_dim;
  for (int pair = threadIdx.x; pair < n_heads * half; pair += blockDim.x) {
    const int h = pair / half;
    const int i = pair % half;
    float* head = base + h * head_dim;
    const float a = head[i];
    const float b = head[i + half];
    head[i] = __fsub_rn(__fmul_rn(a, cosines[i]), __fmul_rn(b, sines[i]));
    head[i + half] = __fadd_rn(__fmul_rn(b, cosines[i]), __fmul_rn(a, sines[i]));
  }
}

}  // namespace

std::vector<float> rope_inverse_frequencies(int64_t head_dim, float theta) {
  const int64_t half = head_dim / 2;
  std::vector<float> inverse_frequency(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    inverse_frequency[static_cast<size_t>(i)] =
        1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
  }
  return inverse_frequency;
}

void rope(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, const int32_t* positions, float theta,
          cudaStream_t stream) {
  ELEPHANT_CUDA_REQUIRE(head_dim > 0 && head_dim % 2 == 0 && head_dim <= kMaxRopeHeadDim,
          "rope: head_dim even, positive and at most kMaxRopeHeadDim");
  ELEPHANT_CUDA_REQUIRE(n_rows >= 0 && n_rows <= 0x7fffffff && n_heads >= 0 && n_heads * head_dim <= 0x7fffffff,
          "rope: one row (n_heads * head_dim) and the row count fit in int");
  if (n_rows == 0 || n_heads == 0) return;
  InverseFrequencies inverse{};
  const std::vector<float> values = rope_inverse_frequencies(head_dim, theta);
  std::copy(values.begin(), values.end(), inverse.values);
  const int64_t pairs = n_heads * head_dim / 2;
  const int threads = static_cast<int>(std::min<int64_t>((pairs + kWarp - 1) / kWarp * kWarp, kMaxThreads));
  rope_kernel<<<static_cast<unsigned>(n_rows), threads, 0, stream>>>(x, static_cast<int>(n_heads),
                                                                      static_cast<int>(head_dim / 2), positions, inverse);
  ELEPHANT_CUDA_CHECK_LAUNCH("rope_kernel");
}

}  // namespace elephant::cuda
