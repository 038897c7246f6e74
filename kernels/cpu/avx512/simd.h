// Helpers for the AVX-512 kernels: horizontal sums in an order fixed here (upper 256 bits onto the
// lower, then 128, then pairs) rather than left to the compiler's _mm512_reduce_add_* expansion,
// and a vpdpbusd into an accumulator that stays in its register. Include only from files
// compiled with the AVX-512 flags (kernels/CMakeLists.txt), so these inline functions are never
// merged with another ISA's copy.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace elephant::kernels::avx512 {

inline float horizontal_sum(__m512 v) {
  const __m256 halves = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_castps512_ps256(_mm512_shuffle_f32x4(v, v, 0xEE)));
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(halves), _mm256_extractf128_ps(halves, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

inline int32_t horizontal_sum(__m512i v) {
  const __m256i halves =
      _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_castsi512_si256(_mm512_shuffle_i32x4(v, v, 0xEE)));
  __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(halves), _mm256_extracti128_si256(halves, 1));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(1, 0, 3, 2)));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(sum);
}

// acc += Σ of 4 u8·s8 products per lane (vpdpbusd), written as asm with the accumulator as an
// in-out register: in the interleaved int4 kernel's quad loop GCC 12 kept each accumulator in two
// registers and copied it back and forth every iteration (24 moves per 24 vpdpbusd at 6 rows ×
// 2 blocks), which cost a quarter of the in-cache speed. The instruction is the intrinsic's own.
// (The same rewrite of the 24-accumulator BF16 tiles made GCC keep them on the stack instead.)
inline void dpbusd_into(__m512i& acc, __m512i unsigned_bytes, __m512i signed_bytes) {
  __asm__("vpdpbusd %1, %2, %0" : "+v"(acc) : "v"(signed_bytes), "v"(unsigned_bytes));
}

}  // namespace elephant::kernels::avx512
