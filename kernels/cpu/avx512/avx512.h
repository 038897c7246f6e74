#pragma once

#include "kernels/kernels.h"

namespace elephant::kernels::avx512 {

// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni (plus the AVX2 set); call only when
// the CPU has them (see kernel_tables.cc).
void matmul(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride, int64_t row_begin,
            int64_t row_end);
// Quantized weights × int8 activations with VNNI dot products (quantized_matmul.cc). The
// fp32-activation quantized variants have no AVX-512 version: the table uses the AVX2 ones.
void matmul_int8_int8(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                      int64_t row_begin, int64_t row_end);
void matmul_int4_int8(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                      int64_t row_begin, int64_t row_end);

}  // namespace elephant::kernels::avx512
