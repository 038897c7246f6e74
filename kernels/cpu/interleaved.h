// The loop nest of the interleaved int4 and int8 kernels (kernels/interleave.h). ISA-neutral like
// tiled.h: each ISA's file instantiates it with its own Dot (namespaces differ, so instantiations
// never merge).
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/tiled.h"

namespace elephant::kernels {

// For a Dot with kMaxRows and
// compute<kRows, kBlocks>(i, block[], out, out_stride, first_block), which writes rows
// [i, i + kRows) × the 16 outputs of each block to out[r * out_stride + 16 (block[j] - first_block)
// + lane] the same way whatever kRows and kBlocks.
//
// Blocks are the outer loop and chunks of kMaxRows activation rows the inner one, so a block is
// read from memory once whatever the row count (later chunks find it in L1/L2). Whole blocks go
// kWeightStreams at a time from evenly spaced points of the range (tiled.h; for every row count),
// so each is one long sequential stream: neighbouring blocks restarted the prefetch every block
// (int4 4096 columns: 32 KiB), 14336×4096 at 2-6 rows 20-30% slower than at one row. A range's
// partial first or last block is computed whole into a buffer and copied.

// Activation rows [i, i + rows), rows <= kMaxRows, into out[(r - i) * out_stride + ...].
template <int kBlocks, typename Dot>
void compute_rows(const Dot& dot, int64_t i, int64_t rows, const int64_t* blocks, float* out, int64_t out_stride,
                  int64_t first_block) {
  static_assert(Dot::kMaxRows >= 1 && Dot::kMaxRows <= 8);
  switch (rows) {
    case 8: if constexpr (Dot::kMaxRows >= 8) dot.template compute<8, kBlocks>(i, blocks, out, out_stride, first_block); break;
    case 7: if constexpr (Dot::kMaxRows >= 7) dot.template compute<7, kBlocks>(i, blocks, out, out_stride, first_block); break;
    case 6: if constexpr (Dot::kMaxRows >= 6) dot.template compute<6, kBlocks>(i, blocks, out, out_stride, first_block); break;
    case 5: if constexpr (Dot::kMaxRows >= 5) dot.template compute<5, kBlocks>(i, blocks, out, out_stride, first_block); break;
    case 4: if constexpr (Dot::kMaxRows >= 4) dot.template compute<4, kBlocks>(i, blocks, out, out_stride, first_block); break;
    case 3: if constexpr (Dot::kMaxRows >= 3) dot.template compute<3, kBlocks>(i, blocks, out, out_stride, first_block); break;
    case 2: if constexpr (Dot::kMaxRows >= 2) dot.template compute<2, kBlocks>(i, blocks, out, out_stride, first_block); break;
    default: dot.template compute<1, kBlocks>(i, blocks, out, out_stride, first_block); break;
  }
}

// Every activation row against whole blocks block[0..kBlocks), in chunks of kMaxRows rows.
template <int kBlocks, typename Dot>
void all_row_chunks(const Dot& dot, int64_t n_rows, const int64_t* blocks, float* y, int64_t y_stride) {
  for (int64_t i = 0; i < n_rows; i += Dot::kMaxRows) {
    compute_rows<kBlocks>(dot, i, std::min<int64_t>(Dot::kMaxRows, n_rows - i), blocks, y + i * y_stride, y_stride, 0);
  }
}

template <typename Dot>
void interleaved_partial_block(const Dot& dot, int64_t n_rows, int64_t begin, int64_t end, float* y, int64_t y_stride) {
  float block_out[Dot::kMaxRows * 16];
  const int64_t block = begin / 16;
  for (int64_t i = 0; i < n_rows; i += Dot::kMaxRows) {
    const int64_t rows = std::min<int64_t>(Dot::kMaxRows, n_rows - i);
    compute_rows<1>(dot, i, rows, &block, block_out, 16, block);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t o = begin; o < end; ++o) y[(i + r) * y_stride + o] = block_out[r * 16 + o % 16];
    }
  }
}

template <int kStreams, typename Dot>
int64_t interleaved_streams(const Dot& dot, int64_t n_rows, int64_t first, int64_t whole, float* y, int64_t y_stride) {
  const int64_t stride = whole / kStreams;
  for (int64_t t = 0; t < stride; ++t) {
    int64_t blocks[kStreams];
    for (int j = 0; j < kStreams; ++j) blocks[j] = first + j * stride + t;
    all_row_chunks<kStreams>(dot, n_rows, blocks, y, y_stride);
  }
  return kStreams * stride;
}

template <typename Dot>
void run_interleaved(const Dot& dot, int64_t n_rows, float* y, int64_t y_stride, int64_t row_begin, int64_t row_end) {
  int64_t o = row_begin;
  if (o % 16 != 0) {
    const int64_t end = std::min(row_end, (o / 16 + 1) * 16);
    interleaved_partial_block(dot, n_rows, o, end, y, y_stride);
    o = end;
  }
  const int64_t first = o / 16;
  const int64_t whole = (row_end - o) / 16;
  int64_t done = interleaved_streams<kWeightStreams>(dot, n_rows, first, whole, y, y_stride);
  for (; done < whole; ++done) {
    const int64_t block = first + done;
    all_row_chunks<1>(dot, n_rows, &block, y, y_stride);
  }
  o += 16 * whole;
  if (o < row_end) interleaved_partial_block(dot, n_rows, o, row_end, y, y_stride);
}

}  // namespace elephant::kernels
