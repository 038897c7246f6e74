#include "kernels/interleave.h"

#include <cstring>

#include "core/dtype.h"
#include "core/parallel.h"
#include "kernels/quantize.h"

namespace elephant::kernels {

bool can_interleave_int4(const WeightMatrix& w) {
  return w.format == WeightFormat::kInt4Group && w.rows % kInterleavedRows == 0 && w.group_size % 4 == 0 &&
         w.cols % w.group_size == 0;
}

int64_t interleaved_int4_data_bytes(const WeightMatrix& w) { return w.rows * w.cols / 2; }

int64_t interleaved_int4_scale_bytes(const WeightMatrix& w) {
  return w.rows * (w.cols / w.group_size) * static_cast<int64_t>(dtype_size_bytes(w.scale_dtype));
}

namespace {

// The 4 nibbles of a 16-bit value (column 4q + c in nibble c) as the low nibbles of 4 bytes.
uint32_t spread_nibbles(uint32_t value) {
  value = (value | value << 8) & 0x00ff00ffu;
  return (value | value << 4) & 0x0f0f0f0fu;
}

}  // namespace

void interleave_int4(const WeightMatrix& w, std::byte* data, std::byte* scales) {
  const auto* src = static_cast<const uint8_t*>(w.data);
  auto* dst = reinterpret_cast<uint8_t*>(data);
  const int64_t row_bytes = w.cols / 2;
  const int64_t quads = w.cols / 4;
  parallel_for(w.rows / kInterleavedRows, 1, [&](int64_t block_begin, int64_t block_end) {
    for (int64_t block = block_begin; block < block_end; ++block) {
      const uint8_t* rows = src + block * kInterleavedRows * row_bytes;
      for (int64_t q = 0; q < quads; ++q) {
        uint8_t* out = dst + (block * quads + q) * 32;
        // Bytes 4t..4t+3: columns 4q..4q+3 of row t (low nibbles) and of row 8 + t (high).
        for (int64_t t = 0; t < 8; ++t) {
          const uint8_t* low = rows + t * row_bytes + 2 * q;
          const uint8_t* high = rows + (8 + t) * row_bytes + 2 * q;
          const uint32_t packed = spread_nibbles(low[0] | uint32_t{low[1]} << 8) |
                                  spread_nibbles(high[0] | uint32_t{high[1]} << 8) << 4;
          std::memcpy(out + 4 * t, &packed, sizeof(packed));
        }
      }
    }
  });
  const int64_t groups = w.cols / w.group_size;
  const size_t scale_size = dtype_size_bytes(w.scale_dtype);
  const auto* scale_src = static_cast<const std::byte*>(w.scales);
  for (int64_t block = 0; block < w.rows / kInterleavedRows; ++block) {
    for (int64_t g = 0; g < groups; ++g) {
      for (int64_t r = 0; r < kInterleavedRows; ++r) {
        std::memcpy(scales + ((block * groups + g) * kInterleavedRows + r) * scale_size,
                    scale_src + ((block * kInterleavedRows + r) * groups + g) * scale_size, scale_size);
      }
    }
  }
}

bool can_interleave_int8(const WeightMatrix& w) {
  return w.format == WeightFormat::kInt8PerChannel && w.rows % kInterleavedRows == 0 && w.cols % 8 == 0 &&
         w.cols <= kMaxInterleavedInt8Cols;
}

int64_t interleaved_int8_bytes(const WeightMatrix& w) { return w.rows * w.cols; }

void interleave_int8(const WeightMatrix& w, std::byte* data) {
  const auto* src = static_cast<const uint8_t*>(w.data);
  auto* dst = reinterpret_cast<uint8_t*>(data);
  const int64_t quads = w.cols / 4;
  parallel_for(w.rows / kInterleavedRows, 1, [&](int64_t block_begin, int64_t block_end) {
    for (int64_t block = block_begin; block < block_end; ++block) {
      const uint8_t* rows = src + block * kInterleavedRows * w.cols;
      uint8_t* out = dst + block * kInterleavedRows * w.cols;
      for (int64_t q = 0; q < quads; ++q) {
        for (int64_t r = 0; r < kInterleavedRows; ++r) {
          uint32_t quad;
          std::memcpy(&quad, rows + r * w.cols + 4 * q, sizeof(quad));
          quad ^= 0x80808080u;  // two's complement w + 128 is w with its sign bit flipped
          std::memcpy(out + (q * kInterleavedRows + r) * 4, &quad, sizeof(quad));
        }
      }
    }
  });
}

bool can_interleave_bf16(const WeightMatrix& w) {
  return w.format == WeightFormat::kDense && w.dtype == DType::kBF16 && w.rows % kInterleavedRows == 0 &&
         w.cols % 2 == 0;
}

int64_t interleaved_bf16_bytes(const WeightMatrix& w) { return w.rows * w.cols * 2; }

void interleave_bf16(const WeightMatrix& w, std::byte* data) {
  // Safetensors only aligns a tensor to its element size, so pairs are moved with memcpy.
  const auto* src = static_cast<const std::byte*>(w.data);
  constexpr int64_t kPairBytes = 4;
  const int64_t row_bytes = w.cols * 2;
  parallel_for(w.rows / kInterleavedRows, 1, [&](int64_t block_begin, int64_t block_end) {
    for (int64_t block = block_begin; block < block_end; ++block) {
      const std::byte* rows = src + block * kInterleavedRows * row_bytes;
      std::byte* out = data + block * kInterleavedRows * row_bytes;
      for (int64_t pair = 0; pair < w.cols / 2; ++pair) {
        for (int64_t r = 0; r < kInterleavedRows; ++r) {
          std::memcpy(out + (pair * kInterleavedRows + r) * kPairBytes, rows + r * row_bytes + pair * kPairBytes,
                      kPairBytes);
        }
      }
    }
  });
}

}  // namespace elephant::kernels
