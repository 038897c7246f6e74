// Integer-to-float conversion of packed weights without integer-to-float instructions, shared by
// the device kernels and the host tests (one definition, so the host test checks the same code).
//
// The float whose bits are 0x4B000000 | b is exactly 2^23 + b for any byte b, so one byte permute
// (placing a weight byte under the exponent 0x4B) and one subtraction turn a stored byte into its
// value: the conversion the FasterTransformer MoE paper uses in place of I2F, here in fp32 because
// Elephant's activations are fp32.
//   int4 (device layout, weight_layout.h): word w of a row holds columns 8w..8w+7, byte i's low
//        nibble is column 8w+i and its high nibble column 8w+4+i, each stored as q + 8. The two
//        masks (low and high nibbles) then give four whole bytes each, in column order.
//   int8: a signed byte b becomes b + 128 by flipping its top bit, then the same trick.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define ELEPHANT_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define ELEPHANT_HOST_DEVICE inline
#endif

namespace elephant::cuda {

inline constexpr uint32_t kFloatMagicBits = 0x4B000000u;  // 2^23 as fp32
inline constexpr float kFloatMagic = 8388608.0f;
inline constexpr int kInt4ColumnsPerWord = 8;
inline constexpr int kInt8ColumnsPerWord = 4;

// PTX prmt (CUDA __byte_perm) in its default mode, for selectors whose nibbles are 0..7: byte n of
// the result is byte selector[n] of the 8-byte value {y:x}.
ELEPHANT_HOST_DEVICE uint32_t byte_perm(uint32_t x, uint32_t y, uint32_t selector) {
#if defined(__CUDA_ARCH__)
  return __byte_perm(x, y, selector);
#else
  const uint64_t bytes = (static_cast<uint64_t>(y) << 32) | x;
  uint32_t result = 0;
  for (int n = 0; n < 4; ++n) {
    const uint32_t source = (selector >> (4 * n)) & 0x7u;
    result |= static_cast<uint32_t>((bytes >> (8 * source)) & 0xffu) << (8 * n);
  }
  return result;
#endif
}

ELEPHANT_HOST_DEVICE float float_from_bits(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
#endif
}

// Byte i of `bytes` under the magic exponent: 2^23 + byte i. Selector nibbles, low first: i (the
// byte), 4 and 5 (zero bytes of the magic word), 7 (its exponent byte 0x4B).
template <int i>
ELEPHANT_HOST_DEVICE float magic_float(uint32_t bytes) {
  return float_from_bits(byte_perm(bytes, kFloatMagicBits, 0x7540u | static_cast<uint32_t>(i)));
}

// The 8 signed int4 values (q, -8..7) of one device-layout word, in column order.
ELEPHANT_HOST_DEVICE void int4_word_to_float(uint32_t word, float values[8]) {
  const uint32_t low = word & 0x0F0F0F0Fu;
  const uint32_t high = (word >> 4) & 0x0F0F0F0Fu;
  constexpr float kBias = kFloatMagic + 8.0f;
  values[0] = magic_float<0>(low) - kBias;
  values[1] = magic_float<1>(low) - kBias;
  values[2] = magic_float<2>(low) - kBias;
  values[3] = magic_float<3>(low) - kBias;
  values[4] = magic_float<0>(high) - kBias;
  values[5] = magic_float<1>(high) - kBias;
  values[6] = magic_float<2>(high) - kBias;
  values[7] = magic_float<3>(high) - kBias;
}

// The 4 signed int8 values of one word (4 consecutive columns, little-endian), in column order.
ELEPHANT_HOST_DEVICE void int8_word_to_float(uint32_t word, float values[4]) {
  const uint32_t biased = word ^ 0x80808080u;
  constexpr float kBias = kFloatMagic + 128.0f;
  values[0] = magic_float<0>(biased) - kBias;
  values[1] = magic_float<1>(biased) - kBias;
  values[2] = magic_float<2>(biased) - kBias;
  values[3] = magic_float<3>(biased) - kBias;
}

// Column c's int4 value within a device-layout word (for row tails and the host tests).
ELEPHANT_HOST_DEVICE int int4_in_word(uint32_t word, int c) {
  const int byte = c % 4;
  const int shift = 8 * byte + (c < 4 ? 0 : 4);
  return static_cast<int>((word >> shift) & 0xFu) - 8;
}

}  // namespace elephant::cuda
