#pragma once

#include "kernels/kernels.h"

namespace elephant::kernels::ref {

void matmul(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride, int64_t row_begin,
            int64_t row_end);

// Quantized weights (quantized_matmul.cc), one function per WeightFormat × Activations.
void matmul_int8_f32(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                     int64_t row_begin, int64_t row_end);
void matmul_int8_int8(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                      int64_t row_begin, int64_t row_end);
void matmul_int4_f32(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                     int64_t row_begin, int64_t row_end);
void matmul_int4_int8(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                      int64_t row_begin, int64_t row_end);

}  // namespace elephant::kernels::ref
