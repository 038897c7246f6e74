// Scalar weight and activation quantizers (see quantize.h) and the WeightMatrix format checks.
// Not performance-critical: weights are quantized once by `elephant quantize`; the reference
// kernels call quantize_activation_row, the AVX2 kernels have a vectorized twin of it.
#include "kernels/quantize.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace elephant::kernels {
namespace {

float max_abs(const float* values, int64_t n, std::string_view what) {
  float m = 0.0f;
  for (int64_t k = 0; k < n; ++k) {
    if (!std::isfinite(values[k])) fail("{}: weight {} is not finite; cannot quantize", what, values[k]);
    m = std::max(m, std::fabs(values[k]));
  }
  return m;
}

int round_clamped(float value, int limit) {
  const float rounded = std::nearbyint(value);
  return static_cast<int>(std::clamp(rounded, static_cast<float>(-limit), static_cast<float>(limit)));
}

}  // namespace

std::string_view weight_format_name(WeightFormat format) {
  switch (format) {
    case WeightFormat::kDense: return "dense";
    case WeightFormat::kInt8PerChannel: return "int8 per-channel";
    case WeightFormat::kInt4Group: return "int4 group-wise";
  }
  return "unknown";
}

std::span<const std::byte> weight_data_bytes(const WeightMatrix& w) {
  int64_t size = 0;
  switch (w.format) {
    case WeightFormat::kDense: size = w.rows * w.cols * static_cast<int64_t>(dtype_size_bytes(w.dtype)); break;
    case WeightFormat::kInt8PerChannel: size = w.rows * w.cols; break;
    case WeightFormat::kInt4Group: size = w.rows * w.cols / 2; break;
  }
  return {static_cast<const std::byte*>(w.data), static_cast<size_t>(size)};
}

std::span<const std::byte> weight_scale_bytes(const WeightMatrix& w) {
  const auto element = static_cast<int64_t>(dtype_size_bytes(w.scale_dtype));
  switch (w.format) {
    case WeightFormat::kDense: return {};
    case WeightFormat::kInt8PerChannel:
      return {static_cast<const std::byte*>(w.scales), static_cast<size_t>(w.rows * element)};
    case WeightFormat::kInt4Group:
      return {static_cast<const std::byte*>(w.scales), static_cast<size_t>(w.rows * (w.cols / w.group_size) * element)};
  }
  return {};
}

void check_weight_matrix(const WeightMatrix& w, std::string_view what) {
  const bool float_scales =
      w.scale_dtype == DType::kF32 || w.scale_dtype == DType::kF16 || w.scale_dtype == DType::kBF16;
  switch (w.format) {
    case WeightFormat::kDense:
      if (w.dtype != DType::kF32 && w.dtype != DType::kBF16 && w.dtype != DType::kF16) {
        fail("{}: dense weight dtype {} is not supported (F32, F16, BF16)", what, dtype_name(w.dtype));
      }
      if (w.interleaved_data != nullptr &&
          (w.dtype != DType::kBF16 || w.rows % 16 != 0 || w.cols % 2 != 0 || w.interleaved_scales != nullptr)) {
        fail("{}: an interleaved dense copy needs BF16 weights, rows a multiple of 16, even cols and no scales, "
             "found {} [{}, {}]",
             what, dtype_name(w.dtype), w.rows, w.cols);
      }
      return;
    case WeightFormat::kInt8PerChannel:
      if (w.dtype != DType::kI8 || w.scales == nullptr || !float_scales) {
        fail("{}: int8 per-channel weights need I8 data and float scales, found {} data and {} scales", what,
             dtype_name(w.dtype), w.scales ? dtype_name(w.scale_dtype) : "no");
      }
      if (w.interleaved_data != nullptr && (w.rows % 16 != 0 || w.cols % 8 != 0 || w.interleaved_scales != nullptr)) {
        fail("{}: an interleaved int8 copy needs rows a multiple of 16, cols a multiple of 8 and no scales, found "
             "[{}, {}]",
             what, w.rows, w.cols);
      }
      return;
    case WeightFormat::kInt4Group:
      if (w.dtype != DType::kU8 || w.scales == nullptr || !float_scales) {
        fail("{}: int4 weights need U8 packed data and float scales, found {} data and {} scales", what,
             dtype_name(w.dtype), w.scales ? dtype_name(w.scale_dtype) : "no");
      }
      if (!valid_group_size(w.group_size) || w.cols % w.group_size != 0) {
        fail("{}: int4 group size {} must be a power of two in [16, 1024] dividing cols {}", what, w.group_size,
             w.cols);
      }
      if ((w.interleaved_data == nullptr) != (w.interleaved_scales == nullptr) ||
          (w.interleaved_data != nullptr && w.rows % 16 != 0)) {
        fail("{}: an interleaved int4 copy needs both data and scales and rows a multiple of 16, found {} rows", what,
             w.rows);
      }
      return;
  }
  fail("{}: unknown weight format {}", what, static_cast<int>(w.format));
}

