// AVX-512F matmul: the AVX2 kernel's structure (kernels/cpu/avx2/matmul.cc) with 16-lane vectors
// and, with 32 registers, register tiles twice as wide. Weights are widened in registers (F16 via
// vcvtph2ps, BF16 by a shift). Each (row, output) pair owns one accumulator over 16-column blocks
// in increasing k, reduced in horizontal_sum's fixed order, then the scalar tail: the same
// arithmetic whatever the batch or row range (the MatmulFn contract).
//
// The helpers below repeat the AVX2 file's rather than share a header on purpose: an inline
// function compiled here with -mavx512f could be the copy the linker keeps for the AVX2 path too,
// and then run on CPUs without AVX-512.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/avx512/avx512.h"
#include "kernels/cpu/avx512/simd.h"
#include "kernels/cpu/interleaved_bf16.h"

namespace elephant::kernels::avx512 {
namespace {

constexpr int kRowsPerPass = 4;

inline __m512 load_weights(const float* data) { return _mm512_loadu_ps(data); }
inline __m512 load_weights(const uint16_t* data, DType dtype) {
  const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data));
  if (dtype == DType::kF16) return _mm512_cvtph_ps(raw);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
}

inline float widen_scalar(const float* data, int64_t k, DType) { return data[k]; }
inline float widen_scalar(const uint16_t* data, int64_t k, DType dtype) {
  if (dtype == DType::kF16) return _cvtsh_ss(data[k]);
  const uint32_t bits = static_cast<uint32_t>(data[k]) << 16;
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

template <int kRows, int kOutputs, typename T>
void dot_block(const float* x, int64_t cols, const T* w, DType dtype, float* out) {
  __m512 acc[kRows][kOutputs];
  for (int r = 0; r < kRows; ++r) {
    for (int j = 0; j < kOutputs; ++j) acc[r][j] = _mm512_setzero_ps();
  }
  const int64_t vector_cols = cols - cols % 16;
  for (int64_t k = 0; k < vector_cols; k += 16) {
    __m512 weights[kOutputs];
    for (int j = 0; j < kOutputs; ++j) {
      if constexpr (sizeof(T) == 4) {
        weights[j] = load_weights(w + j * cols + k);
      } else {
        weights[j] = load_weights(w + j * cols + k, dtype);
      }
    }
    for (int r = 0; r < kRows; ++r) {
      const __m512 activations = _mm512_loadu_ps(x + r * cols + k);
      for (int j = 0; j < kOutputs; ++j) acc[r][j] = _mm512_fmadd_ps(activations, weights[j], acc[r][j]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int j = 0; j < kOutputs; ++j) {
      float sum = horizontal_sum(acc[r][j]);
      for (int64_t k = vector_cols; k < cols; ++k) sum += x[r * cols + k] * widen_scalar(w + j * cols, k, dtype);
      out[r * kOutputs + j] = sum;
    }
  }
}

// Outputs [o, o + n_outputs) for activation rows [i, i + kRows), in tiles of up to kMaxOutputs
// outputs (then 4, 2, 1 for the rest) so accumulators and weights fit the 32 zmm registers.
template <int kRows, typename T>
void output_block(const float* x, int64_t cols, const T* w, DType dtype, int64_t n_outputs, float* y,
                  int64_t y_stride) {
  constexpr int kMaxOutputs = kRows <= 2 ? 8 : 4;
  float out[kRows * kMaxOutputs];
  for (int64_t j = 0; j < n_outputs;) {
    const int64_t left = n_outputs - j;
    const int64_t count = left >= kMaxOutputs ? kMaxOutputs : left >= 4 ? 4 : left >= 2 ? 2 : 1;
    const T* w_block = w + j * cols;
    if (count == kMaxOutputs) dot_block<kRows, kMaxOutputs>(x, cols, w_block, dtype, out);
    if constexpr (kMaxOutputs == 8) {
      if (count == 4) dot_block<kRows, 4>(x, cols, w_block, dtype, out);
    }
    if (count == 2) dot_block<kRows, 2>(x, cols, w_block, dtype, out);
    if (count == 1) dot_block<kRows, 1>(x, cols, w_block, dtype, out);
    for (int r = 0; r < kRows; ++r) {
      for (int64_t c = 0; c < count; ++c) y[r * y_stride + j + c] = out[r * count + c];
    }
    j += count;
  }
}

template <typename T>
void matmul_typed(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride, int64_t row_begin,
                  int64_t row_end) {
  const T* data = static_cast<const T*>(w.data);
  constexpr int64_t kWeightBlock = 16;
  for (int64_t o = row_begin; o < row_end; o += kWeightBlock) {
    const int64_t n_outputs = std::min(kWeightBlock, row_end - o);
    const T* w_rows = data + o * w.cols;
    for (int64_t i = 0; i < n_rows; i += kRowsPerPass) {
      const int64_t left = std::min<int64_t>(kRowsPerPass, n_rows - i);
      const float* x_rows = x + i * w.cols;
      float* y_rows = y + i * y_stride + o;
      if (left == 4) output_block<4>(x_rows, w.cols, w_rows, w.dtype, n_outputs, y_rows, y_stride);
      if (left == 3) output_block<3>(x_rows, w.cols, w_rows, w.dtype, n_outputs, y_rows, y_stride);
      if (left == 2) output_block<2>(x_rows, w.cols, w_rows, w.dtype, n_outputs, y_rows, y_stride);
      if (left == 1) output_block<1>(x_rows, w.cols, w_rows, w.dtype, n_outputs, y_rows, y_stride);
    }
  }
}

// BF16 with an interleaved copy (interleave.h; loop nest in interleaved_bf16.h): lane l of a
// block's accumulator is output 16b + l. One 64-byte load holds columns k and k + 1 of 16 outputs;
// a shift (even column) and a mask (odd) widen them exactly, and each meets one broadcast
// activation: all even columns' FMAs of a step, then all odd ones, so only kBlocks widened vectors
// are live (with both halves at once GCC 12 kept three of a 6 × 4 tile's accumulators on the
// stack). Zen 5, 32000×4096 (an LM head), 2 threads: 4 rows 2.0× the row-major kernel, 16 rows
// 1.6×, 1 row 1.15×; passes of 6 rows × 3 blocks against 6 × 4 (alternated, from DRAM): 8 rows
// 5.03-5.06 -> 4.78-4.80 ms, 16 rows 8.26-8.83 -> 7.84-8.36, one row equal.
struct InterleavedBf16Tile {
  static constexpr int kRowsPerPass = 6;
  static constexpr int kBlocksPerTile = 3;
  static constexpr int kOneRowBlocksPerTile = 4;

  template <int kRows, int kBlocks, typename Prefetch>
  void compute(const float* x, int64_t cols, const uint16_t* blocks, int64_t k_begin, int64_t k_end, float* out,
               int64_t out_stride, const Prefetch& prefetch) const {
    __m512 acc[kRows][kBlocks];
    for (int r = 0; r < kRows; ++r) {
      for (int j = 0; j < kBlocks; ++j) {
        acc[r][j] = k_begin == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(out + r * out_stride + 16 * j);
      }
    }
    const __m512i odd_half = _mm512_set1_epi32(static_cast<int32_t>(0xFFFF0000u));
    for (int64_t k = k_begin; k < k_end; k += 2) {
      __m512 column[kBlocks];
      for (int j = 0; j < kBlocks; ++j) {
        const __m512i pairs = _mm512_loadu_si512(blocks + j * 16 * cols + 16 * k);
        column[j] = _mm512_castsi512_ps(_mm512_slli_epi32(pairs, 16));
      }
      prefetch.at((k - k_begin) / 2);
      for (int r = 0; r < kRows; ++r) {
        const __m512 x_even = _mm512_set1_ps(x[r * cols + k]);
        for (int j = 0; j < kBlocks; ++j) acc[r][j] = _mm512_fmadd_ps(x_even, column[j], acc[r][j]);
      }
      for (int j = 0; j < kBlocks; ++j) {
        const __m512i pairs = _mm512_loadu_si512(blocks + j * 16 * cols + 16 * k);
        column[j] = _mm512_castsi512_ps(_mm512_and_si512(pairs, odd_half));
      }
      for (int r = 0; r < kRows; ++r) {
        const __m512 x_odd = _mm512_set1_ps(x[r * cols + k + 1]);
        for (int j = 0; j < kBlocks; ++j) acc[r][j] = _mm512_fmadd_ps(x_odd, column[j], acc[r][j]);
      }
    }
    for (int r = 0; r < kRows; ++r) {
      for (int j = 0; j < kBlocks; ++j) _mm512_storeu_ps(out + r * out_stride + 16 * j, acc[r][j]);
    }
  }
};

}  // namespace

void matmul(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride, int64_t row_begin,
            int64_t row_end) {
  if (w.interleaved_data != nullptr) {
    return interleaved_bf16_matmul(InterleavedBf16Tile{}, x, n_rows, w, y, y_stride, row_begin, row_end);
  }
  if (w.dtype == DType::kF32) {
    matmul_typed<float>(x, n_rows, w, y, y_stride, row_begin, row_end);
  } else {
    matmul_typed<uint16_t>(x, n_rows, w, y, y_stride, row_begin, row_end);
  }
}

}  // namespace elephant::kernels::avx512
