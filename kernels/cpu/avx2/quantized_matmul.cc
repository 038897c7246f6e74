// AVX2 quantized matmuls (int8 per-channel and int4 group-wise weights), dequantizing in registers:
// the packed weights are the only weight bytes that cross the memory bus.
//
// Loop structure (tiled): output rows in blocks of kOutputBlock; inside a block, activation rows
// in passes of kRowsPerPass, each pass applied to every output row of the block. A decoded weight
// vector is shared by the rows of a pass (decode: 1 row, one read of the weights), and a pass's
// activations stay in L1 while the block's weight rows (a few KiB each) are reused from L1/L2
// (prefill). The arithmetic of one (activation row, output row) pair is the same whatever the
// pass size or the block, so a row's result never depends on n_rows or the row range.
//
// int8 activations: each thread quantizes the activation rows once per call into thread-local
// scratch (grown, never shrunk: no allocation once warm), bit-identical to
// quantize_activation_row. Products use the sign trick, maddubs(|w|, sign(x, w)), so the unsigned
// operand is at most 127 and a pair sum (2 · 127 · 127) never saturates int16; madd with ones
// widens to int32 lanes. int32 lane m of a 32-column step holds columns 4m..4m+3, so lanes 0-3 are
// the step's first 16 columns: that is how group 16 gets two scales per step.
//
// An int4 matrix with an interleaved copy (interleave.h) is computed from that copy instead, for
// every call and row count (Int4Interleaved, loop nest in interleaved.h); int8 has no interleaved
// AVX2 kernel: its pair sums need the sign trick and cannot stay in int16, so the layout would
// save only the horizontal sums.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/avx2/activations.h"
#include "kernels/cpu/avx2/avx2.h"
#include "kernels/cpu/avx2/simd.h"
#include "kernels/cpu/interleaved.h"
#include "kernels/cpu/tiled.h"
#include "kernels/quantize.h"

namespace elephant::kernels::avx2 {
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

// Local copy of quantize.h's int4_at: an inline function from a shared header compiled here with
// -mavx2 could be the copy the linker keeps for the reference kernels too.
inline int int4_value(const uint8_t* packed_row, int64_t k) {
  const uint8_t byte = packed_row[k / 2];
  return static_cast<int>(k % 2 == 0 ? byte & 0x0f : byte >> 4) - kInt4Offset;
}

// 16 packed bytes (32 columns) -> 32 signed int8 in column order.
inline __m256i decode_int4_x32(const uint8_t* packed) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(packed));
  const __m128i mask = _mm_set1_epi8(0x0f);
  const __m128i low = _mm_and_si128(raw, mask);                       // even columns
  const __m128i high = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);   // odd columns
  const __m256i columns = _mm256_set_m128i(_mm_unpackhi_epi8(low, high), _mm_unpacklo_epi8(low, high));
  return _mm256_sub_epi8(columns, _mm256_set1_epi8(kInt4Offset));
}

// 8 packed bytes (16 columns) -> 16 signed int8 in column order.
inline __m128i decode_int4_x16(const uint8_t* packed) {
  const __m128i raw = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(packed));
  const __m128i mask = _mm_set1_epi8(0x0f);
  const __m128i columns = _mm_unpacklo_epi8(_mm_and_si128(raw, mask), _mm_and_si128(_mm_srli_epi16(raw, 4), mask));
  return _mm_sub_epi8(columns, _mm_set1_epi8(kInt4Offset));
}

// Exact int32 partial dot products of 32 int8 weights with 32 int8 activations, 4 columns per lane.
inline __m256i dot_int8_x32(__m256i w_abs, __m256i w, const int8_t* x) {
  const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  return _mm256_madd_epi16(_mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(xv, w)), _mm256_set1_epi16(1));
}

struct Int8WeightsF32Activations {
  const WeightMatrix& w;
  const float* x;

