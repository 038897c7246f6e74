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
// reads kWeightStreams weight rows at once. Integer sums are exact, and every (row, output) pair
// takes the same fp32 steps whatever the tile, so a row's result does not depend on the batch.
// Groups of 16 or 32 columns use the AVX2 kernel. An int4 matrix with an interleaved copy
// (interleave.h) is computed from that copy instead, for every call and row count.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/avx2/activations.h"
#include "kernels/cpu/avx2/avx2.h"
#include "kernels/cpu/avx512/avx512.h"
#include "kernels/cpu/avx512/simd.h"
#include "kernels/cpu/interleaved.h"
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

// One group's scale in every lane, in the scale dtype fixed at compile time so the group loop
// carries no dtype branch.
template <DType kScaleType>
__m512 broadcast_scale(const void* scales, int64_t index) {
  if constexpr (kScaleType == DType::kF32) {
    return _mm512_set1_ps(static_cast<const float*>(scales)[index]);
  } else {
    const __m128i bits = _mm_set1_epi16(static_cast<short>(static_cast<const uint16_t*>(scales)[index]));
    if constexpr (kScaleType == DType::kF16) return _mm512_broadcastss_ps(_mm_cvtph_ps(bits));
    return _mm512_broadcastss_ps(_mm_castsi128_ps(_mm_slli_epi32(_mm_cvtepu16_epi32(bits), 16)));
  }
}

inline void prefetch_weights(const void* p) { _mm_prefetch(static_cast<const char*>(p) + kPrefetchBytes, _MM_HINT_T0); }

// 32 packed bytes -> their 64 nibbles as unsigned bytes: low nibbles in the low 256 bits, high
// nibbles in the high 256 (both int4 layouts are defined around this split).
inline __m512i unpack_nibbles(const uint8_t* packed) {
  const __m512i halves_shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
  const __m512i raw = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(packed)));
  return _mm512_and_si512(_mm512_srlv_epi16(raw, halves_shift), _mm512_set1_epi8(0x0f));
}

// Activations offset to unsigned bytes: x + 128 is x with its sign bit flipped.
inline __m512i load_offset_activations(const int8_t* x) {
  return _mm512_xor_si512(_mm512_loadu_si512(x), _mm512_set1_epi8(static_cast<char>(0x80)));
}

// Passes of up to 8 rows × 2 weight rows (Zen 5, one thread, 256×4096 in cache, against 4 × 1:
// 4 rows 152 -> 200 GMAC/s, 7 rows 121 -> 221, 8 rows 152 -> 204).
struct Int8WeightsInt8Activations {
  static constexpr int kRowsPerPass = 8;
  static constexpr int kOutputsPerPass = 2;
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
        prefetch_weights(w_rows[j] + k);
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

// Per group: the exact int32 lanes of Σ nibble·xq, started from the group's offset -8·Σ xq in
// lane 0 (so removing the +8 costs no instruction per weight row), then one convert and one FMA
// against the group's scale. kGroupBlocks is the group's 64-column blocks when fixed at compile
// time (0: read from the matrix): with a runtime count GCC 12 kept the block loop and copied every
// accumulator once per block. Passes of up to 6 rows × 2 weight rows: the second weight row shares
// each activation load (Zen 5, one thread, 512×4096 g128 in cache: 4 rows 122 -> 159 GMAC/s,
// 6 rows 150 -> 169 with both changes). Starting the accumulators with a masked load of the
// offset instead of a broadcast from a scalar cost 10% there.
template <DType kScaleType, int kGroupBlocks>
struct Int4WeightsNibbleOrderActivations {
  // 8 rows × 1 output spilled accumulators to the stack (GCC 12) and ran no faster than 2 × 4.
  static constexpr int kRowsPerPass = 6;
  static constexpr int kOutputsPerPass = 2;
  const WeightMatrix& w;
  const avx2::NibbleOrderActivations& xq;

