#pragma once

#include "kernels/kernels.h"

namespace elephant::kernels::ref {

void matmul(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride, int64_t row_begin,
            int64_t row_end);

}  // namespace elephant::kernels::ref
