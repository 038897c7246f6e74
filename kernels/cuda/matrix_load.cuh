// Device-side reads of a MatrixView (matrix_view.h) for every DeviceFormat: 32-bit words for the
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

// Columns held by one 32-bit word of a row in each format.
template <DeviceFormat F>
struct FormatTraits;
template <>
struct FormatTraits<DeviceFormat::kF32> { static constexpr int kWordCols = 1; };
template <>
struct FormatTraits<DeviceFormat::kF16> { static constexpr int kWordCols = 2; };
template <>
struct FormatTraits<DeviceFormat::kBF16> { static constexpr int kWordCols = 2; };
template <>
struct FormatTraits<DeviceFormat::kInt8> { static constexpr int kWordCols = 4; };
template <>
struct FormatTraits<DeviceFormat::kInt4> { static constexpr int kWordCols = kInt4ColumnsPerWord; };

__device__ __forceinline__ float bf16_bits_to_float(uint32_t bits) { return __uint_as_float(bits << 16); }

__device__ __forceinline__ const uint32_t* row_words(const MatrixView& m, int row) {
  return reinterpret_cast<const uint32_t*>(m.data + static_cast<int64_t>(row) * m.row_pitch);
}

// The kWordCols values of word `word` (already loaded as `bits`) of row `row`, with int4 group
// scales applied; int8's per-row scale is left to row_scale() so a kernel applies it once per dot
// product.
template <DeviceFormat F>
__device__ __forceinline__ void word_values(const MatrixView& m, int row, int word, uint32_t bits, float* values) {
  if constexpr (F == DeviceFormat::kF32) {
    values[0] = __uint_as_float(bits);
  } else if constexpr (F == DeviceFormat::kF16) {
    const float2 pair = __half22float2(*reinterpret_cast<const __half2*>(&bits));
    values[0] = pair.x;
    values[1] = pair.y;
  } else if constexpr (F == DeviceFormat::kBF16) {
    values[0] = bf16_bits_to_float(bits & 0xffffu);
    values[1] = __uint_as_float(bits & 0xffff0000u);
  } else if constexpr (F == DeviceFormat::kInt8) {
    int8_word_to_float(bits, values);
  } else {
    int4_word_to_float(bits, values);
    const int groups = m.cols / m.group;
    const float scale = __ldg(m.scales + static_cast<int64_t>(row) * groups + word * kInt4ColumnsPerWord / m.group);
#pragma unroll
    for (int j = 0; j < kInt4ColumnsPerWord; ++j) values[j] *= scale;
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

// kN consecutive activations from p; one 8- or 16-byte load per pair or quad when kVector (the
// launcher checked alignment), else single floats.
template <int kN, bool kVector>
__device__ __forceinline__ void load_activations(const float* p, float* values) {
  if constexpr (kVector && kN % 4 == 0) {
#pragma unroll
    for (int q = 0; q < kN / 4; ++q) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(p) + q);
      values[4 * q] = v.x;
      values[4 * q + 1] = v.y;
      values[4 * q + 2] = v.z;
      values[4 * q + 3] = v.w;
    }
  } else if constexpr (kVector && kN == 2) {
    const float2 v = __ldg(reinterpret_cast<const float2*>(p));
    values[0] = v.x;
    values[1] = v.y;
  } else {
#pragma unroll
    for (int c = 0; c < kN; ++c) values[c] = __ldg(p + c);
  }
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
