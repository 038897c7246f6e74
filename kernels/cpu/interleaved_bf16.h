// The loop nest of the interleaved BF16 kernels (kernels/interleave.h): output blocks in tiles of
// up to Tile::kBlocksPerTile, columns in chunks of kInterleavedChunkCols that keep a tile's weights
// in L2 through its row passes, activation rows in passes of up to Tile::kRowsPerPass; a range's
// partial first or last block is computed whole into a buffer and its part copied. Between chunks
// each output's sum waits in y, which continues the same sum exactly, so every output is one sum
// over k in increasing order whatever the tile, batch or row range (the MatmulFn contract).
// ISA-neutral like tiled.h: each ISA's file instantiates it with its own Tile (namespaces differ,
// so instantiations never merge). A Tile has kRowsPerPass (1-8), kBlocksPerTile (1-4) and
//   template <int kRows, int kBlocks>
//   void compute(const X* x, int64_t cols, const uint16_t* blocks, int64_t k_begin, int64_t k_end,
//                float* out, int64_t out_stride) const;
// which adds rows [0, kRows) × the 16 outputs of kBlocks consecutive blocks over columns
// [k_begin, k_end) to out[r * out_stride + 16 j + lane] (starting from zero when k_begin is 0).
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/kernels.h"

namespace elephant::kernels {

// Zen 5, 32000×4096, 16 rows, 2 threads: 256 columns (weights in L1) 13.1 ms, 2048 10.1, whole
// rows 11.0 (and whole 14336-column rows re-read their weights from DRAM on every pass).
inline constexpr int64_t kInterleavedChunkCols = 2048;

template <int kRows, typename Tile, typename X>
void interleaved_bf16_tile(const Tile& tile, int blocks, const X* x, int64_t cols, const uint16_t* weights,
                           int64_t k_begin, int64_t k_end, float* out, int64_t out_stride) {
  static_assert(Tile::kBlocksPerTile >= 1 && Tile::kBlocksPerTile <= 4);
  const auto run = [&]<int kBlocks>() {
    tile.template compute<kRows, kBlocks>(x, cols, weights, k_begin, k_end, out, out_stride);
  };
  switch (blocks) {
    case 4: if constexpr (Tile::kBlocksPerTile >= 4) return run.template operator()<4>(); break;
    case 3: if constexpr (Tile::kBlocksPerTile >= 3) return run.template operator()<3>(); break;
    case 2: if constexpr (Tile::kBlocksPerTile >= 2) return run.template operator()<2>(); break;
    default: return run.template operator()<1>();
  }
}

template <typename Tile, typename X>
void interleaved_bf16_tile(const Tile& tile, int rows, int blocks, const X* x, int64_t cols, const uint16_t* weights,
                           int64_t k_begin, int64_t k_end, float* out, int64_t out_stride) {
  static_assert(Tile::kRowsPerPass >= 1 && Tile::kRowsPerPass <= 8);
  const auto run = [&]<int kRows>() {
    interleaved_bf16_tile<kRows>(tile, blocks, x, cols, weights, k_begin, k_end, out, out_stride);
  };
  switch (rows) {
    case 8: if constexpr (Tile::kRowsPerPass >= 8) return run.template operator()<8>(); break;
    case 7: if constexpr (Tile::kRowsPerPass >= 7) return run.template operator()<7>(); break;
    case 6: if constexpr (Tile::kRowsPerPass >= 6) return run.template operator()<6>(); break;
    case 5: if constexpr (Tile::kRowsPerPass >= 5) return run.template operator()<5>(); break;
    case 4: if constexpr (Tile::kRowsPerPass >= 4) return run.template operator()<4>(); break;
    case 3: if constexpr (Tile::kRowsPerPass >= 3) return run.template operator()<3>(); break;
    case 2: if constexpr (Tile::kRowsPerPass >= 2) return run.template operator()<2>(); break;
    default: return run.template operator()<1>();
  }
}

// Outputs [begin, end) of one block, all rows: computed whole into a buffer, the part copied.
template <typename Tile, typename X>
void interleaved_bf16_partial_block(const Tile& tile, const X* x, int64_t n_rows, const WeightMatrix& w, int64_t begin,
                                    int64_t end, float* y, int64_t y_stride) {
  const auto* block = static_cast<const uint16_t*>(w.interleaved_data) + begin / 16 * 16 * w.cols;
  float out[Tile::kRowsPerPass * 16];
  for (int64_t i = 0; i < n_rows; i += Tile::kRowsPerPass) {
    const int rows = static_cast<int>(std::min<int64_t>(Tile::kRowsPerPass, n_rows - i));
    for (int64_t k = 0; k < w.cols; k += kInterleavedChunkCols) {
      const int64_t k_end = std::min(w.cols, k + kInterleavedChunkCols);
      interleaved_bf16_tile(tile, rows, 1, x + i * w.cols, w.cols, block, k, k_end, out, 16);
    }
    for (int r = 0; r < rows; ++r) {
      for (int64_t o = begin; o < end; ++o) y[(i + r) * y_stride + o] = out[r * 16 + o % 16];
    }
  }
}

// y[i, o] for o in [row_begin, row_end) from w.interleaved_data, activation rows x (fp32, or as the
// Tile takes them).
template <typename Tile, typename X>
void interleaved_bf16_matmul(const Tile& tile, const X* x, int64_t n_rows, const WeightMatrix& w, float* y,
                             int64_t y_stride, int64_t row_begin, int64_t row_end) {
  int64_t o = row_begin;
  if (o % 16 != 0) {
    const int64_t end = std::min(row_end, (o / 16 + 1) * 16);
    interleaved_bf16_partial_block(tile, x, n_rows, w, o, end, y, y_stride);
    o = end;
  }
  const auto* data = static_cast<const uint16_t*>(w.interleaved_data);
  while (row_end - o >= 16) {
    const int blocks = static_cast<int>(std::min<int64_t>(Tile::kBlocksPerTile, (row_end - o) / 16));
    const uint16_t* tile_weights = data + o / 16 * 16 * w.cols;
    for (int64_t k = 0; k < w.cols; k += kInterleavedChunkCols) {
      const int64_t k_end = std::min(w.cols, k + kInterleavedChunkCols);
      for (int64_t i = 0; i < n_rows; i += Tile::kRowsPerPass) {
        const int rows = static_cast<int>(std::min<int64_t>(Tile::kRowsPerPass, n_rows - i));
        interleaved_bf16_tile(tile, rows, blocks, x + i * w.cols, w.cols, tile_weights, k, k_end, y + i * y_stride + o,
                              y_stride);
      }
    }
    o += 16 * blocks;
  }
  if (o < row_end) interleaved_bf16_partial_block(tile, x, n_rows, w, o, row_end, y, y_stride);
}

}  // namespace elephant::kernels
