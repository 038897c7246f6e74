#include "kernels/cuda/norm.h"

#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/cuda/device.h"
#include "kernels/cuda/warp.cuh"

namespace elephant::cuda {
namespace {


constexpr int kMaxThreads = 512;
// Enough elements per thread that the loads of one thread overlap; fewer threads per row would
// leave a wide row waiting on a few warps.
constexpr int64_t kElementsPerThread = 8;

__device__ float block_sum(float value) {
  __shared__ float warp_sums[kWarp];
  value = warp_sum(value);
  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (lane == 0) warp_sums[warp] = value;
  __syncthreads();
  const int n_warps = blockDim.x / kWarp;
  if (warp == 0) {
    value = lane < n_warps ? warp_sums[lane] : 0.0f;
    value = warp_sum(value);
    if (lane == 0) warp_sums[0] = value;
  }
  __syncthreads();
  return warp_sums[0];
}

// One block per row. No __restrict__: out may alias x, which is safe because every thread writes
// only the elements it reads, after the block-wide reduction has read them all.
__global__ void rms_norm_kernel(const float* x, const float* weight, float* out, int64_t dim, float eps) {
  const float* row = x + static_cast<int64_t>(blockIdx.x) * dim;
  float* dst = out + static_cast<int64_t>(blockIdx.x) * dim;
  float sum_squares = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) sum_squares += row[i] * row[i];
  sum_squares = block_sum(sum_squares);
  const float scale = 1.0f / sqrtf(sum_squares / static_cast<float>(dim) + eps);
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) dst[i] = row[i] * scale * weight[i];
}

}  // namespace

void rms_norm(const float* x, const float* weight, float* out, int64_t n_rows, int64_t dim, float eps,
              cudaStream_t stream) {
  if (n_rows <= 0 || dim <= 0) return;
  ELEPHANT_CUDA_REQUIRE(n_rows <= 0x7fffffff, "rms_norm: n_rows fits grid.x (one block per row)");
  const int64_t wanted = (dim + kElementsPerThread - 1) / kElementsPerThread;
  const int threads = static_cast<int>(std::clamp<int64_t>((wanted + kWarp - 1) / kWarp * kWarp, kWarp, kMaxThreads));
  rms_norm_kernel<<<static_cast<unsigned>(n_rows), threads, 0, stream>>>(x, weight, out, dim, eps);
  ELEPHANT_CUDA_CHECK_LAUNCH("rms_norm_kernel");
}

}  // namespace elephant::cuda