  template <int kRows>
  void run(int64_t i, int64_t o, float* out) const {
    const int64_t cols = w.cols;
    const int8_t* w_row = static_cast<const int8_t*>(w.data) + o * cols;
    const float* x_rows = x + i * cols;
    __m256 acc0[kRows], acc1[kRows];
    for (int r = 0; r < kRows; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
    const int64_t vector_cols = cols - cols % 16;
    for (int64_t k = 0; k < vector_cols; k += 16) {
      const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w_row + k));
      const __m256 w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(raw));
      const __m256 w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(raw, 8)));
      for (int r = 0; r < kRows; ++r) {
        acc0[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x_rows + r * cols + k), w0, acc0[r]);
        acc1[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x_rows + r * cols + k + 8), w1, acc1[r]);
      }
    }
    const float scale = load_scale(w.scales, w.scale_dtype, o);
    for (int r = 0; r < kRows; ++r) {
      float sum = horizontal_sum(_mm256_add_ps(acc0[r], acc1[r]));
      for (int64_t k = vector_cols; k < cols; ++k) sum += x_rows[r * cols + k] * static_cast<float>(w_row[k]);
      out[r] = scale * sum;
    }
  }
};

struct Int8WeightsInt8Activations {
  const WeightMatrix& w;
  const ActivationScratch& xq;

  // Activation rows [i, i + kRows) × weight rows o[0..kOutputs) into out[r * kOutputs + j].
  template <int kRows, int kOutputs>
  void compute(int64_t i, const int64_t* o, float* out) const {
    const int64_t cols = w.cols;
    const int8_t* w_rows[kOutputs];
    for (int j = 0; j < kOutputs; ++j) w_rows[j] = static_cast<const int8_t*>(w.data) + o[j] * cols;
    const int8_t* x_rows = xq.values.data() + i * cols;
    __m256i acc[kRows][kOutputs];
    for (int r = 0; r < kRows; ++r) {
      for (int j = 0; j < kOutputs; ++j) acc[r][j] = _mm256_setzero_si256();
    }
    const int64_t vector_cols = cols - cols % 32;
    for (int64_t k = 0; k < vector_cols; k += 32) {
      for (int j = 0; j < kOutputs; ++j) {
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w_rows[j] + k));
        const __m256i w_abs = _mm256_abs_epi8(wv);
        for (int r = 0; r < kRows; ++r) {
          acc[r][j] = _mm256_add_epi32(acc[r][j], dot_int8_x32(w_abs, wv, x_rows + r * cols + k));
        }
      }
    }
    for (int j = 0; j < kOutputs; ++j) {
      const float scale = load_scale(w.scales, w.scale_dtype, o[j]);
      for (int r = 0; r < kRows; ++r) {
        int32_t sum = horizontal_sum(acc[r][j]);
        for (int64_t k = vector_cols; k < cols; ++k) sum += int32_t{x_rows[r * cols + k]} * w_rows[j][k];
        out[r * kOutputs + j] = static_cast<float>(sum) * (xq.scales[static_cast<size_t>(i + r)] * scale);
      }
    }
  }
};

struct Int4WeightsF32Activations {
  const WeightMatrix& w;
  const float* x;

  template <int kRows>
  void run(int64_t i, int64_t o, float* out) const {
    const int64_t cols = w.cols;
    const int64_t group = w.group_size;
    const int64_t scale_base = o * (cols / group);
    const uint8_t* w_row = static_cast<const uint8_t*>(w.data) + o * (cols / 2);
    const float* x_rows = x + i * cols;
    __m256 total[kRows], group0[kRows], group1[kRows];
    for (int r = 0; r < kRows; ++r) total[r] = group0[r] = group1[r] = _mm256_setzero_ps();
    for (int64_t k = 0; k < cols; k += 16) {  // cols is a multiple of the group, hence of 16
      const __m128i q = decode_int4_x16(w_row + k / 2);
      const __m256 w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
      const __m256 w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)));
      for (int r = 0; r < kRows; ++r) {
        group0[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x_rows + r * cols + k), w0, group0[r]);
        group1[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x_rows + r * cols + k + 8), w1, group1[r]);
      }
      if ((k + 16) % group == 0) {
        const __m256 scale = _mm256_set1_ps(load_scale(w.scales, w.scale_dtype, scale_base + k / group));
        for (int r = 0; r < kRows; ++r) {
          total[r] = _mm256_fmadd_ps(_mm256_add_ps(group0[r], group1[r]), scale, total[r]);
          group0[r] = group1[r] = _mm256_setzero_ps();
        }
      }
    }
    for (int r = 0; r < kRows; ++r) out[r] = horizontal_sum(total[r]);
  }
};

