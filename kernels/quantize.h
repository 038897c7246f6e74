// Weight and activation quantization: the producers of the quantized formats that the kernels read
// (kernels.h WeightFormat, docs/quantization.md), and the scalar helpers every kernel shares.
//
// Weights are quantized symmetrically: int8 per output channel (scale = max|w_row| / 127, the
// FasterTransformer MoE scheme) and int4 per group of `group` columns (scale = max|w_group| / 7,
// stored as F16 or BF16). The scale is rounded to its storage dtype *before* the values are
// divided by it, so dequantization uses exactly the scale that quantization used.
// Activation rows (Activations::kInt8) are quantized with scale max|x| / 127 and round to nearest
// even; the AVX2 kernels reproduce this bit for bit.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/dtype.h"
#include "kernels/kernels.h"

namespace elephant::kernels {

inline constexpr int kInt8Max = 127;
inline constexpr int kInt4Max = 7;      // symmetric: q in [-7, 7], stored as q + 8 in a nibble
inline constexpr int kInt4Offset = 8;

// Group sizes that quantize accepts and the kernels handle: powers of two from 16 to 1024 (so a
// group is 16 columns or a whole number of the AVX2 kernels' 32-column steps).
bool valid_group_size(int64_t group);

// w[rows, cols] fp32 -> q[rows, cols] int8 and scales[rows] fp32. `what` names the tensor in
// errors (non-finite weights).
void quantize_int8_per_channel(const float* w, int64_t rows, int64_t cols, int8_t* q, float* scales,
                               std::string_view what);

// w[rows, cols] fp32 -> packed[rows, cols/2] (column 2j in the low nibble of byte j, 2j+1 in the
// high nibble, each q + 8) and scales[rows, cols/group] as scale_dtype (F16 or BF16) bits.
// cols % group must be 0 (Error naming `what`, cols and group otherwise).
void quantize_int4_groups(const float* w, int64_t rows, int64_t cols, int64_t group, DType scale_dtype,
                          uint8_t* packed, uint16_t* scales, std::string_view what);

// One activation row -> q[cols] int8; returns its scale (0 for an all-zero row).
float quantize_activation_row(const float* x, int64_t cols, int8_t* q);

// The scale at index of a [rows] or [rows, groups] scale array of a float dtype.
inline float scale_at(const void* scales, DType dtype, int64_t index) {
  if (dtype == DType::kF32) return static_cast<const float*>(scales)[index];
  const uint16_t bits = static_cast<const uint16_t*>(scales)[index];
  return dtype == DType::kBF16 ? bf16_to_f32(bits) : f16_to_f32(bits);
}

// The int4 value (-8..7) of column k of a packed row.
inline int int4_at(const uint8_t* packed_row, int64_t k) {
  const uint8_t byte = packed_row[k / 2];
  return static_cast<int>(k % 2 == 0 ? byte & 0x0f : byte >> 4) - kInt4Offset;
}

}  // namespace elephant::kernels
