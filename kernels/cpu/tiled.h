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

// Runs dot.run<kRows>(i, o, out) over activation rows [0, n_rows) × output rows [row_begin, row_end).
template <typename Dot>
void tiled(const Dot& dot, int64_t n_rows, float* y, int64_t y_stride, int64_t row_begin, int64_t row_end) {
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