struct Int4WeightsInt8Activations {
  const WeightMatrix& w;
  const ActivationScratch& xq;

  template <int kRows>
  void run(int64_t i, int64_t o, float* out) const {
    const int64_t cols = w.cols;
    const int64_t group = w.group_size;
    const int64_t scale_base = o * (cols / group);
    const uint8_t* w_row = static_cast<const uint8_t*>(w.data) + o * (cols / 2);
    const int8_t* x_rows = xq.values.data() + i * cols;
    __m256 total[kRows];
    __m256i partial[kRows];
    for (int r = 0; r < kRows; ++r) {
      total[r] = _mm256_setzero_ps();
      partial[r] = _mm256_setzero_si256();
    }
    const int64_t vector_cols = cols - cols % 32;
    for (int64_t k = 0; k < vector_cols; k += 32) {
      const __m256i wv = decode_int4_x32(w_row + k / 2);
      const __m256i w_abs = _mm256_abs_epi8(wv);
      for (int r = 0; r < kRows; ++r) partial[r] = _mm256_add_epi32(partial[r], dot_int8_x32(w_abs, wv, x_rows + r * cols + k));
      __m256 scale;
      if (group == 16) {
        const int64_t g = scale_base + k / 16;
        scale = _mm256_set_m128(_mm_set1_ps(load_scale(w.scales, w.scale_dtype, g + 1)),
                                _mm_set1_ps(load_scale(w.scales, w.scale_dtype, g)));
      } else if ((k + 32) % group == 0) {
        scale = _mm256_set1_ps(load_scale(w.scales, w.scale_dtype, scale_base + k / group));
      } else {
        continue;
      }
      for (int r = 0; r < kRows; ++r) {
        total[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(partial[r]), scale, total[r]);
        partial[r] = _mm256_setzero_si256();
      }
    }
    // A last half step exists only for group 16 (cols % 32 == 16): one group, in scalar.
    float tail[kRows] = {};
    if (vector_cols < cols) {
      const float scale = load_scale(w.scales, w.scale_dtype, scale_base + vector_cols / 16);
      for (int r = 0; r < kRows; ++r) {
        int32_t sum = 0;
        for (int64_t k = vector_cols; k < cols; ++k) sum += int32_t{x_rows[r * cols + k]} * int4_value(w_row, k);
        tail[r] = scale * static_cast<float>(sum);
      }
    }
    for (int r = 0; r < kRows; ++r) {
      out[r] = xq.scales[static_cast<size_t>(i + r)] * (horizontal_sum(total[r]) + tail[r]);
    }
  }
};

// Two consecutive groups' scales as [s0, s1, ...] (s1 = 0 when g + 1 is past the last group), in
// the scale dtype fixed at compile time so the group loop carries no dtype branch.
template <DType kScaleType>
__m128 load_scale_pair(const void* scales, int64_t index, bool has_second) {
  if constexpr (kScaleType == DType::kF32) {
    const float* values = static_cast<const float*>(scales) + index;
    if (!has_second) return _mm_load_ss(values);
    // Two floats as one 64-bit load; scales are only 4-byte aligned, so not through a double*.
    double pair;
    std::memcpy(&pair, values, sizeof(pair));
    return _mm_castpd_ps(_mm_set_sd(pair));
  } else {
    const uint16_t* bits = static_cast<const uint16_t*>(scales) + index;
    uint32_t pair = bits[0];
    if (has_second) pair |= static_cast<uint32_t>(bits[1]) << 16;
    const __m128i halves = _mm_cvtsi32_si128(static_cast<int>(pair));
    if constexpr (kScaleType == DType::kF16) return _mm_cvtph_ps(halves);
    return _mm_castsi128_ps(_mm_slli_epi32(_mm_cvtepu16_epi32(halves), 16));
  }
}

