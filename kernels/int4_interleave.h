// The in-memory int4 layout of the AVX-512 kernels (docs/quantization.md, "Interleaved int4"):
// 16 output rows share each 32-bit lane group of a 512-bit register, so one vpdpbusd multiplies 4
// columns of 16 outputs by 4 broadcast activations, each group's sum stays in its output's lane
// (one convert and one FMA per group for 16 outputs instead of per output), and no horizontal sum
// is left at the end. The checkpoint layout stays the one consumers read (kernels.h); this is a
// copy made at load (Model) that only the AVX-512 int4 kernel uses.
//
//   data:   [rows / 16][cols / 4][32 bytes]; in the 32 bytes of block b, quad q, byte t holds
//           column 4q + t % 4 of row 16b + t / 4 in its low nibble and of row 16b + 8 + t / 4 in
//           its high nibble (nibbles as stored: q + 8).
//   scales: [rows / 16][cols / group][16], in the matrix's scale dtype.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"

namespace elephant::kernels {

inline constexpr int64_t kInterleavedRows = 16;

// int4 group-wise with rows a multiple of 16 (groups are multiples of 16 columns, so of 4).
bool can_interleave_int4(const WeightMatrix& w);
int64_t interleaved_int4_data_bytes(const WeightMatrix& w);
int64_t interleaved_int4_scale_bytes(const WeightMatrix& w);
// Fills data and scales (sizes above) from w's checkpoint layout.
void interleave_int4(const WeightMatrix& w, std::byte* data, std::byte* scales);

}  // namespace elephant::kernels
