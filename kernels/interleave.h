// The in-memory layouts of the CPU kernels' interleaved copies (docs/quantization.md,
// "Interleaved copies"). In all three, the 16 lanes of a 512-bit accumulator are 16 consecutive
// outputs (the AVX2 kernels take them as two 256-bit halves of 8) and activations are broadcast,
// so every multiply-add instruction advances 16 (8) outputs, each output's sum stays in its own
// lane (no horizontal sum), and the weights are read once per tile of activation rows instead of
// once per row pass. The checkpoint layout stays the one consumers read (kernels.h); these are
// copies made at load (models/weight_copies.h) for the kernel tables that read them
// (KernelTable::reads_interleaved: all three on AVX-512, int4 and BF16 on AVX2).
//
// int4 group-wise: one vpdpbusd multiplies 4 columns of 16 outputs by 4 broadcast activations, and
// a group costs one convert and one FMA per 16 outputs instead of per output.
//   data:   [rows / 16][cols / 4][32 bytes]; in the 32 bytes of block b, quad q, byte t holds
//           column 4q + t % 4 of row 16b + t / 4 in its low nibble and of row 16b + 8 + t / 4 in
//           its high nibble (nibbles as stored: q + 8).
//   scales: [rows / 16][cols / group][16], in the matrix's scale dtype.
//
// int8 per channel: one 64-byte load is 4 columns of 16 outputs, the vpdpbusd operand as it is;
// weights are stored offset to unsigned (w + 128, the instruction's unsigned operand) so the
// int8 activations can be broadcast as they are, and each output's sum starts at -128·Σx. The
// integer sums are exact, so results equal the checkpoint layout's bit for bit.
//   data:   [rows / 16][cols / 4][16 outputs][4 columns] u8: element (o, k) at
//           ((o / 16) · cols / 4 + k / 4) · 64 + 4 · (o % 16) + k % 4, holding w + 128.
//   (scales: the matrix's own [rows], already one per output.)
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

// int8 per channel with rows a multiple of 16, cols a multiple of 8 (the kernel takes two 4-column
// quads per step) and at most kMaxInterleavedInt8Cols (255 · 127 · cols must fit the int32 sums).
inline constexpr int64_t kMaxInterleavedInt8Cols = 65536;
bool can_interleave_int8(const WeightMatrix& w);
int64_t interleaved_int8_bytes(const WeightMatrix& w);
// Fills data (size above) from w's checkpoint layout.
void interleave_int8(const WeightMatrix& w, std::byte* data);

// Dense BF16 with rows a multiple of 16 and an even number of columns.
bool can_interleave_bf16(const WeightMatrix& w);
int64_t interleaved_bf16_bytes(const WeightMatrix& w);
// Fills data (size above) from w's checkpoint layout.
void interleave_bf16(const WeightMatrix& w, std::byte* data);

}  // namespace elephant::kernels