  // Activation rows [i, i + kRows) × weight rows o[0..kOutputs) into out[r * kOutputs + j]; every
  // (row, output) pair takes the same steps whatever kRows and kOutputs are.
  template <int kRows, int kOutputs>
  void compute(int64_t i, const int64_t* o, float* out) const {
    const int64_t cols = w.cols;
    const int64_t group_blocks = kGroupBlocks > 0 ? kGroupBlocks : w.group_size / 64;
    const int64_t groups = cols / (64 * group_blocks);
    const uint8_t* w_rows[kOutputs];
    for (int j = 0; j < kOutputs; ++j) w_rows[j] = static_cast<const uint8_t*>(w.data) + o[j] * (cols / 2);
    const int8_t* x_block = xq.values.data() + i * cols;
    const int32_t* group_offsets = xq.group_offsets.data() + i * groups;
    __m512 total[kRows][kOutputs];
    for (int r = 0; r < kRows; ++r) {
      for (int j = 0; j < kOutputs; ++j) total[r][j] = _mm512_setzero_ps();
    }
    for (int64_t g = 0; g < groups; ++g) {
      __m512i partial[kRows][kOutputs];
      for (int r = 0; r < kRows; ++r) {
        const __m512i offset = _mm512_maskz_set1_epi32(1, group_offsets[r * groups + g]);
        for (int j = 0; j < kOutputs; ++j) partial[r][j] = offset;
      }
      for (int64_t b = 0; b < group_blocks; ++b, x_block += 64) {
        __m512i xv[kRows];
        for (int r = 0; r < kRows; ++r) xv[r] = _mm512_loadu_si512(x_block + r * cols);
        for (int j = 0; j < kOutputs; ++j) {
          prefetch_weights(w_rows[j]);
          const __m512i nibbles = unpack_nibbles(w_rows[j]);
          w_rows[j] += 32;
          for (int r = 0; r < kRows; ++r) partial[r][j] = _mm512_dpbusd_epi32(partial[r][j], nibbles, xv[r]);
        }
      }
      for (int j = 0; j < kOutputs; ++j) {
        const __m512 scale = broadcast_scale<kScaleType>(w.scales, o[j] * groups + g);
        for (int r = 0; r < kRows; ++r) total[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(partial[r][j]), scale, total[r][j]);
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
  const auto& xq = avx2::quantize_rows_nibble_order(x, n_rows, w.cols, w.group_size);
  if (w.group_size == 128) {
    tiled(Int4WeightsNibbleOrderActivations<kScaleType, 2>{w, xq}, n_rows, y, y_stride, row_begin, row_end);
  } else {
    tiled(Int4WeightsNibbleOrderActivations<kScaleType, 0>{w, xq}, n_rows, y, y_stride, row_begin, row_end);
  }
}

// 16 consecutive scales, one per lane: an interleaved block's int4 group scales (interleave.h) or an int8
// block's per-output scales.
template <DType kScaleType>
__m512 load_block_scales(const void* scales, int64_t index) {
  if constexpr (kScaleType == DType::kF32) {
    return _mm512_loadu_ps(static_cast<const float*>(scales) + index);
  } else {
    const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(scales) + index));
    if constexpr (kScaleType == DType::kF16) return _mm512_cvtph_ps(bits);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
  }
}

// Interleaved int4 (interleave.h): lane l of a block's accumulator is output 16b + l. Per
// 4-column quad: 32 packed bytes broadcast and shifted by 0 | 4 give the 64 nibbles of 16 outputs
// × 4 columns, and 4 activations broadcast to every lane are the other operand; per group the
// exact int32 sums (started at -8·Σx) take one convert and one FMA against the block's 16 scales.
// Each output's result is Σ_g float(sum_g)·scale_g in increasing g, times the row's scale, whatever
// kRows and kBlocks are. kGroupQuads: the group's quads when fixed at compile time (0: read).
// Zen 5, one thread, 512×4096 g128 in cache, against the row-major kernel: 1 row 1.2×, 2-8 rows
// 1.8-2.0×; two threads from DRAM, 4096×14336, 4-6 rows: 1.9-2.1× (then bound by memory).
template <DType kScaleType, int kGroupQuads>
struct Int4Interleaved {
  static constexpr int kMaxRows = 6;
  const WeightMatrix& w;
  const avx2::GroupedActivations& xq;

