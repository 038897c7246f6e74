// Element-wise kernels: one thread per element (grid-stride), memory-bound and trivially correct;
// none of them is on the weight-bytes critical path of a decode step.
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/cuda/device.h"
#include "kernels/cuda/matrix_load.cuh"
#include "kernels/cuda/model_kernels.h"

namespace elephant::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;

unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks));
}

#define ELEPHANT_GRID_STRIDE(i, n) \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <DeviceFormat F>
__global__ void embed_kernel(MatrixView embedding, const int32_t* tokens, int64_t n, float* out) {
  ELEPHANT_GRID_STRIDE(i, n) {
    const int64_t row = i / embedding.cols;
    const int col = static_cast<int>(i % embedding.cols);
    out[i] = value_at<F>(embedding, tokens[row], col);
  }
}

__global__ void add_kernel(float* x, const float* y, int64_t n) {
  ELEPHANT_GRID_STRIDE(i, n) x[i] += y[i];
}

__global__ void bias_kernel(float* x, const float* bias, int64_t n, int64_t width) {
  ELEPHANT_GRID_STRIDE(i, n) x[i] += bias[i % width];
}

__global__ void clamp_kernel(float* x, int64_t n, float limit) {
  ELEPHANT_GRID_STRIDE(i, n) x[i] = fminf(fmaxf(x[i], -limit), limit);
}

__global__ void store_kv_kernel(const float* rows, const int32_t* slots, const int32_t* positions, int64_t n,
                                int n_kv_heads, int head_dim, int max_length, float* cache) {
  const int64_t width = static_cast<int64_t>(n_kv_heads) * head_dim;
  ELEPHANT_GRID_STRIDE(i, n) {
    const int64_t row = i / width;
    const int head = static_cast<int>((i % width) / head_dim);
    const int d = static_cast<int>(i % head_dim);
    const int64_t entry = static_cast<int64_t>(slots[row]) * n_kv_heads + head;
    cache[(entry * max_length + positions[row]) * head_dim + d] = rows[i];
  }
}

__global__ void gather_kernel(const float* x, const int32_t* indices, int64_t n, int64_t width, float* out) {
  ELEPHANT_GRID_STRIDE(i, n) out[i] = x[static_cast<int64_t>(indices[i / width]) * width + i % width];
}

__global__ void gated_add_kernel(float* x, const float* y, const float* gate_logit, int64_t n, int64_t width) {
  ELEPHANT_GRID_STRIDE(i, n) {
    const float gate = gate_logit != nullptr ? 1.0f / (1.0f + expf(-gate_logit[i / width])) : 1.0f;
    x[i] += gate * y[i];
  }
}

#undef ELEPHANT_GRID_STRIDE

}  // namespace

void embed_rows(const MatrixView& embedding, DeviceFormat format, const int32_t* tokens, int64_t n_rows, float* out,
                cudaStream_t stream) {
  const int64_t n = n_rows * embedding.cols;
  if (n == 0) return;
  ELEPHANT_CUDA_REQUIRE(format == DeviceFormat::kF32 || format == DeviceFormat::kF16 || format == DeviceFormat::kBF16,
                        "embed_rows: a dense F32/F16/BF16 embedding");
  dispatch_format(format, [&](auto tag) {
    embed_kernel<decltype(tag)::value><<<blocks_for(n), kThreads, 0, stream>>>(embedding, tokens, n, out);
  });
  ELEPHANT_CUDA_CHECK_LAUNCH("embed_kernel");
}

void add_in_place(float* x, const float* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  add_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, y, n);
  ELEPHANT_CUDA_CHECK_LAUNCH("add_kernel");
}

void add_bias(float* x, const float* bias, int64_t n_rows, int64_t width, cudaStream_t stream) {
  const int64_t n = n_rows * width;
  if (n == 0) return;
  bias_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, bias, n, width);
  ELEPHANT_CUDA_CHECK_LAUNCH("bias_kernel");
}

void clamp_in_place(float* x, int64_t n, float limit, cudaStream_t stream) {
  if (n == 0) return;
  clamp_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, n, limit);
  ELEPHANT_CUDA_CHECK_LAUNCH("clamp_kernel");
}

void store_kv(const float* rows, const int32_t* slots, const int32_t* positions, int64_t n_rows, int n_kv_heads,
              int head_dim, int max_length, float* cache, cudaStream_t stream) {
  const int64_t n = n_rows * n_kv_heads * head_dim;
  if (n == 0) return;
  store_kv_kernel<<<blocks_for(n), kThreads, 0, stream>>>(rows, slots, positions, n, n_kv_heads, head_dim, max_length,
                                                          cache);
  ELEPHANT_CUDA_CHECK_LAUNCH("store_kv_kernel");
}

void gather_rows(const float* x, const int32_t* indices, int64_t n_out, int64_t width, float* out, cudaStream_t stream) {
  const int64_t n = n_out * width;
  if (n == 0) return;
  gather_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, indices, n, width, out);
  ELEPHANT_CUDA_CHECK_LAUNCH("gather_kernel");
}

void add_gated_rows(float* x, const float* y, const float* gate_logit, int64_t n_rows, int64_t width,
                    cudaStream_t stream) {
  const int64_t n = n_rows * width;
  if (n == 0) return;
  gated_add_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, y, gate_logit, n, width);
  ELEPHANT_CUDA_CHECK_LAUNCH("gated_add_kernel");
}

}  // namespace elephant::cuda
