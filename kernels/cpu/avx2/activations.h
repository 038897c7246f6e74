// Activation rows quantized to int8 for the int8-activation kernels (kernels.h Activations::kInt8),
// into thread-local scratch that grows and is never shrunk, so a warm decode step does not
// allocate. Compiled with -mavx2; the AVX-512 kernels use the same functions, so both produce the
// bytes of quantize_activation_row. Within one activation epoch (activation_epoch.h) a call for the
// rows a scratch already holds returns them without quantizing again.
#pragma once

#include <cstdint>
#include <vector>

namespace elephant::kernels::avx2 {

// What a scratch holds: the rows of x quantized in `epoch` (0: nothing reusable).
struct QuantizedRowsKey {
  uint64_t epoch = 0;
  const float* x = nullptr;
  int64_t n_rows = 0, cols = 0, group = 0;
  bool operator==(const QuantizedRowsKey&) const = default;
};

struct ActivationScratch {
  QuantizedRowsKey key;
  std::vector<int8_t> values;  // [n_rows, cols]
  std::vector<float> scales;   // [n_rows]
  // Σ values of each row: the interleaved int8 kernel, whose weights are stored offset to unsigned
  // (w + 128), starts every output's sum at -128·Σx.
  std::vector<int32_t> sums;   // [n_rows]
};

// Column order.
const ActivationScratch& quantize_rows(const float* x, int64_t n_rows, int64_t cols);

// int4 weights with groups of 64+ columns: the activation rows are quantized into the order of
// the packed nibbles instead of unpacking the weights into column order. In 32 packed bytes
// (64 columns) the low nibbles hold the even columns and the high nibbles the odd ones, so with
// activations stored as [32 even columns, 32 odd columns] per block, a mask and a shift give
// weight bytes that line up with the activations, and the unsigned nibbles (0..15) are the
// unsigned operand of maddubs / dpbusd. The offset is removed per group:
// Σ (u - 8)·x = Σ u·x - 8·Σ x, with Σ x of each group precomputed.
struct NibbleOrderActivations {
  QuantizedRowsKey key;
  std::vector<int8_t> values;          // [n_rows, cols], each 64-column block as even then odd columns
  std::vector<float> scales;           // [n_rows]
  // -8·Σx of each group: the AVX-512 kernel starts a group's accumulator at it (in lane 0).
  std::vector<int32_t> group_offsets;  // [n_rows, cols / group]
  // The same offsets laid out for the AVX2 kernel, which reduces two groups at once with
  // hadd(group g, group g + 1): lanes 0, 1, 4, 5 then hold g and lanes 2, 3, 6, 7 hold g + 1.
  // Per row and group pair: [8·Σx(g), 0, 8·Σx(g + 1), 0, 0, 0, 0, 0] (0 for a missing g + 1).
  std::vector<int32_t> pair_offsets;  // [n_rows, ceil(groups / 2), 8]
  std::vector<int8_t> row;          // one row in column order
};

const NibbleOrderActivations& quantize_rows_nibble_order(const float* x, int64_t n_rows, int64_t cols, int64_t group);

// Column order with each group's -8·Σx, for the interleaved int4 kernel (interleave.h), which
// broadcasts 4 activations at a time and starts every output's group sum at that offset.
struct GroupedActivations {
  QuantizedRowsKey key;
  std::vector<int8_t> values;          // [n_rows, cols]
  std::vector<float> scales;           // [n_rows]
  std::vector<int32_t> group_offsets;  // [n_rows, cols / group]
};

const GroupedActivations& quantize_rows_grouped(const float* x, int64_t n_rows, int64_t cols, int64_t group);

}  // namespace elephant::kernels::avx2
