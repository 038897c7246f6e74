// The in-memory layouts of the AVX-512 kernels' interleaved copies (docs/quantization.md,
// "Interleaved copies"). In both, the 16 lanes of a 512-bit accumulator are 16 consecutive outputs
// and activations are broadcast, so every multiply-add instruction advances 16 outputs, each
// output's sum stays in its own lane (no horizontal sum), and the weights are read once per tile of
// activation rows instead of once per row pass. The checkpoint layout stays the one consumers read
// (kernels.h); these are copies made at load (models/interleaved_copies.h) that only the AVX-512
// kernels use.
//
// int4 group-wise: one vpdpbusd multiplies 4 columns of 16 outputs by 4 broadcast activations, and
// a group costs one convert and one FMA per 16 outputs instead of per output.
//   data:   [rows / 16][cols / 4][32 bytes]; in the 32 bytes of block b, quad q, byte t holds
//           column 4q + t % 4 of row 16b + t / 4 in its low nibble and of row 16b + 8 + t / 4 in
//           its high nibble (nibbles as stored: q + 8).
//   scales: [rows / 16][cols / group][16], in the matrix's scale dtype.
//
// BF16 dense: one 64-byte load holds 2 columns of 16 outputs; the fp32 kernel widens them with a
// shift and a mask (no cross-lane conversion), the AVX512_BF16 kernel feeds them to vdpbf16ps as they are.
//   data:   [rows / 16][cols / 2][16 outputs][2 columns] bf16: element (o, k) at
//           ((o / 16) · cols / 2 + k / 2) · 32 + 2 · (o % 16) + k % 2.
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

// Dense BF16 with rows a multiple of 16 and an even number of columns.
bool can_interleave_bf16(const WeightMatrix& w);
int64_t interleaved_bf16_bytes(const WeightMatrix& w);
// Fills data (size above) from w's checkpoint layout.
void interleave_bf16(const WeightMatrix& w, std::byte* data);

}  // namespace elephant::kernels
