// AVX2 + FMA matmul with the weight widening (BF16, F16 via F16C) done in registers.
//
// Layout: weight rows in blocks of 16; for each block, activation rows in passes of up to
// kRowsPerPass, each pass computing a register tile of rows × outputs (output_block). Every
// (row, output) pair owns one 8-lane accumulator over the 8-column blocks in increasing k,
// reduced horizontally in a fixed order, then the scalar tail (cols % 8) in increasing k. That
// arithmetic is identical whatever the pass size, tile or row range, so a row's result is
// independent of how many rows are in the batch (the MatmulFn contract).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/avx2/avx2.h"
#include "kernels/cpu/avx2/simd.h"
#include "kernels/cpu/interleaved_bf16.h"

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

// kRows activation rows × kOutputs weight rows at once: every loaded activation vector feeds
// kOutputs FMAs and every widened weight vector kRows, and the kRows·kOutputs accumulators are
// independent chains, enough to hide the FMA latency once a pass has a few rows.
template <int kRows, int kOutputs, typename T>
void dot_block(const float* x, int64_t cols, const T* w, DType dtype, float* out) {
  __m256 acc[kRows][kOutputs];
  for (int r = 0; r < kRows; ++r) {
    for (int j = 0; j < kOutputs; ++j) acc[r][j] = _mm256_setzero_ps();
  }
  const int64_t vector_cols = cols - cols % 8;
  for (int64_t k = 0; k < vector_cols; k += 8) {
    __m256 weights[kOutputs];
    for (int j = 0; j < kOutputs; ++j) {
      if constexpr (sizeof(T) == 4) {
        weights[j] = load_weights(w + j * cols + k);
      } else {
        weights[j] = load_weights(w + j * cols + k, dtype);
      }
    }
    for (int r = 0; r < kRows; ++r) {
      __m256 activations = _mm256_loadu_ps(x + r * cols + k);
      // With widened (F16, BF16) weights, which are in registers anyway, GCC folds the activation
      // load into every FMA that uses it instead, loading each activation vector kOutputs times,
      // and with the weight loads that saturates the load ports; an empty asm pins it to a
      // register (measured on Zen 3, one core, BF16: 16-64 rows × 4096² +15-25%, 16 rows × the
      // 32000 × 4096 LM head +15-30%). F32 weights are plain loads that GCC folds in their stead;
      // pinning those too spilled accumulators and halved the speed, so F32 is left as compiled.
      if constexpr (sizeof(T) == 2) __asm__("" : "+x"(activations));
      for (int j = 0; j < kOutputs; ++j) acc[r][j] = _mm256_fmadd_ps(activations, weights[j], acc[r][j]);
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

// Outputs [o, o + n_outputs) for activation rows [i, i + kRows): blocks of up to 16 / kRows
// outputs so that accumulators, weights and one activation vector fit the 16 ymm registers.
template <int kRows, typename T>
void output_block(const float* x, int64_t cols, const T* w, DType dtype, int64_t n_outputs, float* y,
                  int64_t y_stride) {
  constexpr int kMaxOutputs = kRows <= 2 ? 4 : 2;
  float out[kRows * kMaxOutputs];
  for (int64_t j = 0; j < n_outputs; j += kMaxOutputs) {
    const int64_t count = std::min<int64_t>(kMaxOutputs, n_outputs - j);
    const T* w_block = w + j * cols;
    if (count == kMaxOutputs) dot_block<kRows, kMaxOutputs>(x, cols, w_block, dtype, out);
    if constexpr (kMaxOutputs == 4) {
      if (count == 3) dot_block<kRows, 3>(x, cols, w_block, dtype, out);
      if (count == 2) dot_block<kRows, 2>(x, cols, w_block, dtype, out);
    }
    if (count == 1) dot_block<kRows, 1>(x, cols, w_block, dtype, out);
    for (int r = 0; r < kRows; ++r) {
      for (int64_t c = 0; c < count; ++c) y[r * y_stride + j + c] = out[r * count + c];
    }
  }
}

template <typename T>
void matmul_typed(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride, int64_t row_begin,
                  int64_t row_end) {
  const T* data = static_cast<const T*>(w.data);
  // Weight rows in blocks small enough to stay in L2 while every pass of activation rows uses them.
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

// BF16 with an interleaved copy (interleave.h; loop nest in interleaved_bf16.h), in 256-bit
// halves: the first 32 bytes of a column pair's 64 hold outputs 0-7, the next 32 outputs 8-15;
// lane l's two bf16 widen with a shift (even column) and a mask (odd), and each output's sum is
// fma(x_even, w_even), then fma(x_odd, w_odd), in increasing k: the AVX-512 kernel's steps, so
// both give the same bits. Passes of 2 rows × 3 blocks (12 accumulators, each a chain of two FMAs
// per column pair). Zen 5, 16 rows × 4096×4096, two threads: 2 × 2 and 2 × 3 89-91 GMAC/s (the
// checkpoint-layout kernel 80), 3 × 2 82, 4 × 1 58; 2 × 3 reads one row of 1024×4096 in cache in
// 0.096 ms, 2 × 2 in 0.134.
struct InterleavedBf16Tile {
  static constexpr int kRowsPerPass = 2;
  static constexpr int kBlocksPerTile = 3;
  static constexpr int kOneRowBlocksPerTile = 3;

  template <int kRows, int kBlocks, typename Prefetch>
  void compute(const float* x, int64_t cols, const uint16_t* blocks, int64_t k_begin, int64_t k_end, float* out,
               int64_t out_stride, const Prefetch& prefetch) const {
    // One flat array indexed (r, j, h) -> 2 (r kBlocks + j) + h: GCC 12 kept a 3-D one on the stack,
    // storing every accumulator on every step.
    constexpr int kAccumulators = 2 * kRows * kBlocks;
    __m256 acc[kAccumulators];
#pragma GCC unroll 16
    for (int a = 0; a < kAccumulators; ++a) {
      const int r = a / (2 * kBlocks);
      const int column = 8 * (a % (2 * kBlocks));
      acc[a] = k_begin == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(out + r * out_stride + column);
    }
    const __m256i odd_half = _mm256_set1_epi32(static_cast<int32_t>(0xFFFF0000u));
    for (int64_t k = k_begin; k < k_end; k += 2) {
      prefetch.at((k - k_begin) / 2);
#pragma GCC unroll 8
      for (int half = 0; half < 2 * kBlocks; ++half) {
        const __m256i pairs = _mm256_loadu_si256(
            reinterpret_cast<const __m256i*>(blocks + (half / 2) * 16 * cols + 16 * k + 16 * (half % 2)));
        const __m256 even = _mm256_castsi256_ps(_mm256_slli_epi32(pairs, 16));
        const __m256 odd = _mm256_castsi256_ps(_mm256_and_si256(pairs, odd_half));
#pragma GCC unroll 8
        for (int r = 0; r < kRows; ++r) {
          __m256& sum = acc[r * 2 * kBlocks + half];
          sum = _mm256_fmadd_ps(_mm256_broadcast_ss(x + r * cols + k), even, sum);
          sum = _mm256_fmadd_ps(_mm256_broadcast_ss(x + r * cols + k + 1), odd, sum);
        }
      }
    }
#pragma GCC unroll 16
    for (int a = 0; a < kAccumulators; ++a) {
      _mm256_storeu_ps(out + (a / (2 * kBlocks)) * out_stride + 8 * (a % (2 * kBlocks)), acc[a]);
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

}  // namespace elephant::kernels::avx2
