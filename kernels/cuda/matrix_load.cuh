// Device-side reads of a MatrixView (matrix_view.h) for every DeviceFormat: 16-byte chunks for the
// main loops and single values for row tails and tile edges. Dequantization happens here, in
// registers, and nowhere else.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "kernels/cuda/int_convert.h"
#include "kernels/cuda/matrix_view.h"
#include "kernels/cuda/warp.cuh"

namespace elephant::cuda {

template <DeviceFormat F>
struct FormatTraits;
template <>
struct FormatTraits<DeviceFormat::kF32> { static constexpr int kChunkCols = 4; };
template <>
struct FormatTraits<DeviceFormat::kF16> { static constexpr int kChunkCols = 8; };
template <>
struct FormatTraits<DeviceFormat::kBF16> { static constexpr int kChunkCols = 8; };
template <>
struct FormatTraits<DeviceFormat::kInt8> { static constexpr int kChunkCols = 16; };
template <>
struct FormatTraits<DeviceFormat::kInt4> { static constexpr int kChunkCols = 32; };

__device__ __forceinline__ float bf16_bits_to_float(uint32_t bits) { return __uint_as_float(bits << 16); }

__device__ __forceinline__ uint4 load_row_chunk(const MatrixView& m, int row, int chunk) {
  return __ldg(reinterpret_cast<const uint4*>(m.data + static_cast<int64_t>(row) * m.row_pitch) + chunk);
}

// The kChunkCols values of 16-byte chunk `chunk` of row `row`, with int4 group scales applied;
// int8's per-row scale is left to row_scale() so a kernel applies it once per dot product.
template <DeviceFormat F>
__device__ __forceinline__ void load_chunk(const MatrixView& m, int row, int chunk, float* values) {
  const uint4 raw = load_row_chunk(m, row, chunk);
  const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
  if constexpr (F == DeviceFormat::kF32) {
#pragma unroll
    for (int i = 0; i < 4; ++i) values[i] = __uint_as_float(words[i]);
  } else if constexpr (F == DeviceFormat::kF16) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 pair = __half22float2(*reinterpret_cast<const __half2*>(&words[i]));
      values[2 * i] = pair.x;
      values[2 * i + 1] = pair.y;
    }
  } else if constexpr (F == DeviceFormat::kBF16) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      values[2 * i] = bf16_bits_to_float(words[i] & 0xffffu);
      values[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
    }
  } else if constexpr (F == DeviceFormat::kInt8) {
#pragma unroll
    for (int i = 0; i < 4; ++i) int8_word_to_float(words[i], values + 4 * i);
  } else {
    const int groups = m.cols / m.group;
    const float* row_scales = m.scales + static_cast<int64_t>(row) * groups;
    const int first_col = chunk * FormatTraits<F>::kChunkCols;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      int4_word_to_float(words[i], values + 8 * i);
      const float scale = __ldg(row_scales + (first_col + 8 * i) / m.group);
#pragma unroll
      for (int j = 0; j < 8; ++j) values[8 * i + j] *= scale;
    }
  }
}

template <DeviceFormat F>
__device__ __forceinline__ float row_scale(const MatrixView& m, int row) {
  if constexpr (F == DeviceFormat::kInt8) {
    return __ldg(m.scales + row);
  } else {
    return 1.0f;
  }
}

// One value with its int4 group scale but without int8's row scale (see load_chunk).
template <DeviceFormat F>
__device__ __forceinline__ float value_before_row_scale(const MatrixView& m, int row, int col) {
  const uint8_t* bytes = m.data + static_cast<int64_t>(row) * m.row_pitch;
  if constexpr (F == DeviceFormat::kF32) {
    return __ldg(reinterpret_cast<const float*>(bytes) + col);
  } else if constexpr (F == DeviceFormat::kF16) {
    return __half2float(__ushort_as_half(__ldg(reinterpret_cast<const unsigned short*>(bytes) + col)));
  } else if constexpr (F == DeviceFormat::kBF16) {
    return bf16_bits_to_float(__ldg(reinterpret_cast<const unsigned short*>(bytes) + col));
  } else if constexpr (F == DeviceFormat::kInt8) {
    return static_cast<float>(static_cast<int8_t>(__ldg(bytes + col)));
  } else {
    const uint32_t word = __ldg(reinterpret_cast<const uint32_t*>(bytes) + col / kInt4ColumnsPerWord);
    const float scale = __ldg(m.scales + static_cast<int64_t>(row) * (m.cols / m.group) + col / m.group);
    return static_cast<float>(int4_in_word(word, col % kInt4ColumnsPerWord)) * scale;
  }
}

// One value with every scale applied.
template <DeviceFormat F>
__device__ __forceinline__ float value_at(const MatrixView& m, int row, int col) {
  return value_before_row_scale<F>(m, row, col) * row_scale<F>(m, row);
}

__device__ __forceinline__ float silu_times(float gate, float up) { return gate / (1.0f + expf(-gate)) * up; }

template <DeviceFormat F>
using FormatTag = std::integral_constant<DeviceFormat, F>;

// Calls body(FormatTag<F>{}) for the runtime format: one switch, so launchers never fork per format
// themselves (a C++17 generic lambda reads F back as decltype(tag)::value).
template <typename Body>
void dispatch_format(DeviceFormat format, Body&& body) {
  switch (format) {
    case DeviceFormat::kF32: body(FormatTag<DeviceFormat::kF32>{}); return;
    case DeviceFormat::kF16: body(FormatTag<DeviceFormat::kF16>{}); return;
    case DeviceFormat::kBF16: body(FormatTag<DeviceFormat::kBF16>{}); return;
    case DeviceFormat::kInt8: body(FormatTag<DeviceFormat::kInt8>{}); return;
    case DeviceFormat::kInt4: body(FormatTag<DeviceFormat::kInt4>{}); return;
    case DeviceFormat::kCount: break;
  }
}

}  // namespace elephant::cuda
