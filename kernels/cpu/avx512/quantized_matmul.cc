// AVX-512 VNNI quantized matmuls with int8 activations: vpdpbusd multiplies 64 unsigned bytes by
// 64 signed bytes and adds each group of 4 products into an int32 lane, exactly, in one
// instruction (the AVX2 kernels need maddubs + madd + add for 32).
//   int8 weights: the sign trick, dpbusd(|w|, x with w's sign), so the unsigned operand is |w|.
//   int4 weights, groups of 64+ columns: the packed nibbles in nibble order (activations.h) are
//   already unsigned bytes 0..15: [even nibbles | odd nibbles] of 32 packed bytes is one 64-byte
//   operand against the 64 nibble-ordered activations; the +8 offset is removed per group.
// Integer sums are exact, and the fp32 steps per group and per row follow the AVX2 kernels, so a
// row's result does not depend on the batch. Groups of 16 or 32 columns use the AVX2 kernel.
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/avx2/activations.h"
#include "kernels/cpu/avx2/avx2.h"
#include "kernels/cpu/avx512/avx512.h"
#include "kernels/cpu/avx512/simd.h"
#include "kernels/cpu/tiled.h"
#include "kernels/quantize.h"

namespace elephant::kernels::avx512 {
namespace {

float load_scale(const void* scales, DType dtype, int64_t index) {
  if (dtype == DType::kF32) return static_cast<const float*>(scales)[index];
  const uint16_t bits = static_cast<const uint16_t*>(scales)[index];
  if (dtype == DType::kF16) return _cvtsh_ss(bits);
  const uint32_t widened = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &widened, sizeof(value));
  return value;
}

struct Int8WeightsInt8Activations {
  const WeightMatrix& w;
  const avx2::ActivationScratch& xq;

  template <int kRows>
  void run(int64_t i, int64_t o, float* out) const {
    const int64_t cols = w.cols;
    const int8_t* w_row = static_cast<const int8_t*>(w.data) + o * cols;
    const int8_t* x_rows = xq.values.data() + i * cols;
    __m512i acc[kRows];
    for (int r = 0; r < kRows; ++r) acc[r] = _mm512_setzero_si512();
    const int64_t vector_cols = cols - cols % 64;
    for (int64_t k = 0; k < vector_cols; k += 64) {
      const __m512i wv = _mm512_loadu_si512(w_row + k);
      const __m512i w_abs = _mm512_abs_epi8(wv);
      const __mmask64 negative = _mm512_movepi8_mask(wv);
      for (int r = 0; r < kRows; ++r) {
        const __m512i xv = _mm512_loadu_si512(x_rows + r * cols + k);
        const __m512i signed_x = _mm512_mask_sub_epi8(xv, negative, _mm512_setzero_si512(), xv);
        acc[r] = _mm512_dpbusd_epi32(acc[r], w_abs, signed_x);
      }
    }
    const float scale = load_scale(w.scales, w.scale_dtype, o);
    for (int r = 0; r < kRows; ++r) {
      int32_t sum = horizontal_sum(acc[r]);
      for (int64_t k = vector_cols; k < cols; ++k) sum += int32_t{x_rows[r * cols + k]} * w_row[k];
      out[r] = static_cast<float>(sum) * (xq.scales[static_cast<size_t>(i + r)] * scale);
    }
  }
};

struct Int4WeightsNibbleOrderActivations {
  const WeightMatrix& w;
  const avx2::NibbleOrderActivations& xq;

  template <int kRows>
  void run(int64_t i, int64_t o, float* out) const {
    const int64_t cols = w.cols;
    const int64_t group = w.group_size;
    const int64_t groups = cols / group;
    const int64_t scale_base = o * groups;
    const uint8_t* w_row = static_cast<const uint8_t*>(w.data) + o * (cols / 2);
    const int8_t* x_rows = xq.values.data() + i * cols;
    const int32_t* sums = xq.group_sums.data() + i * groups;
    const __m256i mask = _mm256_set1_epi8(0x0f);
    __m512 total[kRows];
    for (int r = 0; r < kRows; ++r) total[r] = _mm512_setzero_ps();
    for (int64_t g = 0; g < groups; ++g) {
      __m512i partial[kRows];
      for (int r = 0; r < kRows; ++r) partial[r] = _mm512_setzero_si512();
      for (int64_t k = g * group; k < (g + 1) * group; k += 64) {
        const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w_row + k / 2));
        const __m256i even = _mm256_and_si256(raw, mask);
        const __m256i odd = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
        const __m512i nibbles = _mm512_inserti64x4(_mm512_castsi256_si512(even), odd, 1);
        for (int r = 0; r < kRows; ++r) {
          partial[r] = _mm512_dpbusd_epi32(partial[r], nibbles, _mm512_loadu_si512(x_rows + r * cols + k));
        }
      }
      const __m512 scale = _mm512_set1_ps(load_scale(w.scales, w.scale_dtype, scale_base + g));
      for (int r = 0; r < kRows; ++r) {
        const __m512i offset = _mm512_maskz_set1_epi32(1, kInt4Offset * sums[r * groups + g]);
        total[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(partial[r], offset)), scale, total[r]);
      }
    }
    for (int r = 0; r < kRows; ++r) out[r] = xq.scales[static_cast<size_t>(i + r)] * horizontal_sum(total[r]);
  }
};

}  // namespace

void matmul_int8_int8(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                      int64_t row_begin, int64_t row_end) {
  tiled(Int8WeightsInt8Activations{w, avx2::quantize_rows(x, n_rows, w.cols)}, n_rows, y, y_stride, row_begin, row_end);
}

void matmul_int4_int8(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                      int64_t row_begin, int64_t row_end) {
  if (w.group_size % 64 != 0) {
    avx2::matmul_int4_int8(x, n_rows, w, y, y_stride, row_begin, row_end);
    return;
  }
  tiled(Int4WeightsNibbleOrderActivations{w, avx2::quantize_rows_nibble_order(x, n_rows, w.cols, w.group_size)}, n_rows, y,
        y_stride, row_begin, row_end);
}

}  // namespace elephant::kernels::avx512