bool valid_group_size(int64_t group) { return group >= 16 && group <= 1024 && (group & (group - 1)) == 0; }

void quantize_int8_per_channel(const float* w, int64_t rows, int64_t cols, int8_t* q, float* scales,
                               std::string_view what) {
  for (int64_t o = 0; o < rows; ++o) {
    const float* row = w + o * cols;
    const float scale = max_abs(row, cols, what) / static_cast<float>(kInt8Max);
    scales[o] = scale;
    for (int64_t k = 0; k < cols; ++k) {
      q[o * cols + k] = static_cast<int8_t>(scale == 0.0f ? 0 : round_clamped(row[k] / scale, kInt8Max));
    }
  }
}

void quantize_int4_groups(const float* w, int64_t rows, int64_t cols, int64_t group, DType scale_dtype,
                          uint8_t* packed, uint16_t* scales, std::string_view what) {
  if (!valid_group_size(group)) fail("{}: group size {} must be a power of two in [16, 1024]", what, group);
  if (cols % group != 0) {
    fail("{}: {} columns are not a multiple of the group size {}; choose a group that divides {}", what, cols, group,
         cols);
  }
  if (scale_dtype != DType::kF16 && scale_dtype != DType::kBF16) {
    fail("{}: int4 scales must be F16 or BF16, not {}", what, dtype_name(scale_dtype));
  }
  const int64_t n_groups = cols / group;
  for (int64_t o = 0; o < rows; ++o) {
    const float* row = w + o * cols;
    uint8_t* packed_row = packed + o * (cols / 2);
    for (int64_t g = 0; g < n_groups; ++g) {
      const float exact_scale = max_abs(row + g * group, group, what) / static_cast<float>(kInt4Max);
      const uint16_t bits = scale_dtype == DType::kF16 ? f32_to_f16(exact_scale) : f32_to_bf16(exact_scale);
      const float scale = scale_dtype == DType::kF16 ? f16_to_f32(bits) : bf16_to_f32(bits);
      if (!std::isfinite(scale) || (scale == 0.0f && exact_scale != 0.0f)) {
        fail("{}: row {} group {}: scale {} does not fit {} (use --scale-dtype bf16)", what, o, g, exact_scale,
             dtype_name(scale_dtype));
      }
      scales[o * n_groups + g] = bits;
      for (int64_t k = g * group; k < (g + 1) * group; ++k) {
        const int q = scale == 0.0f ? 0 : round_clamped(row[k] / scale, kInt4Max);
        const auto nibble = static_cast<uint8_t>(q + kInt4Offset);
        uint8_t& byte = packed_row[k / 2];
        byte = k % 2 == 0 ? static_cast<uint8_t>((byte & 0xf0) | nibble) : static_cast<uint8_t>((byte & 0x0f) | nibble << 4);
      }
    }
  }
}

float quantize_activation_row(const float* x, int64_t cols, int8_t* q) {
  float m = 0.0f;
  for (int64_t k = 0; k < cols; ++k) m = std::max(m, std::fabs(x[k]));
  const float inverse = m > 0.0f ? static_cast<float>(kInt8Max) / m : 0.0f;
  for (int64_t k = 0; k < cols; ++k) q[k] = static_cast<int8_t>(round_clamped(x[k] * inverse, kInt8Max));
  return m / static_cast<float>(kInt8Max);
}

}  // namespace elephant::kernels
