// AVX-512 BF16 matmul for BF16 weights. The fp32 kernel (avx512/matmul.cc) widens every weight and
// runs one FMA per 16 multiply-adds, and with 4+ activation rows it is bound by the FMA rate, not by
// memory (Zen 5, batch 8 of a Mixtral-shaped model: the bf16 attention and LM head took 29% of the
// step). vdpbf16ps does 32 multiply-adds per instruction on the weights as stored, but it needs the
// activations in bf16 too: each row is rounded once per call (round to nearest even), which is the
// relative error of 2^-9 per activation that transformers itself takes in a bf16 model.
//
// Each (row, output) pair owns one accumulator over 32-column blocks in increasing k, the last
// block zero-padded by masked loads, then horizontal_sum's fixed order: the same arithmetic
// whatever the batch or row range (the MatmulFn contract). The tiling repeats avx512/matmul.cc's
// rather than share it, for the reason given there (inline code compiled with other ISA flags).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/avx512/avx512.h"
#include "kernels/cpu/avx512/simd.h"
#include "kernels/cpu/avx512_bf16/avx512_bf16.h"
#include "kernels/cpu/interleaved_bf16.h"

namespace elephant::kernels::avx512_bf16 {
namespace {

constexpr int kRowsPerPass = 4;
constexpr int64_t kPairsPerVector = 32;

// Grows and is never shrunk, so a warm decode step does not allocate.
thread_local std::vector<uint16_t> t_activations;

// The activation rows rounded to bf16, in the same row layout.
const uint16_t* round_activations(const float* x, int64_t n_rows, int64_t cols) {
  const int64_t n = n_rows * cols;
  if (t_activations.size() < static_cast<size_t>(n)) t_activations.resize(static_cast<size_t>(n));
  uint16_t* out = t_activations.data();
  for (int64_t i = 0; i < n; i += kPairsPerVector) {
    const int64_t left = std::min(kPairsPerVector, n - i);
    const __mmask32 present = left == kPairsPerVector ? ~__mmask32{0} : (__mmask32{1} << left) - 1;
    const __m512 low = _mm512_maskz_loadu_ps(static_cast<__mmask16>(present), x + i);
    const __m512 high = _mm512_maskz_loadu_ps(static_cast<__mmask16>(present >> 16), x + i + 16);
    _mm512_mask_storeu_epi16(out + i, present, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(high, low)));
  }
  return out;
}

inline __m512bh load_pairs(const uint16_t* data) { return reinterpret_cast<__m512bh>(_mm512_loadu_si512(data)); }
inline __m512bh load_pairs(const uint16_t* data, __mmask32 present) {
  return reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(present, data));
}

template <int kRows, int kOutputs>
void dot_block(const uint16_t* x, int64_t cols, const uint16_t* w, float* out) {
  __m512 acc[kRows][kOutputs];
  for (int r = 0; r < kRows; ++r) {
    for (int j = 0; j < kOutputs; ++j) acc[r][j] = _mm512_setzero_ps();
  }
  const int64_t vector_cols = cols - cols % kPairsPerVector;
  for (int64_t k = 0; k < vector_cols; k += kPairsPerVector) {
    __m512bh weights[kOutputs];
    for (int j = 0; j < kOutputs; ++j) weights[j] = load_pairs(w + j * cols + k);
    for (int r = 0; r < kRows; ++r) {
      const __m512bh activations = load_pairs(x + r * cols + k);
      for (int j = 0; j < kOutputs; ++j) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], activations, weights[j]);
    }
  }
  if (vector_cols < cols) {
    const __mmask32 present = (__mmask32{1} << (cols - vector_cols)) - 1;
    __m512bh weights[kOutputs];
    for (int j = 0; j < kOutputs; ++j) weights[j] = load_pairs(w + j * cols + vector_cols, present);
    for (int r = 0; r < kRows; ++r) {
      const __m512bh activations = load_pairs(x + r * cols + vector_cols, present);
      for (int j = 0; j < kOutputs; ++j) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], activations, weights[j]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int j = 0; j < kOutputs; ++j) out[r * kOutputs + j] = avx512::horizontal_sum(acc[r][j]);
  }
}