// Groups are taken in pairs: each group's exact int32 partial (8 lanes), hadd of the pair puts
// group g in lanes 0, 1, 4, 5 and g + 1 in lanes 2, 3, 6, 7, the +8 offsets of both come off in one
// subtraction (NibbleOrderActivations::pair_offsets), and one convert and one FMA against
// [s0, s0, s1, s1, s0, s0, s1, s1] apply both scales. That is a quarter of the per-group
// instructions of scaling each group on its own, which dominated decode with 128-column groups.
template <DType kScaleType>
struct Int4WeightsNibbleOrderActivations {
  const WeightMatrix& w;
  const NibbleOrderActivations& xq;

  // partial[r][j] = exact int32 lanes of Σ nibble·xq over the group of columns starting at `begin`.
  template <int kRows, int kOutputs>
  void accumulate_group(const uint8_t* const* w_rows, const int8_t* x_rows, int64_t begin,
                        __m256i (&partial)[kRows][kOutputs]) const {
    const __m256i mask = _mm256_set1_epi8(0x0f);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int r = 0; r < kRows; ++r) {
      for (int j = 0; j < kOutputs; ++j) partial[r][j] = _mm256_setzero_si256();
    }
    for (int64_t k = begin; k < begin + w.group_size; k += 64) {
      for (int j = 0; j < kOutputs; ++j) {
        const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w_rows[j] + k / 2));
        const __m256i even = _mm256_and_si256(raw, mask);
        const __m256i odd = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
        for (int r = 0; r < kRows; ++r) {
          const int8_t* x = x_rows + r * w.cols + k;
          const __m256i pair_sums =
              _mm256_add_epi16(_mm256_maddubs_epi16(even, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x))),
                               _mm256_maddubs_epi16(odd, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32))));
          partial[r][j] = _mm256_add_epi32(partial[r][j], _mm256_madd_epi16(pair_sums, ones));
        }
      }
    }
  }

  // Activation rows [i, i + kRows) × weight rows o[0..kOutputs) into out[r * kOutputs + j]; every
  // (row, output) pair takes the same steps whatever kRows and kOutputs are.
  template <int kRows, int kOutputs>
  void compute(int64_t i, const int64_t* o, float* out) const {
    const int64_t cols = w.cols;
    const int64_t group = w.group_size;
    const int64_t groups = cols / group;
    const int64_t pairs = (groups + 1) / 2;
    const uint8_t* w_rows[kOutputs];
    for (int j = 0; j < kOutputs; ++j) w_rows[j] = static_cast<const uint8_t*>(w.data) + o[j] * (cols / 2);
    const int8_t* x_rows = xq.values.data() + i * cols;
    const int32_t* offsets = xq.pair_offsets.data() + i * pairs * 8;
    const __m256i pair_lanes = _mm256_setr_epi32(0, 0, 1, 1, 0, 0, 1, 1);
    __m256 total[kRows][kOutputs];
    for (int r = 0; r < kRows; ++r) {
      for (int j = 0; j < kOutputs; ++j) total[r][j] = _mm256_setzero_ps();
    }
    // Two named arrays rather than one indexed by a loop variable keep both groups' partials in
    // registers (an index the compiler cannot resolve sends the array to the stack).
    __m256i first[kRows][kOutputs], second[kRows][kOutputs];
    for (int64_t g = 0; g < groups; g += 2) {
      const bool has_second = g + 1 < groups;
      accumulate_group<kRows, kOutputs>(w_rows, x_rows, g * group, first);
      if (has_second) {
        accumulate_group<kRows, kOutputs>(w_rows, x_rows, (g + 1) * group, second);
      } else {
        for (int r = 0; r < kRows; ++r) {
          for (int j = 0; j < kOutputs; ++j) second[r][j] = _mm256_setzero_si256();
        }
      }
      for (int j = 0; j < kOutputs; ++j) {
        const __m128 scale_pair = load_scale_pair<kScaleType>(w.scales, o[j] * groups + g, has_second);
        const __m256 scale = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(scale_pair), pair_lanes);
        for (int r = 0; r < kRows; ++r) {
          const __m256i offset = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(offsets + (r * pairs + g / 2) * 8));
          const __m256i sums = _mm256_sub_epi32(_mm256_hadd_epi32(first[r][j], second[r][j]), offset);
          total[r][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, total[r][j]);
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
  tiled(Int4WeightsNibbleOrderActivations<kScaleType>{w, quantize_rows_nibble_order(x, n_rows, w.cols, w.group_size)},
        n_rows, y, y_stride, row_begin, row_end);
}

// 8 consecutive scales (half of an interleaved block's 16 for one group), one per lane.
template <DType kScaleType>
__m256 load_half_block_scales(const void* scales, int64_t index) {
  if constexpr (kScaleType == DType::kF32) {
    return _mm256_loadu_ps(static_cast<const float*>(scales) + index);
  } else {
    const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(scales) + index));
    if constexpr (kScaleType == DType::kF16) return _mm256_cvtph_ps(bits);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(bits), 16));
  }
}

