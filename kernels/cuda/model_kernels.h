// The small element-wise steps of a decoder block on the GPU, between the matmuls, norms and
// attention: embedding lookup, residual adds, biases, clipping, K/V cache writes, row selection
// and the gated shared-expert add. All pointers are device pointers; launches are asynchronous.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/matrix_view.h"

namespace elephant::cuda {

// out[r] = embedding[tokens[r]] widened to fp32 (dense F32/F16/BF16 embedding, [vocab, hidden]).
void embed_rows(const MatrixView& embedding, DeviceFormat format, const int32_t* tokens, int64_t n_rows, float* out,
                cudaStream_t stream);

// x[i] += y[i] for i < n.
void add_in_place(float* x, const float* y, int64_t n, cudaStream_t stream);

// x[r, c] += bias[c] (x: [n_rows, width]).
void add_bias(float* x, const float* bias, int64_t n_rows, int64_t width, cudaStream_t stream);

// x[i] = clamp(x[i], -limit, limit).
void clamp_in_place(float* x, int64_t n, float limit, cudaStream_t stream);

// Row r's [n_kv_heads, head_dim] vector goes to cache entry slots[r], position positions[r] of a
// [entries, n_kv_heads, max_length, head_dim] cache (kernels/cuda/attention.h's layout).
void store_kv(const float* rows, const int32_t* slots, const int32_t* positions, int64_t n_rows, int n_kv_heads,
              int head_dim, int max_length, float* cache, cudaStream_t stream);

// out[i] = x[indices[i]] for i < n_out (rows of width).
void gather_rows(const float* x, const int32_t* indices, int64_t n_out, int64_t width, float* out, cudaStream_t stream);

// x[r] += sigmoid(gate_logit[r]) · y[r] (the Qwen2-MoE shared expert), or x[r] += y[r] when
// gate_logit is null.
void add_gated_rows(float* x, const float* y, const float* gate_logit, int64_t n_rows, int64_t width,
                    cudaStream_t stream);

}  // namespace elephant::cuda
