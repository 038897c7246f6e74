// AVX2 + FMA matmul with the weight widening (BF16, F16 via F16C) done in registers.
//
// Layout: for each weight row, up to kRowsPerPass activation rows share every loaded weight vector
// (the weight row is read once per pass, which is what matters for bandwidth-bound decode).
// Each activation row owns two 8-lane accumulators fed by alternating 8-column blocks, combined
// and reduced horizontally in a fixed order, then the scalar tail (cols % 16) in increasing k.
// That arithmetic is identical whatever the pass size, so a row's result is independent of how
// many rows are in the batch (the MatmulFn contract).
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/avx2/avx2.h"
#include "kernels/cpu/avx2/simd.h"

namespace elephant::kernels::avx2 {
namespace {

constexpr int kRowsPerPass = 4;

inline __m256 load_weights(const float* data) { return _mm256_loadu_ps(data); }
inline __m256 load_weights(const uint16_t* data, DType dtype) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data));
  if (dtype == DType::kF16) return _mm256_cvtph_ps(raw);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
}

inline float widen_scalar(const float* data, int64_t k, DType) { return data[k]; }
inline float widen_scalar(const uint16_t* data, int64_t k, DType dtype) {
  if (dtype == DType::kF16) return _cvtsh_ss(data[k]);
  const uint32_t bits = static_cast<uint32_t>(data[k]) << 16;
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

template <int kRows, typename T>
void dot_rows(const float* x, int64_t cols, const T* w_row, DType dtype, float* out) {
  __m256 acc0[kRows];
  __m256 acc1[kRows];
  for (int r = 0; r < kRows; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
  const int64_t vector_cols = cols - cols % 16;
  for (int64_t k = 0; k < vector_cols; k += 16) {
    __m256 w0, w1;
    if constexpr (sizeof(T) == 4) {
      w0 = load_weights(w_row + k);
      w1 = load_weights(w_row + k + 8);
    } else {
      w0 = load_weights(w_row + k, dtype);
      w1 = load_weights(w_row + k + 8, dtype);
    }
    for (int r = 0; r < kRows; ++r) {
      acc0[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x + r * cols + k), w0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x + r * cols + k + 8), w1, acc1[r]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    float sum = horizontal_sum(_mm256_add_ps(acc0[r], acc1[r]));
    for (int64_t k = vector_cols; k < cols; ++k) sum += x[r * cols + k] * widen_scalar(w_row, k, dtype);
    out[r] = sum;
  }
}

template <typename T>
void matmul_typed(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride, int64_t row_begin,
                  int64_t row_end) {
  const T* data = static_cast<const T*>(w.data);
  float out[kRowsPerPass];
  for (int64_t o = row_begin; o < row_end; ++o) {
    const T* w_row = data + o * w.cols;
    int64_t i = 0;
    for (; i + kRowsPerPass <= n_rows; i += kRowsPerPass) {
      dot_rows<kRowsPerPass>(x + i * w.cols, w.cols, w_row, w.dtype, out);
      for (int r = 0; r < kRowsPerPass; ++r) y[(i + r) * y_stride + o] = out[r];
    }
    const int64_t left = n_rows - i;
    const float* x_left = x + i * w.cols;
    if (left == 3) dot_rows<3>(x_left, w.cols, w_row, w.dtype, out);
    if (left == 2) dot_rows<2>(x_left, w.cols, w_row, w.dtype, out);
    if (left == 1) dot_rows<1>(x_left, w.cols, w_row, w.dtype, out);
    for (int64_t r = 0; r < left; ++r) y[(i + r) * y_stride + o] = out[r];
  }
}

}  // namespace

void matmul(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride, int64_t row_begin,
            int64_t row_end) {
  if (w.dtype == DType::kF32) {
    matmul_typed<float>(x, n_rows, w, y, y_stride, row_begin, row_end);
  } else {
    matmul_typed<uint16_t>(x, n_rows, w, y, y_stride, row_begin, row_end);
  }
}

}  // namespace elephant::kernels::avx2
