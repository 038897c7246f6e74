// Element types of checkpoint tensors and their conversions to fp32.
//
// Compute is fp32 everywhere; BF16/F16 weights are converted inside the kernels as they are read.
// The scalar conversions here are the reference that the SIMD conversions are tested against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace elephant {

enum class DType : uint8_t { kF32, kF16, kBF16, kI8, kU8, kI32, kI64, kCount };

size_t dtype_size_bytes(DType dtype);
// The safetensors spelling: "F32", "BF16", ...
std::string_view dtype_name(DType dtype);
std::optional<DType> dtype_from_name(std::string_view name);
bool dtype_is_float(DType dtype);

inline float bf16_to_f32(uint16_t bits) {
  const uint32_t widened = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &widened, sizeof(value));
  return value;
}

// Round to nearest even, as torch does when casting fp32 -> bf16; NaN stays NaN.
inline uint16_t f32_to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float f16_to_f32(uint16_t bits);
uint16_t f32_to_f16(float value);

// Widens n elements of a float dtype (F32, F16, BF16) to fp32; data need not be aligned.
void widen_to_f32(const void* data, DType dtype, int64_t n, float* out);

}  // namespace elephant
