// Small AVX2 helpers shared by the AVX2 kernels. Include only from files compiled with
// -mavx2 -mfma -mf16c (kernels/CMakeLists.txt), so these inline functions are never merged with
// a baseline-ISA copy.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace elephant::kernels::avx2 {

// Fixed reduction order: high half onto low half, then pairs, then the last two lanes.
inline float horizontal_sum(__m256 v) {
  const __m128 low = _mm256_castps256_ps128(v);
  const __m128 high = _mm256_extractf128_ps(v, 1);
  __m128 sum = _mm_add_ps(low, high);
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

inline int32_t horizontal_sum(__m256i v) {
  __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(1, 0, 3, 2)));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(sum);
}

}  // namespace elephant::kernels::avx2
