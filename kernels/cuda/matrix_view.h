// A weight matrix as the CUDA kernels read it (produced by weight_layout.h at load time). Plain
// data, so arrays of views (one per expert) can live in device memory.
//
// Rows are `row_pitch` bytes apart, a multiple of 16, so every row starts 16-byte aligned and the
// kernels load 16 bytes per lane; the bytes past a row's last column are zero. int4 rows hold
// device-layout words (int_convert.h), int8 rows the CPU layout. Scales are fp32: [rows] for int8,
// [rows, cols / group] for int4.
#pragma once

#include <cstdint>

namespace elephant::cuda {

enum class DeviceFormat : uint8_t { kF32, kF16, kBF16, kInt8, kInt4, kCount };

struct MatrixView {
  const uint8_t* data = nullptr;
  const float* scales = nullptr;
  int64_t row_pitch = 0;  // bytes
  int32_t rows = 0;       // outputs
  int32_t cols = 0;       // inputs
  int32_t group = 0;      // int4: columns per scale
};

inline constexpr int kRowAlignment = 16;

}  // namespace elephant::cuda