// Interleaved int4 (interleave.h) in 256-bit halves: a quad's 32 packed bytes masked are 4 columns
// of the block's outputs 0-7 (lane l: output l), shifted by 4 and masked those of outputs 8-15,
// and 4 activations broadcast to every lane are the signed operand of maddubs. Pair sums
// (≤ 2·15·127) add up in int16 for 8 quads (≤ 30480, no saturation), then one madd with ones
// widens them into the group's exact int32 sums, started at -8·Σx; per group one convert and one
// FMA against the 8 scales. Each output's result is Σ_g float(sum_g)·scale_g in increasing g,
// times the row's scale: the AVX-512 kernel's arithmetic, so both give the same bits, whatever
// kRows and kBlocks are. The two halves are separate passes over a group's quads (the second
// finds them in L1), so a (row, block) pair needs two registers, not four. Chunks of up to 3 rows
// over 2 blocks: 4 rows spilled an accumulator (Zen 5, two threads, 14336×4096: 6, 8 and 16 rows
// 10-12% slower than 3; 2 rows no faster).
template <DType kScaleType>
struct Int4Interleaved {
  static constexpr int kMaxRows = 3;
  const WeightMatrix& w;
  const GroupedActivations& xq;

  template <int kRows, int kBlocks>
  void compute(int64_t i, const int64_t* block, float* out, int64_t out_stride, int64_t first_block) const {
    const int64_t cols = w.cols;
    const int64_t group_quads = w.group_size / 4;
    const int64_t groups = cols / w.group_size;
    // Groups are powers of two of 16+ columns (check_weight_matrix): 4 quads or a multiple of 8.
    const int64_t quads_per_widening = std::min<int64_t>(8, group_quads);
    const uint8_t* blocks[kBlocks];
    for (int j = 0; j < kBlocks; ++j) blocks[j] = static_cast<const uint8_t*>(w.interleaved_data) + block[j] * 8 * cols;
    const int8_t* x_rows = xq.values.data() + i * cols;
    const int32_t* group_offsets = xq.group_offsets.data() + i * groups;
    const __m256i mask = _mm256_set1_epi8(0x0f);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 total[kRows][kBlocks][2];
    for (int r = 0; r < kRows; ++r) {
      for (int j = 0; j < kBlocks; ++j) total[r][j][0] = total[r][j][1] = _mm256_setzero_ps();
    }
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t first_quad = g * group_quads;
      for (int half = 0; half < 2; ++half) {
        __m256i partial[kRows][kBlocks];
        for (int r = 0; r < kRows; ++r) {
          const __m256i offset = _mm256_set1_epi32(group_offsets[r * groups + g]);
          for (int j = 0; j < kBlocks; ++j) partial[r][j] = offset;
        }
        for (int64_t q0 = first_quad; q0 < first_quad + group_quads; q0 += quads_per_widening) {
          __m256i pair_sums[kRows][kBlocks];
          for (int r = 0; r < kRows; ++r) {
            for (int j = 0; j < kBlocks; ++j) pair_sums[r][j] = _mm256_setzero_si256();
          }
          for (int64_t q = q0; q < q0 + quads_per_widening; ++q) {
            __m256i nibbles[kBlocks];
            for (int j = 0; j < kBlocks; ++j) {
              const uint8_t* packed = blocks[j] + q * 32;
              if (half == 0 && q % 2 == 0) _mm_prefetch(reinterpret_cast<const char*>(packed) + kPrefetchBytes, _MM_HINT_T0);
              const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(packed));
              nibbles[j] = _mm256_and_si256(half == 0 ? raw : _mm256_srli_epi16(raw, 4), mask);
            }
            for (int r = 0; r < kRows; ++r) {
              int32_t quad;
              std::memcpy(&quad, x_rows + r * cols + 4 * q, sizeof(quad));
              const __m256i activations = _mm256_set1_epi32(quad);
              for (int j = 0; j < kBlocks; ++j) {
                pair_sums[r][j] = _mm256_add_epi16(pair_sums[r][j], _mm256_maddubs_epi16(nibbles[j], activations));
              }
            }
          }
          for (int r = 0; r < kRows; ++r) {
            for (int j = 0; j < kBlocks; ++j) {
              partial[r][j] = _mm256_add_epi32(partial[r][j], _mm256_madd_epi16(pair_sums[r][j], ones));
            }
          }
        }
        for (int j = 0; j < kBlocks; ++j) {
          const __m256 scales = load_half_block_scales<kScaleType>(w.interleaved_scales, (block[j] * groups + g) * 16 + 8 * half);
          for (int r = 0; r < kRows; ++r) {
            total[r][j][half] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(partial[r][j]), scales, total[r][j][half]);
          }
        }
      }
    }
    for (int r = 0; r < kRows; ++r) {
      const __m256 row_scale = _mm256_set1_ps(xq.scales[static_cast<size_t>(i + r)]);
      for (int j = 0; j < kBlocks; ++j) {
        for (int half = 0; half < 2; ++half) {
          _mm256_storeu_ps(out + r * out_stride + 16 * (block[j] - first_block) + 8 * half,
                           _mm256_mul_ps(total[r][j][half], row_scale));
        }
      }
    }
  }
};