  // Activation rows [i, i + kRows) × the 16 outputs of blocks block[0..kBlocks) into
  // out[r * out_stride + 16 (block[j] - first_block) + lane].
  template <int kRows, int kBlocks>
  void compute(int64_t i, const int64_t* block, float* out, int64_t out_stride, int64_t first_block) const {
    const int64_t cols = w.cols;
    const int64_t group_quads = kGroupQuads > 0 ? kGroupQuads : w.group_size / 4;
    const int64_t groups = cols / w.group_size;
    const uint8_t* blocks[kBlocks];
    for (int j = 0; j < kBlocks; ++j) blocks[j] = static_cast<const uint8_t*>(w.interleaved_data) + block[j] * 8 * cols;
    const int8_t* x_rows = xq.values.data() + i * cols;
    const int32_t* group_offsets = xq.group_offsets.data() + i * groups;
    __m512 total[kRows][kBlocks];
    for (int r = 0; r < kRows; ++r) {
      for (int j = 0; j < kBlocks; ++j) total[r][j] = _mm512_setzero_ps();
    }
    for (int64_t g = 0; g < groups; ++g) {
      __m512i partial[kRows][kBlocks];
      for (int r = 0; r < kRows; ++r) {
        const __m512i offset = _mm512_set1_epi32(group_offsets[r * groups + g]);
        for (int j = 0; j < kBlocks; ++j) partial[r][j] = offset;
      }
      const int64_t first_quad = g * group_quads;
      // Two quads per iteration (a group has an even number), so the prefetch needs no test.
      for (int64_t q = first_quad; q < first_quad + group_quads; q += 2) {
        for (int64_t step = 0; step < 2; ++step) {
          __m512i nibbles[kBlocks];
          for (int j = 0; j < kBlocks; ++j) {
            const uint8_t* packed = blocks[j] + (q + step) * 32;
            if (step == 0) prefetch_weights(packed);
            nibbles[j] = unpack_nibbles(packed);
          }
          for (int r = 0; r < kRows; ++r) {
            const __m512i activations = _mm512_broadcastd_epi32(_mm_loadu_si32(x_rows + r * cols + 4 * (q + step)));
            for (int j = 0; j < kBlocks; ++j) dpbusd_into(partial[r][j], nibbles[j], activations);
          }
        }
      }
      for (int j = 0; j < kBlocks; ++j) {
        const __m512 scales = load_block_scales<kScaleType>(w.interleaved_scales, (block[j] * groups + g) * 16);
        for (int r = 0; r < kRows; ++r) total[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(partial[r][j]), scales, total[r][j]);
      }
    }
    for (int r = 0; r < kRows; ++r) {
      const __m512 row_scale = _mm512_set1_ps(xq.scales[static_cast<size_t>(i + r)]);
      for (int j = 0; j < kBlocks; ++j) {
        _mm512_storeu_ps(out + r * out_stride + 16 * (block[j] - first_block), _mm512_mul_ps(total[r][j], row_scale));
      }
    }
  }
};

// Interleaved int8 (interleave.h): lane l of a block's accumulator is output 16b + l. Per 4-column
// quad, one 64-byte load is the unsigned operand as stored (w + 128) and 4 activations broadcast to
// every lane the signed one; each output's sum starts at -128·Σx, so it is Σ w·x exactly, and the
// result is float(sum) · (x scale · w scale) as the checkpoint-layout kernel computes it: the same
// value bit for bit, with no per-call weight sums and no horizontal sums.
template <DType kScaleType>
struct Int8Interleaved {
  static constexpr int kMaxRows = 8;
  const WeightMatrix& w;
  const avx2::ActivationScratch& xq;

