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

// How far ahead the quantized kernels prefetch their weights. Weight rows are read one after
// another, each at most a few KiB: the hardware prefetcher alone left the multi-row loops at a
// third of decode's bandwidth on Zen 4 (4 rows × 4096×14336 int4: 4.1 ms without, 1.6 ms with this
// distance; 2048 bytes gave 2.0 ms, 8192 the same as 4096).
inline constexpr int64_t kPrefetchBytes = 4096;
inline constexpr int64_t kOutputBlock = 16;

// Activation rows per pass: a Dot may declare kRowsPerPass (up to 8) when its registers hold more
// rows; a batch's experts get 2-8 rows each, and every extra pass decodes the weights again.
template <typename Dot>
constexpr int rows_per_pass() {
  if constexpr (requires { Dot::kRowsPerPass; }) {
    static_assert(Dot::kRowsPerPass >= 1 && Dot::kRowsPerPass <= 8);
    return Dot::kRowsPerPass;
  } else {
    return kRowsPerPass;
  }
}

// Weight streams per thread: decode (one activation row) reads kWeightStreams weight rows at once,
// taken from evenly spaced points of the row range, so each is a separate sequential stream (the
// interleaved kernels read their blocks the same way, interleaved.h). On Zen 3 four far-apart
// streams per core read ~25% faster than one (the fp32 and bf16 kernels, which read four rows at
// once, streamed 21-25 GB/s where single-row int8/int4 loops streamed 11-17). Two rather than four
// since session 19, on Zen 5 with two threads from DRAM, both bandwidth states, in the same
// minutes (fractions of the read meter, medians, high / low state): AVX-512 int4 g128 interleaved
// 14336×4096 74/89 -> 80-81/94%, 1024×3584 68/86 -> 73/91%, 2048×768 as eight experts in one
// group 66/83 -> 75/89%; AVX-512 int8 interleaved 77/94 -> 85-87/95-96%; AVX2 int4 interleaved
// 76/75 -> 84/90%; AVX2 int8 (this loop) 79/94 -> 84/94%. One stream and three were slower than
// two, six and eight slower than four; without the software prefetch two ran alike on AVX-512 and
// 7-14 points lower on AVX2. Zen 3 was not measured with two.
inline constexpr int kWeightStreams = 2;

template <typename Dot>
concept ComputesOutputTiles = requires(const Dot& dot, const int64_t* o, float* out) {
  dot.template compute<1, 1>(int64_t{0}, o, out);
};

// dot.run<kRows>(i, o, out) for Dots that compute one output row at a time, else compute<kRows, 1>.
template <int kRows, typename Dot>
void run_rows(const Dot& dot, int64_t i, int64_t o, float* out) {
  if constexpr (ComputesOutputTiles<Dot>) {
    dot.template compute<kRows, 1>(i, &o, out);
  } else {
    dot.template run<kRows>(i, o, out);
  }
}

// The decode loop needs a Dot with compute<kRows, kOutputs>(i, o[], out[r * kOutputs + j]), which
// computes every (row, output) pair the same way whatever kRows and kOutputs are, so a row's
// result is the same as in the tiled loop.
template <typename Dot>
void decode_streams(const Dot& dot, float* y, int64_t row_begin, int64_t row_end) {
  const int64_t stride = (row_end - row_begin) / kWeightStreams;
  float out[kWeightStreams];
  for (int64_t t = 0; t < stride; ++t) {
    int64_t o[kWeightStreams];
    for (int j = 0; j < kWeightStreams; ++j) o[j] = row_begin + j * stride + t;
    dot.template compute<1, kWeightStreams>(0, o, out);
    for (int j = 0; j < kWeightStreams; ++j) y[o[j]] = out[j];
  }
  for (int64_t o = row_begin + kWeightStreams * stride; o < row_end; ++o) dot.template compute<1, 1>(0, &o, y + o);
}

// Weight rows per multi-row tile: a Dot that computes output tiles may declare kOutputsPerPass
// (1 or 2) when its registers hold that many; a second output row shares each activation load
// of the pass.
template <typename Dot>
constexpr int outputs_per_pass() {
  if constexpr (requires { Dot::kOutputsPerPass; }) {
    static_assert(ComputesOutputTiles<Dot> && Dot::kOutputsPerPass >= 1 && Dot::kOutputsPerPass <= 2);
    return Dot::kOutputsPerPass;
  } else {
    return 1;
  }
}

// Activation rows [i, i + kRows) against output rows [begin, end).
template <int kRows, typename Dot>
void pass(const Dot& dot, int64_t i, int64_t begin, int64_t end, float* y, int64_t y_stride) {
  constexpr int kOutputs = outputs_per_pass<Dot>();
  float out[kRows * kOutputs];
  int64_t o = begin;
  if constexpr (kOutputs > 1) {
    for (; o + kOutputs <= end; o += kOutputs) {
      int64_t tile[kOutputs];
      for (int j = 0; j < kOutputs; ++j) tile[j] = o + j;
      dot.template compute<kRows, kOutputs>(i, tile, out);
      for (int r = 0; r < kRows; ++r) {
        for (int j = 0; j < kOutputs; ++j) y[(i + r) * y_stride + o + j] = out[r * kOutputs + j];
      }
    }
  }
  for (; o < end; ++o) {
    run_rows<kRows>(dot, i, o, out);
    for (int r = 0; r < kRows; ++r) y[(i + r) * y_stride + o] = out[r];
  }
}

// Runs passes over activation rows [0, n_rows) × output rows [row_begin, row_end); one activation
// row goes to decode_streams when the Dot can compute output tiles.
template <typename Dot>
void tiled(const Dot& dot, int64_t n_rows, float* y, int64_t y_stride, int64_t row_begin, int64_t row_end) {
  if constexpr (ComputesOutputTiles<Dot>) {
    if (n_rows == 1) return decode_streams(dot, y, row_begin, row_end);
  }
  constexpr int kPassRows = rows_per_pass<Dot>();
  for (int64_t block = row_begin; block < row_end; block += kOutputBlock) {
    const int64_t block_end = std::min(block + kOutputBlock, row_end);
    for (int64_t i = 0; i < n_rows; i += kPassRows) {
      switch (std::min<int64_t>(kPassRows, n_rows - i)) {
        case 8: if constexpr (kPassRows >= 8) pass<8>(dot, i, block, block_end, y, y_stride); break;
        case 7: if constexpr (kPassRows >= 7) pass<7>(dot, i, block, block_end, y, y_stride); break;
        case 6: if constexpr (kPassRows >= 6) pass<6>(dot, i, block, block_end, y, y_stride); break;
        case 5: if constexpr (kPassRows >= 5) pass<5>(dot, i, block, block_end, y, y_stride); break;
        case 4: if constexpr (kPassRows >= 4) pass<4>(dot, i, block, block_end, y, y_stride); break;
        case 3: if constexpr (kPassRows >= 3) pass<3>(dot, i, block, block_end, y, y_stride); break;
        case 2: if constexpr (kPassRows >= 2) pass<2>(dot, i, block, block_end, y, y_stride); break;
        default: pass<1>(dot, i, block, block_end, y, y_stride); break;
      }
    }
  }
}

}  // namespace elephant::kernels
