// The loop nest of the interleaved BF16 kernels (kernels/interleave.h): output blocks in tiles of
// up to Tile::kBlocksPerTile, columns in chunks of kInterleavedChunkCols that keep a tile's weights
// in L2 through its row passes, activation rows in passes of up to Tile::kRowsPerPass; a range's
// partial first or last block is computed whole into a buffer and its part copied. Between chunks
// each output's sum waits in y, which continues the same sum exactly, so every output is one sum
// over k in increasing order whatever the tile, batch or row range (the MatmulFn contract).
// ISA-neutral like tiled.h: each ISA's file instantiates it with its own Tile (namespaces differ,
// so instantiations never merge). A Tile has kRowsPerPass (1-8), kBlocksPerTile (1-4), the blocks
// per tile for a single row, kOneRowBlocksPerTile (1-4: decode wants more streams), and
//   template <int kRows, int kBlocks, typename Prefetch>
//   void compute(const X* x, int64_t cols, const uint16_t* blocks, int64_t k_begin, int64_t k_end,
//                float* out, int64_t out_stride, const Prefetch& prefetch) const;
// which adds rows [0, kRows) × the 16 outputs of kBlocks consecutive blocks over columns
// [k_begin, k_end) to out[r * out_stride + 16 j + lane] (starting from zero when k_begin is 0),
// calling prefetch.at((k - k_begin) / 2) once per column pair.
#pragma once

#include <algorithm>
#include <cstdint>

#include <xmmintrin.h>

#include "kernels/kernels.h"

namespace elephant::kernels {

// Zen 5, 32000×4096, 16 rows, 2 threads: 256 columns (weights in L1) 13.1 ms, 2048 10.1, whole
// rows 11.0 (and whole 14336-column rows re-read their weights from DRAM on every pass).
inline constexpr int64_t kInterleavedChunkCols = 2048;

// The next chunk's weights, brought in by the row passes of the current one: with more rows than
// one pass, only a chunk's first pass read DRAM (through the hardware prefetcher) and the others
// computed from L2 with the memory idle, so a chunk took its read time plus the later passes'
// compute time instead of the longer of the two. Each pass takes whole blocks of the next chunk (bit
// j of `blocks`: block j), in proportion to its rows, and prefetches one column pair of each per
// step, at the pair it computes.
struct NextChunkPrefetch {
  const char* next = nullptr;  // the next chunk's first column pair in its first block
  int64_t block_bytes = 0;     // from one block to the next
  unsigned blocks = 0;

