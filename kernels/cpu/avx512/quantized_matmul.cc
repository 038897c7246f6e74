// AVX-512 VNNI quantized matmuls with int8 activations: vpdpbusd multiplies 64 unsigned bytes by
// 64 signed bytes and adds each group of 4 products into an int32 lane, exactly, in one
// instruction (the AVX2 kernels need maddubs + madd + add for 32).
//   int8 weights: the activations are made unsigned by adding 128 (one xor of the sign bit), so
//   dpbusd(x + 128, w) = Σ x·w + 128·Σ w, and Σ w comes from one more dpbusd of ones against the
//   same weight vector. That costs one instruction per weight vector, shared by every activation
//   row of the tile, where the sign trick (|w|, x with w's sign) cost three per (row, weight) pair.
//   int4 weights, groups of 64+ columns: the packed nibbles in nibble order (activations.h) are
//   already unsigned bytes 0..15. 32 packed bytes broadcast to both halves of a register and
//   shifted by 0 (low half) and 4 (high half) give [even nibbles | odd nibbles], one 64-byte
//   operand against the 64 nibble-ordered activations; the +8 offset is removed per group.
// Both compute output tiles (kRows activation rows × kOutputs weight rows; tiled.h), so decode
// reads kDecodeStreams weight rows at once. Integer sums are exact, and every (row, output) pair
// takes the same fp32 steps whatever the tile, so a row's result does not depend on the batch.
// Groups of 16 or 32 columns use the AVX2 kernel.
#include <immintrin.h>

#include <algorithm>
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

// Scales of groups [index, index + count) (count ≤ 4) as [s0, s1, s2, s3] in every 128-bit lane,
// 0 for the groups past count.
template <DType kScaleType>
__m512 load_scale_quad(const void* scales, int64_t index, int count) {
  const __mmask8 present = static_cast<__mmask8>((1u << count) - 1);
  __m128 quad;
  if constexpr (kScaleType == DType::kF32) {
    quad = _mm_maskz_loadu_ps(present, static_cast<const float*>(scales) + index);
  } else {
    const __m128i bits = _mm_maskz_loadu_epi16(present, static_cast<const uint16_t*>(scales) + index);
    if constexpr (kScaleType == DType::kF16) {
      quad = _mm_cvtph_ps(bits);
    } else {
      quad = _mm_castsi128_ps(_mm_slli_epi32(_mm_cvtepu16_epi32(bits), 16));
    }
  }
  return _mm512_broadcast_f32x4(quad);
}

// Four groups' int32 partials (16 lanes each) -> one register whose every 128-bit lane holds
// [g0, g1, g2, g3], the partial of each group over that quarter of its lanes; adding the four
// 128-bit lanes gives the groups' sums. Three levels of unpack + add instead of a horizontal sum
// and a scalar scale per group, which dominated decode with 128-column groups.
__m512i reduce_group_quad(__m512i g0, __m512i g1, __m512i g2, __m512i g3) {
  const __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(g0, g1), _mm512_unpackhi_epi32(g0, g1));
  const __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(g2, g3), _mm512_unpackhi_epi32(g2, g3));
  return _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
}

// Activations offset to unsigned bytes: x + 128 is x with its sign bit flipped.
inline __m512i load_offset_activations(const int8_t* x) {
  return _mm512_xor_si512(_mm512_loadu_si512(x), _mm512_set1_epi8(static_cast<char>(0x80)));
}

struct Int8WeightsInt8Activations {
  const WeightMatrix& w;
  const avx2::ActivationScratch& xq;

  // Activation rows [i, i + kRows) × weight rows o[0..kOutputs) into out[r * kOutputs + j].
  template <int kRows, int kOutputs>
  void compute(int64_t i, const int64_t* o, float* out) const {
    const int64_t cols = w.cols;
    const int8_t* w_rows[kOutputs];
    for (int j = 0; j < kOutputs; ++j) w_rows[j] = static_cast<const int8_t*>(w.data) + o[j] * cols;
    const int8_t* x_rows = xq.values.data() + i * cols;
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i acc[kRows][kOutputs];
    __m512i weight_sums[kOutputs];
    for (int j = 0; j < kOutputs; ++j) {
      weight_sums[j] = _mm512_setzero_si512();
      for (int r = 0; r < kRows; ++r) acc[r][j] = _mm512_setzero_si512();
    }
    const int64_t vector_cols = cols - cols % 64;
    for (int64_t k = 0; k < vector_cols; k += 64) {
      __m512i xv[kRows];
      for (int r = 0; r < kRows; ++r) xv[r] = load_offset_activations(x_rows + r * cols + k);
      for (int j = 0; j < kOutputs; ++j) {
        const __m512i wv = _mm512_loadu_si512(w_rows[j] + k);
        weight_sums[j] = _mm512_dpbusd_epi32(weight_sums[j], ones, wv);
        for (int r = 0; r < kRows; ++r) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], xv[r], wv);
      }
    }
    for (int j = 0; j < kOutputs; ++j) {
      const float scale = load_scale(w.scales, w.scale_dtype, o[j]);
      const int32_t offset = 128 * horizontal_sum(weight_sums[j]);
      for (int r = 0; r < kRows; ++r) {
        int32_t sum = horizontal_sum(acc[r][j]) - offset;
        for (int64_t k = vector_cols; k < cols; ++k) sum += int32_t{x_rows[r * cols + k]} * w_rows[j][k];
        out[r * kOutputs + j] = static_cast<float>(sum) * (xq.scales[static_cast<size_t>(i + r)] * scale);
      }
    }
  }
};

