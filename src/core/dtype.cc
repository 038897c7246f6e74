#include "core/dtype.h"

#include <array>
#include <bit>
#include <cmath>

namespace elephant {
namespace {

struct DTypeInfo {
  std::string_view name;
  size_t size_bytes;
  bool is_float;
};

constexpr std::array<DTypeInfo, static_cast<size_t>(DType::kCount)> kDTypeInfo = {{
    {"F32", 4, true},
    {"F16", 2, true},
    {"BF16", 2, true},
    {"I8", 1, false},
    {"U8", 1, false},
    {"I32", 4, false},
    {"I64", 8, false},
}};

}  // namespace

size_t dtype_size_bytes(DType dtype) { return kDTypeInfo[static_cast<size_t>(dtype)].size_bytes; }
std::string_view dtype_name(DType dtype) { return kDTypeInfo[static_cast<size_t>(dtype)].name; }
bool dtype_is_float(DType dtype) { return kDTypeInfo[static_cast<size_t>(dtype)].is_float; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (size_t i = 0; i < kDTypeInfo.size(); ++i) {
    if (kDTypeInfo[i].name == name) return static_cast<DType>(i);
  }
  return std::nullopt;
}

// IEEE binary16 by hand: g++ 12 has no std::float16_t, and F16C is not guaranteed on every CPU the
// scalar reference must run on.
float f16_to_f32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  const uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0) {
    // Zero or subnormal: value = mantissa * 2^-24.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  uint32_t result;
  if (exponent == 0x1fu) {
    result = sign | 0x7f800000u | (mantissa << 13);
  } else {
    result = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  }
  return std::bit_cast<float>(result);
}

uint16_t f32_to_f16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const float magnitude = std::fabs(value);
  if (std::isnan(value)) return sign | 0x7e00u;
  if (magnitude >= 65520.0f) return sign | 0x7c00u;  // rounds to infinity
  if (magnitude < 6.103515625e-05f) {
    // Subnormal half: round magnitude / 2^-24 to nearest even integer.
    const float scaled = magnitude * 16777216.0f;
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));
  }
  const uint32_t abs_bits = bits & 0x7fffffffu;
  const uint32_t rounding = 0xfffu + ((abs_bits >> 13) & 1u);
  const uint32_t rounded = abs_bits + rounding;
  return sign | static_cast<uint16_t>(((rounded >> 23) - 112u) << 10 | ((rounded >> 13) & 0x3ffu));
}

void widen_to_f32(const void* data, DType dtype, int64_t n, float* out) {
  const auto* bytes = static_cast<const std::byte*>(data);
  if (dtype == DType::kF32) {
    std::memcpy(out, bytes, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    uint16_t half;
    std::memcpy(&half, bytes + i * 2, 2);
    out[i] = dtype == DType::kBF16 ? bf16_to_f32(half) : f16_to_f32(half);
  }
}

}  // namespace elephant