// Outputs [0, n_outputs) of w for activation rows [0, kRows), in tiles of up to kMaxOutputs
// outputs (then 4, 2, 1 for the rest) so accumulators and weights fit the 32 zmm registers.
template <int kRows>
void output_block(const uint16_t* x, int64_t cols, const uint16_t* w, int64_t n_outputs, float* y, int64_t y_stride) {
  constexpr int kMaxOutputs = kRows <= 2 ? 8 : 4;
  float out[kRows * kMaxOutputs];
  for (int64_t j = 0; j < n_outputs;) {
    const int64_t left = n_outputs - j;
    const int64_t count = left >= kMaxOutputs ? kMaxOutputs : left >= 4 ? 4 : left >= 2 ? 2 : 1;
    const uint16_t* w_block = w + j * cols;
    if (count == kMaxOutputs) dot_block<kRows, kMaxOutputs>(x, cols, w_block, out);
    if constexpr (kMaxOutputs == 8) {
      if (count == 4) dot_block<kRows, 4>(x, cols, w_block, out);
    }
    if (count == 2) dot_block<kRows, 2>(x, cols, w_block, out);
    if (count == 1) dot_block<kRows, 1>(x, cols, w_block, out);
    for (int r = 0; r < kRows; ++r) {
      for (int64_t c = 0; c < count; ++c) y[r * y_stride + j + c] = out[r * count + c];
    }
    j += count;
  }
}

// With an interleaved copy (interleave.h; loop nest in interleaved_bf16.h) lane l of a block's
// accumulator is output 16b + l, and one 64-byte load is columns k and k + 1 of 16 outputs,
// exactly the pairs vdpbf16ps takes, against the row's activation pair broadcast to every lane.
// Zen 5, 32000×4096, 16 rows, 2 threads: 1.9-2.1× this file's row-major kernel.
struct InterleavedBf16Tile {
  static constexpr int kRowsPerPass = 8;
  static constexpr int kBlocksPerTile = 3;
  static constexpr int kOneRowBlocksPerTile = 3;

  template <int kRows, int kBlocks, typename Prefetch>
  void compute(const uint16_t* x, int64_t cols, const uint16_t* blocks, int64_t k_begin, int64_t k_end, float* out,
               int64_t out_stride, const Prefetch& prefetch) const {
    __m512 acc[kRows][kBlocks];
    for (int r = 0; r < kRows; ++r) {
      for (int j = 0; j < kBlocks; ++j) {
        acc[r][j] = k_begin == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(out + r * out_stride + 16 * j);
      }
    }
    for (int64_t k = k_begin; k < k_end; k += 2) {
      prefetch.at((k - k_begin) / 2);
      __m512bh weights[kBlocks];
      for (int j = 0; j < kBlocks; ++j) weights[j] = load_pairs(blocks + j * 16 * cols + 16 * k);
      for (int r = 0; r < kRows; ++r) {
        uint32_t pair;
        std::memcpy(&pair, x + r * cols + k, sizeof(pair));
        const auto activations = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int32_t>(pair)));
        for (int j = 0; j < kBlocks; ++j) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], activations, weights[j]);
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
  if (w.dtype != DType::kBF16) return avx512::matmul(x, n_rows, w, y, y_stride, row_begin, row_end);
  const uint16_t* x_bf16 = round_activations(x, n_rows, w.cols);
  if (w.interleaved_data != nullptr) {
    return interleaved_bf16_matmul(InterleavedBf16Tile{}, x_bf16, n_rows, w, y, y_stride, row_begin, row_end);
  }
  const auto* data = static_cast<const uint16_t*>(w.data);
  constexpr int64_t kWeightBlock = 16;
  for (int64_t o = row_begin; o < row_end; o += kWeightBlock) {
    const int64_t n_outputs = std::min(kWeightBlock, row_end - o);
    const uint16_t* w_rows = data + o * w.cols;
    for (int64_t i = 0; i < n_rows; i += kRowsPerPass) {
      const int64_t left = std::min<int64_t>(kRowsPerPass, n_rows - i);
      const uint16_t* x_rows = x_bf16 + i * w.cols;
      float* y_rows = y + i * y_stride + o;
      if (left == 4) output_block<4>(x_rows, w.cols, w_rows, n_outputs, y_rows, y_stride);
      if (left == 3) output_block<3>(x_rows, w.cols, w_rows, n_outputs, y_rows, y_stride);
      if (left == 2) output_block<2>(x_rows, w.cols, w_rows, n_outputs, y_rows, y_stride);
      if (left == 1) output_block<1>(x_rows, w.cols, w_rows, n_outputs, y_rows, y_stride);
    }
  }
}

}  // namespace elephant::kernels::avx512_bf16