template <DType kScaleType>
struct Int4WeightsNibbleOrderActivations {
  const WeightMatrix& w;
  const avx2::NibbleOrderActivations& xq;

  // partial[r][j] = exact int32 lanes of Σ nibble·xq over group g (zero when g is past the last).
  template <int kRows, int kOutputs>
  void accumulate_group(const uint8_t* const* w_rows, const int8_t* x_rows, int64_t g, int64_t groups,
                        __m512i (&partial)[kRows][kOutputs]) const {
    for (int r = 0; r < kRows; ++r) {
      for (int j = 0; j < kOutputs; ++j) partial[r][j] = _mm512_setzero_si512();
    }
    if (g >= groups) return;
    const __m512i halves_shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    const __m512i mask = _mm512_set1_epi8(0x0f);
    const int64_t group = w.group_size;
    for (int64_t k = g * group; k < (g + 1) * group; k += 64) {
      __m512i xv[kRows];
      for (int r = 0; r < kRows; ++r) xv[r] = _mm512_loadu_si512(x_rows + r * w.cols + k);
      for (int j = 0; j < kOutputs; ++j) {
        const __m512i raw = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w_rows[j] + k / 2)));
        const __m512i nibbles = _mm512_and_si512(_mm512_srlv_epi16(raw, halves_shift), mask);
        for (int r = 0; r < kRows; ++r) partial[r][j] = _mm512_dpbusd_epi32(partial[r][j], nibbles, xv[r]);
      }
    }
  }

  // Activation rows [i, i + kRows) × weight rows o[0..kOutputs) into out[r * kOutputs + j]; groups
  // are taken four at a time (reduce_group_quad), the missing ones of the last quad as zeros.
  template <int kRows, int kOutputs>
  void compute(int64_t i, const int64_t* o, float* out) const {
    const int64_t cols = w.cols;
    const int64_t groups = cols / w.group_size;
    const uint8_t* w_rows[kOutputs];
    for (int j = 0; j < kOutputs; ++j) w_rows[j] = static_cast<const uint8_t*>(w.data) + o[j] * (cols / 2);
    const int8_t* x_rows = xq.values.data() + i * cols;
    const int32_t* group_sums = xq.group_sums.data() + i * groups;
    const __m128i int4_offset = _mm_set1_epi32(kInt4Offset);
    __m512 total[kRows][kOutputs];
    for (int r = 0; r < kRows; ++r) {
      for (int j = 0; j < kOutputs; ++j) total[r][j] = _mm512_setzero_ps();
    }
    // Four named arrays, not one indexed by a loop variable, keep the partials in registers.
    __m512i p0[kRows][kOutputs], p1[kRows][kOutputs], p2[kRows][kOutputs], p3[kRows][kOutputs];
    for (int64_t g = 0; g < groups; g += 4) {
      const int count = static_cast<int>(std::min<int64_t>(4, groups - g));
      accumulate_group<kRows, kOutputs>(w_rows, x_rows, g, groups, p0);
      accumulate_group<kRows, kOutputs>(w_rows, x_rows, g + 1, groups, p1);
      accumulate_group<kRows, kOutputs>(w_rows, x_rows, g + 2, groups, p2);
      accumulate_group<kRows, kOutputs>(w_rows, x_rows, g + 3, groups, p3);
      const __mmask8 present = static_cast<__mmask8>((1u << count) - 1);
      __m512i offsets[kRows];
      for (int r = 0; r < kRows; ++r) {
        const __m128i sums = _mm_maskz_loadu_epi32(present, group_sums + r * groups + g);
        offsets[r] = _mm512_zextsi128_si512(_mm_mullo_epi32(sums, int4_offset));
      }
      for (int j = 0; j < kOutputs; ++j) {
        const __m512 scale = load_scale_quad<kScaleType>(w.scales, o[j] * groups + g, count);
        for (int r = 0; r < kRows; ++r) {
          const __m512i sums = _mm512_sub_epi32(reduce_group_quad(p0[r][j], p1[r][j], p2[r][j], p3[r][j]), offsets[r]);
          total[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scale, total[r][j]);
        }
      }
    }
    for (int r = 0; r < kRows; ++r) {
      for (int j = 0; j < kOutputs; ++j) {
        out[r * kOutputs + j] = xq.scales[static_cast<size_t>(i + r)] * horizontal_sum(total[r][j]);
      }
    }
  }
};

template <DType kScaleType>
void matmul_int4_nibble_order(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                              int64_t row_begin, int64_t row_end) {
  tiled(Int4WeightsNibbleOrderActivations<kScaleType>{w, avx2::quantize_rows_nibble_order(x, n_rows, w.cols, w.group_size)},
        n_rows, y, y_stride, row_begin, row_end);
}

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
  if (w.scale_dtype == DType::kF16) return matmul_int4_nibble_order<DType::kF16>(x, n_rows, w, y, y_stride, row_begin, row_end);
  if (w.scale_dtype == DType::kBF16) return matmul_int4_nibble_order<DType::kBF16>(x, n_rows, w, y, y_stride, row_begin, row_end);
  matmul_int4_nibble_order<DType::kF32>(x, n_rows, w, y, y_stride, row_begin, row_end);
}

}  // namespace elephant::kernels::avx512