  template <int kRows, int kBlocks>
  void compute(int64_t i, const int64_t* block, float* out, int64_t out_stride, int64_t first_block) const {
    const int64_t cols = w.cols;
    const uint8_t* blocks[kBlocks];
    for (int j = 0; j < kBlocks; ++j) blocks[j] = static_cast<const uint8_t*>(w.interleaved_data) + block[j] * 16 * cols;
    const int8_t* x_rows = xq.values.data() + i * cols;
    __m512i acc[kRows][kBlocks];
    for (int r = 0; r < kRows; ++r) {
      const __m512i offset = _mm512_set1_epi32(-128 * xq.sums[static_cast<size_t>(i + r)]);
      for (int j = 0; j < kBlocks; ++j) acc[r][j] = offset;
    }
    // Two quads per iteration (interleave.h keeps their number even). The intrinsic, not
    // dpbusd_into: with the asm GCC 12 kept these accumulators on the stack around every vpdpbusd.
    for (int64_t q = 0; q < cols / 4; q += 2) {
      for (int64_t step = 0; step < 2; ++step) {
        __m512i weights[kBlocks];
        for (int j = 0; j < kBlocks; ++j) {
          prefetch_weights(blocks[j] + (q + step) * 64);
          weights[j] = _mm512_loadu_si512(blocks[j] + (q + step) * 64);
        }
        for (int r = 0; r < kRows; ++r) {
          const __m512i activations = _mm512_broadcastd_epi32(_mm_loadu_si32(x_rows + r * cols + 4 * (q + step)));
          for (int j = 0; j < kBlocks; ++j) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], weights[j], activations);
        }
      }
    }
    for (int j = 0; j < kBlocks; ++j) {
      const __m512 scales = load_block_scales<kScaleType>(w.scales, block[j] * 16);
      for (int r = 0; r < kRows; ++r) {
        const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(xq.scales[static_cast<size_t>(i + r)]), scales);
        _mm512_storeu_ps(out + r * out_stride + 16 * (block[j] - first_block),
                         _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][j]), scale));
      }
    }
  }
};

template <DType kScaleType>
void matmul_int4_interleaved(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                             int64_t row_begin, int64_t row_end) {
  const auto& xq = avx2::quantize_rows_grouped(x, n_rows, w.cols, w.group_size);
  if (w.group_size == 128) {
    run_interleaved(Int4Interleaved<kScaleType, 32>{w, xq}, n_rows, y, y_stride, row_begin, row_end);
  } else {
    run_interleaved(Int4Interleaved<kScaleType, 0>{w, xq}, n_rows, y, y_stride, row_begin, row_end);
  }
}

}  // namespace

void matmul_int8_int8(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                      int64_t row_begin, int64_t row_end) {
  if (w.interleaved_data != nullptr) {
    const auto& xq = avx2::quantize_rows(x, n_rows, w.cols);
    if (w.scale_dtype == DType::kF16) return run_interleaved(Int8Interleaved<DType::kF16>{w, xq}, n_rows, y, y_stride, row_begin, row_end);
    if (w.scale_dtype == DType::kBF16) return run_interleaved(Int8Interleaved<DType::kBF16>{w, xq}, n_rows, y, y_stride, row_begin, row_end);
    return run_interleaved(Int8Interleaved<DType::kF32>{w, xq}, n_rows, y, y_stride, row_begin, row_end);
  }
  tiled(Int8WeightsInt8Activations{w, avx2::quantize_rows(x, n_rows, w.cols)}, n_rows, y, y_stride, row_begin, row_end);
}

void matmul_int4_int8(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                      int64_t row_begin, int64_t row_end) {
  if (w.interleaved_data != nullptr) {
    if (w.scale_dtype == DType::kF16) return matmul_int4_interleaved<DType::kF16>(x, n_rows, w, y, y_stride, row_begin, row_end);
    if (w.scale_dtype == DType::kBF16) return matmul_int4_interleaved<DType::kBF16>(x, n_rows, w, y, y_stride, row_begin, row_end);
    return matmul_int4_interleaved<DType::kF32>(x, n_rows, w, y, y_stride, row_begin, row_end);
  }
  if (w.group_size % 64 != 0) {
    avx2::matmul_int4_int8(x, n_rows, w, y, y_stride, row_begin, row_end);
    return;
  }
  if (w.scale_dtype == DType::kF16) return matmul_int4_nibble_order<DType::kF16>(x, n_rows, w, y, y_stride, row_begin, row_end);
  if (w.scale_dtype == DType::kBF16) return matmul_int4_nibble_order<DType::kBF16>(x, n_rows, w, y, y_stride, row_begin, row_end);
  matmul_int4_nibble_order<DType::kF32>(x, n_rows, w, y, y_stride, row_begin, row_end);
}

}  // namespace elephant::kernels::avx512
