// The loop nest the quantized CPU kernels share: output rows in blocks of kOutputBlock; inside a
// block, activation rows in passes of up to kRowsPerPass, each pass applied to every output row of
// the block, so a decoded weight vector serves the rows of a pass and a pass's activations stay in
// L1 while the block's weight rows are reused from L1/L2. ISA-neutral: each ISA's file
// instantiates it with its own Dot (namespaces differ, so instantiations never merge).
#pragma once

#include <algorithm>
#include <cstdint>

namespace elephant::kernels {

inline constexpr int kRowsPerPass = 4;
inline constexpr int64_t kOutputBlock = 16;

// Decode (one activation row) with kDecodeStreams weight rows at once, taken from evenly spaced
// points of the row range: each is a separate sequential stream, and on Zen 3 four far-apart
// streams per core read ~25% faster than one (the fp32 and bf16 kernels, which read four rows at
// once, streamed 21-25 GB/s where single-row int8/int4 loops streamed 11-17). The Dot computes
// each row exactly as its run<1> does, so a row's result is the same in both loops.
inline constexpr int kDecodeStreams = 4;

template <typename Dot>
void decode_streams(const Dot& dot, float* y, int64_t row_begin, int64_t row_end) {
  const int64_t stride = (row_end - row_begin) / kDecodeStreams;
  float out[kDecodeStreams];
  for (int64_t t = 0; t < stride; ++t) {
    int64_t o[kDecodeStreams];
    for (int j = 0; j < kDecodeStreams; ++j) o[j] = row_begin + j * stride + t;
    dot.template run_outputs<kDecodeStreams>(o, out);
    for (int j = 0; j < kDecodeStreams; ++j) y[o[j]] = out[j];
  }
  for (int64_t o = row_begin + kDecodeStreams * stride; o < row_end; ++o) dot.template run_outputs<1>(&o, y + o);
}

// Runs dot.run<kRows>(i, o, out) over activation rows [0, n_rows) × output rows [row_begin, row_end).
template <typename Dot>
void tiled(const Dot& dot, int64_t n_rows, float* y, int64_t y_stride, int64_t row_begin, int64_t row_end) {
  if constexpr (requires(const int64_t* o, float* out) { dot.template run_outputs<1>(o, out); }) {
    if (n_rows == 1) return decode_streams(dot, y, row_begin, row_end);
  }
  float out[kRowsPerPass];
  for (int64_t block = row_begin; block < row_end; block += kOutputBlock) {
    const int64_t block_end = std::min(block + kOutputBlock, row_end);
    for (int64_t i = 0; i < n_rows; i += kRowsPerPass) {
      const int64_t left = std::min<int64_t>(kRowsPerPass, n_rows - i);
      for (int64_t o = block; o < block_end; ++o) {
        if (left == 4) dot.template run<4>(i, o, out);
        if (left == 3) dot.template run<3>(i, o, out);
        if (left == 2) dot.template run<2>(i, o, out);
        if (left == 1) dot.template run<1>(i, o, out);
        for (int64_t r = 0; r < left; ++r) y[(i + r) * y_stride + o] = out[r];
      }
    }
  }
}

}  // namespace elephant::kernels