template <DType kScaleType>
void matmul_int4_interleaved(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                             int64_t row_begin, int64_t row_end) {
  run_interleaved(Int4Interleaved<kScaleType>{w, quantize_rows_grouped(x, n_rows, w.cols, w.group_size)}, n_rows, y,
                  y_stride, row_begin, row_end);
}

}  // namespace

void matmul_int8_f32(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                     int64_t row_begin, int64_t row_end) {
  tiled(Int8WeightsF32Activations{w, x}, n_rows, y, y_stride, row_begin, row_end);
}

void matmul_int8_int8(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                      int64_t row_begin, int64_t row_end) {
  tiled(Int8WeightsInt8Activations{w, quantize_rows(x, n_rows, w.cols)}, n_rows, y, y_stride, row_begin, row_end);
}

void matmul_int4_f32(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                     int64_t row_begin, int64_t row_end) {
  tiled(Int4WeightsF32Activations{w, x}, n_rows, y, y_stride, row_begin, row_end);
}

void matmul_int4_int8(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                      int64_t row_begin, int64_t row_end) {
  if (w.interleaved_data != nullptr) {
    if (w.scale_dtype == DType::kF16) return matmul_int4_interleaved<DType::kF16>(x, n_rows, w, y, y_stride, row_begin, row_end);
    if (w.scale_dtype == DType::kBF16) return matmul_int4_interleaved<DType::kBF16>(x, n_rows, w, y, y_stride, row_begin, row_end);
    return matmul_int4_interleaved<DType::kF32>(x, n_rows, w, y, y_stride, row_begin, row_end);
  }
  if (w.group_size % 64 == 0) {
    if (w.scale_dtype == DType::kF16) return matmul_int4_nibble_order<DType::kF16>(x, n_rows, w, y, y_stride, row_begin, row_end);
    if (w.scale_dtype == DType::kBF16) return matmul_int4_nibble_order<DType::kBF16>(x, n_rows, w, y, y_stride, row_begin, row_end);
    return matmul_int4_nibble_order<DType::kF32>(x, n_rows, w, y, y_stride, row_begin, row_end);
  }
  tiled(Int4WeightsInt8Activations{w, quantize_rows(x, n_rows, w.cols)}, n_rows, y, y_stride, row_begin, row_end);
}

}  // namespace elephant::kernels::avx2
