// Reference quantized matmuls: the executable specification of the quantized formats and of the
// two activation strategies (kernels.h). Plain loops, one output at a time:
//
//   int8, fp32 activations:  y = s[o] · Σ_k x[k]·q[o,k]                     (fp32 sum, increasing k)
//   int8, int8 activations:  y = float(Σ_k xq[k]·q[o,k]) · (a · s[o])       (exact int32 sum)
//   int4, fp32 activations:  y = Σ_g s[o,g] · (Σ_{k in g} x[k]·q[o,k])      (fp32, increasing g, k)
//   int4, int8 activations:  y = a · Σ_g s[o,g] · float(Σ_{k in g} xq[k]·q[o,k])
//
// where (xq, a) = quantize_activation_row(x). The int8 × int8 form is exact up to the final
// product, so the optimized kernels must match it bit for bit; the others are compared with
// fp32 rounding tolerances.
#include <vector>

#include "kernels/quantize.h"
#include "kernels/ref/ref.h"

namespace elephant::kernels::ref {
namespace {

int int8_at(const WeightMatrix& w, int64_t o, int64_t k) { return static_cast<const int8_t*>(w.data)[o * w.cols + k]; }

const uint8_t* int4_row(const WeightMatrix& w, int64_t o) { return static_cast<const uint8_t*>(w.data) + o * (w.cols / 2); }

struct QuantizedRows {
  std::vector<int8_t> values;  // [n_rows, cols]
  std::vector<float> scales;   // [n_rows]
};

QuantizedRows quantize_rows(const float* x, int64_t n_rows, int64_t cols) {
  QuantizedRows rows{std::vector<int8_t>(static_cast<size_t>(n_rows * cols)), std::vector<float>(static_cast<size_t>(n_rows))};
  for (int64_t i = 0; i < n_rows; ++i) rows.scales[static_cast<size_t>(i)] = quantize_activation_row(x + i * cols, cols, rows.values.data() + i * cols);
  return rows;
}

}  // namespace

void matmul_int8_f32(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                     int64_t row_begin, int64_t row_end) {
  for (int64_t o = row_begin; o < row_end; ++o) {
    const float scale = scale_at(w.scales, w.scale_dtype, o);
    for (int64_t i = 0; i < n_rows; ++i) {
      float sum = 0.0f;
      for (int64_t k = 0; k < w.cols; ++k) sum += x[i * w.cols + k] * static_cast<float>(int8_at(w, o, k));
      y[i * y_stride + o] = scale * sum;
    }
  }
}

void matmul_int8_int8(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                      int64_t row_begin, int64_t row_end) {
  const QuantizedRows xq = quantize_rows(x, n_rows, w.cols);
  for (int64_t o = row_begin; o < row_end; ++o) {
    const float scale = scale_at(w.scales, w.scale_dtype, o);
    for (int64_t i = 0; i < n_rows; ++i) {
      int32_t sum = 0;
      for (int64_t k = 0; k < w.cols; ++k) sum += int32_t{xq.values[static_cast<size_t>(i * w.cols + k)]} * int8_at(w, o, k);
      y[i * y_stride + o] = static_cast<float>(sum) * (xq.scales[static_cast<size_t>(i)] * scale);
    }
  }
}

void matmul_int4_f32(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                     int64_t row_begin, int64_t row_end) {
  const int64_t n_groups = w.cols / w.group_size;
  for (int64_t o = row_begin; o < row_end; ++o) {
    const uint8_t* packed = int4_row(w, o);
    for (int64_t i = 0; i < n_rows; ++i) {
      float sum = 0.0f;
      for (int64_t g = 0; g < n_groups; ++g) {
        float group_sum = 0.0f;
        for (int64_t k = g * w.group_size; k < (g + 1) * w.group_size; ++k) {
          group_sum += x[i * w.cols + k] * static_cast<float>(int4_at(packed, k));
        }
        sum += scale_at(w.scales, w.scale_dtype, o * n_groups + g) * group_sum;
      }
      y[i * y_stride + o] = sum;
    }
  }
}

void matmul_int4_int8(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                      int64_t row_begin, int64_t row_end) {
  const QuantizedRows xq = quantize_rows(x, n_rows, w.cols);
  const int64_t n_groups = w.cols / w.group_size;
  for (int64_t o = row_begin; o < row_end; ++o) {
    const uint8_t* packed = int4_row(w, o);
    for (int64_t i = 0; i < n_rows; ++i) {
      float sum = 0.0f;
      for (int64_t g = 0; g < n_groups; ++g) {
        int32_t group_sum = 0;
        for (int64_t k = g * w.group_size; k < (g + 1) * w.group_size; ++k) {
          group_sum += int32_t{xq.values[static_cast<size_t>(i * w.cols + k)]} * int4_at(packed, k);
        }
        sum += scale_at(w.scales, w.scale_dtype, o * n_groups + g) * static_cast<float>(group_sum);
      }
      y[i * y_stride + o] = xq.scales[static_cast<size_t>(i)] * sum;
    }
  }
}

}  // namespace elephant::kernels::ref
