// The device-neutral op API that layers call. Ops check shapes, split work across threads and
// dispatch to the kernel table chosen once per process (kernels/kernels.h). Activations are fp32,
// row-major [rows, features].
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "kernels/kernels.h"

namespace elephant::ops {

using kernels::WeightMatrix;

// The kernel table in use: the best the CPU has unless select_kernels() chose another.
const kernels::KernelTable& active_kernels();
// "reference", "avx2", "avx512" or "auto"; an unknown or unavailable name is an Error listing the choices.
void select_kernels(std::string_view name);

// The activation strategy quantized matmuls of this format use (kernels.h Activations). Fixed per
// format, never per call, so a row's result does not depend on the batch it is in; chosen from
// the measurements in docs/performance.md.
kernels::Activations quantized_activations(kernels::WeightFormat format);

// y[n_rows, w.rows] = x[n_rows, w.cols] · wᵀ (+ bias[w.rows] when bias is not empty), for every
// WeightFormat (quantized weights are dequantized inside the kernel).
void matmul(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, std::span<const float> bias = {});

// Output rows per range that matmul hands to a thread at a time (threads take ranges as they
// become free).
int64_t matmul_range_rows(const WeightMatrix& w, int64_t n_rows);

// out[n_rows, gate.rows] = silu(x · gateᵀ) * (x · upᵀ): the gated half of a SwiGLU block in one
// parallel pass, each range of outputs computing both products and combining them while they are
// in cache. up_scratch holds n_rows × up.rows floats. Bit for bit the two matmuls followed by silu(g) * u.
void silu_gated_matmul(const float* x, int64_t n_rows, const WeightMatrix& gate, const WeightMatrix& up, float* out,
                       float* up_scratch);

// Several independent products run as one parallel pass: the ranges of all of them go to the
// threads in order, so many small matrices (the active experts of a layer: Qwen3-MoE's are 0.75
// MiB in int4) are read as one long stream after one fork, not one fork and one prefetch ramp per
// matrix. Each result is bit for bit what the single call gives (matmul and silu_gated_matmul are
// one-task groups).
struct MatmulTask {
  const float* x;
  int64_t n_rows;
  const WeightMatrix* w;
  float* y;                        // [n_rows, w->rows]
  std::span<const float> bias{};   // [w->rows], added when not empty
};
void matmul_group(std::span<const MatmulTask> tasks);

struct GatedMatmulTask {
  const float* x;
  int64_t n_rows;
  const WeightMatrix* gate;
  const WeightMatrix* up;
  float* out;         // [n_rows, gate->rows]
  float* up_scratch;  // [n_rows, up->rows]
};
void silu_gated_matmul_group(std::span<const GatedMatmulTask> tasks);

// out[r, :] = x[r, :] / sqrt(mean(x[r, :]²) + eps) * weight, over rows of length dim. out may alias x.
void rms_norm(const float* x, int64_t n_rows, int64_t dim, std::span<const float> weight, float eps, float* out);

// out[r, :] = (x[r, :] - mean) / sqrt(var + eps) * weight + bias (biased variance, as torch's
// LayerNorm), over rows of length dim. out may alias x.
void layer_norm(const float* x, int64_t n_rows, int64_t dim, std::span<const float> weight, std::span<const float> bias,
                float eps, float* out);

// Rotary embedding, rotate-half layout (pairs (i, i + head_dim/2)), applied in place to n_heads
// heads of head_dim per row; row r is at position positions[r].
void rope(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, std::span<const int32_t> positions,
          float theta);

// Grouped-query attention over a run of n cached positions `stride` elements apart, stored as
// kv_dtype (kernels.h AttentionScoresFn): scores[j·score_stride + t] = scale · q_j · k_t for the n_queries query heads
// (q: [n_queries, dim]) that share the KV head. Single-threaded: callers split heads across threads.
void attention_scores(const float* q, int64_t n_queries, const void* k, DType kv_dtype, int64_t stride, int64_t n,
                      int64_t dim, float scale, float* scores, int64_t score_stride);
// out[j·dim + i] += Σ_t p[j·p_stride + t] · v_t[i] (kernels.h AttentionValuesFn). Single-threaded.
void attention_values(const float* p, int64_t p_stride, int64_t n_queries, const void* v, DType kv_dtype,
                      int64_t stride, int64_t n, int64_t dim, float* out);

// Softmax over each row of [n_rows, width], in place.
void softmax(float* x, int64_t n_rows, int64_t width);

}  // namespace elephant::ops
