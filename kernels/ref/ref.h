#pragma once

#include "kernels/kernels.h"

namespace elephant::kernels::ref {

void matmul(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride, int64_t row_begin,
            int64_t row_end);
// KernelTable::bf16_activations: as matmul, except that BF16 weights multiply the activations
// rounded to bf16 (f32_to_bf16, round to nearest even).
void matmul_bf16_activations(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                             int64_t row_begin, int64_t row_end);

// Quantized weights (quantized_matmul.cc), one function per WeightFormat × Activations.
void matmul_int8_f32(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                     int64_t row_begin, int64_t row_end);
void matmul_int8_int8(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                      int64_t row_begin, int64_t row_end);
void matmul_int4_f32(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                     int64_t row_begin, int64_t row_end);
void matmul_int4_int8(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                      int64_t row_begin, int64_t row_end);

// Attention over cached positions (attention.cc).
void attention_scores(const float* q, int64_t n_queries, const void* k, DType kv_dtype, int64_t stride, int64_t n,
                      int64_t dim, float scale, float* scores, int64_t score_stride);
void attention_values(const float* p, int64_t p_stride, int64_t n_queries, const void* v, DType kv_dtype,
                      int64_t stride, int64_t n, int64_t dim, float* out);

}  // namespace elephant::kernels::ref
