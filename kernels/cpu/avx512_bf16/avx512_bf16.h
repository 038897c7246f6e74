#pragma once

#include "kernels/kernels.h"

namespace elephant::kernels::avx512_bf16 {

// Compiled with the AVX-512 flags plus -mavx512bf16; call only when the CPU has AVX512_BF16 and
// the avx512 table's instruction sets (kernel_tables.cc). BF16 weights take activations rounded to
// bf16 (ref::matmul_bf16_activations is the specification); F32 and F16 weights go to
// avx512::matmul unchanged.
void matmul(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride, int64_t row_begin,
            int64_t row_end);

}  // namespace elephant::kernels::avx512_bf16