  // Past the next chunk's last pair (a shorter chunk) it fetches what follows: wasted, never a fault.
  // Always inlined: GCC 12 finds a function made of prefetches free of side effects and deletes
  // the calls to it.
  [[gnu::always_inline]] void at(int64_t pair) const {
    const char* line = next + 64 * pair;
    if (blocks & 1) _mm_prefetch(line, _MM_HINT_T0);
    if (blocks & 2) _mm_prefetch(line + block_bytes, _MM_HINT_T0);
    if (blocks & 4) _mm_prefetch(line + 2 * block_bytes, _MM_HINT_T0);
    if (blocks & 8) _mm_prefetch(line + 3 * block_bytes, _MM_HINT_T0);
  }
};

// The share of the pass over rows [i, i + rows) of n_rows: block j of the next chunk goes to the
// pass holding row (j + 1/2) n_rows / next_blocks. Nothing when one pass covers every row.
template <typename Tile>
NextChunkPrefetch next_chunk_share(const uint16_t* next, int next_blocks, int64_t cols, int64_t n_rows, int64_t i,
                                   int64_t rows) {
  NextChunkPrefetch share{reinterpret_cast<const char*>(next), 32 * cols, 0};
  for (int j = 0; n_rows > Tile::kRowsPerPass && j < next_blocks; ++j) {
    const int64_t at = (2 * j + 1) * n_rows;
    if (at >= 2 * next_blocks * i && at < 2 * next_blocks * (i + rows)) share.blocks |= 1u << j;
  }
  return share;
}

// A pass that prefetches nothing (one pass per chunk, or the pass's share is empty): its loop
// carries no prefetch tests (one row from DRAM was 5-7% slower with them).
struct NoPrefetch {
  void at(int64_t) const {}
};

template <int kRows, typename Tile, typename X>
void interleaved_bf16_tile(const Tile& tile, int blocks, const X* x, int64_t cols, const uint16_t* weights,
                           int64_t k_begin, int64_t k_end, float* out, int64_t out_stride,
                           const NextChunkPrefetch& prefetch) {
  constexpr int kMaxBlocks = kRows == 1 ? Tile::kOneRowBlocksPerTile : Tile::kBlocksPerTile;
  static_assert(kMaxBlocks >= 1 && kMaxBlocks <= 4);
  const auto run = [&]<int kBlocks>() {
    if (prefetch.blocks == 0) {
      tile.template compute<kRows, kBlocks>(x, cols, weights, k_begin, k_end, out, out_stride, NoPrefetch{});
    } else {
      tile.template compute<kRows, kBlocks>(x, cols, weights, k_begin, k_end, out, out_stride, prefetch);
    }
  };
  switch (blocks) {
    case 4: if constexpr (kMaxBlocks >= 4) return run.template operator()<4>(); break;
    case 3: if constexpr (kMaxBlocks >= 3) return run.template operator()<3>(); break;
    case 2: if constexpr (kMaxBlocks >= 2) return run.template operator()<2>(); break;
    default: return run.template operator()<1>();
  }
}

template <typename Tile, typename X>
void interleaved_bf16_tile(const Tile& tile, int rows, int blocks, const X* x, int64_t cols, const uint16_t* weights,
                           int64_t k_begin, int64_t k_end, float* out, int64_t out_stride,
                           const NextChunkPrefetch& prefetch) {
  static_assert(Tile::kRowsPerPass >= 1 && Tile::kRowsPerPass <= 8);
  const auto run = [&]<int kRows>() {
    interleaved_bf16_tile<kRows>(tile, blocks, x, cols, weights, k_begin, k_end, out, out_stride, prefetch);
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
      interleaved_bf16_tile(tile, rows, 1, x + i * w.cols, w.cols, block, k, k_end, out, 16, NextChunkPrefetch{});
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
  const int64_t whole_blocks_end = o + (row_end - o) / 16 * 16;
  const int64_t tile_blocks = n_rows == 1 ? Tile::kOneRowBlocksPerTile : Tile::kBlocksPerTile;
  while (o < whole_blocks_end) {
    const int blocks = static_cast<int>(std::min<int64_t>(tile_blocks, (whole_blocks_end - o) / 16));
    const uint16_t* tile_weights = data + o / 16 * 16 * w.cols;
    const int64_t next_tile = o + 16 * blocks;
    for (int64_t k = 0; k < w.cols; k += kInterleavedChunkCols) {
      const int64_t k_end = std::min(w.cols, k + kInterleavedChunkCols);
      // The chunk after this one: the tile's next columns, else the next tile's first ones.
      const uint16_t* next = tile_weights + 16 * k_end;
      int next_blocks = blocks;
      if (k_end == w.cols) {
        next = data + next_tile / 16 * 16 * w.cols;
        next_blocks = static_cast<int>(std::min<int64_t>(tile_blocks, (whole_blocks_end - next_tile) / 16));
      }
      for (int64_t i = 0; i < n_rows; i += Tile::kRowsPerPass) {
        const int rows = static_cast<int>(std::min<int64_t>(Tile::kRowsPerPass, n_rows - i));
        interleaved_bf16_tile(tile, rows, blocks, x + i * w.cols, w.cols, tile_weights, k, k_end, y + i * y_stride + o,
                              y_stride, next_chunk_share<Tile>(next, next_blocks, w.cols, n_rows, i, rows));
      }
    }
    o = next_tile;
  }
  if (o < row_end) interleaved_bf16_partial_block(tile, x, n_rows, w, o, row_end, y, y_stride);
}

}  // namespace elephant::kernels
