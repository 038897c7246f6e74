// Reference matmul: the executable specification of MatmulFn. One plain fp32 sum per output in
// increasing k; weights widened with the scalar conversions of core/dtype.h.
#include "kernels/ref/ref.h"

namespace elephant::kernels::ref {
namespace {

float as_is(float value) { return value; }
float rounded_to_bf16(float value) { return bf16_to_f32(f32_to_bf16(value)); }

template <typename Load, typename Activation = float (*)(float)>
void matmul_rows(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride, int64_t row_begin,
                 int64_t row_end, Load load, Activation activation = &as_is) {
  for (int64_t o = row_begin; o < row_end; ++o) {
    for (int64_t i = 0; i < n_rows; ++i) {
      const float* x_row = x + i * w.cols;
      float sum = 0.0f;
      for (int64_t k = 0; k < w.cols; ++k) sum += activation(x_row[k]) * load(o * w.cols + k);
      y[i * y_stride + o] = sum;
    }
  }
}

}  // namespace

void matmul(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride, int64_t row_begin,
            int64_t row_end) {
  switch (w.dtype) {
    case DType::kF32: {
      const auto* data = static_cast<const float*>(w.data);
      matmul_rows(x, n_rows, w, y, y_stride, row_begin, row_end, [data](int64_t index) { return data[index]; });
      break;
    }
    case DType::kBF16: {
      const auto* data = static_cast<const uint16_t*>(w.data);
      matmul_rows(x, n_rows, w, y, y_stride, row_begin, row_end,
                  [data](int64_t index) { return bf16_to_f32(data[index]); });
      break;
    }
    case DType::kF16: {
      const auto* data = static_cast<const uint16_t*>(w.data);
      matmul_rows(x, n_rows, w, y, y_stride, row_begin, row_end,
                  [data](int64_t index) { return f16_to_f32(data[index]); });
      break;
    }
    default:
      break;  // ops::matmul rejects other dtypes before dispatch
  }
}

void matmul_bf16_activations(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                             int64_t row_begin, int64_t row_end) {
  if (w.dtype != DType::kBF16) return matmul(x, n_rows, w, y, y_stride, row_begin, row_end);
  const auto* data = static_cast<const uint16_t*>(w.data);
  matmul_rows(x, n_rows, w, y, y_stride, row_begin, row_end, [data](int64_t index) { return bf16_to_f32(data[index]); },
              &rounded_to_bf16);
}

}  // namespace elephant::kernels::ref
