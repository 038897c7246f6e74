// AVX2 attention kernels. A score is a chain of FMAs over the head dimension (one 8-lane
// accumulator, then the fixed horizontal sum and the scalar tail); eight keys run side by side so
// eight independent chains hide the FMA latency, and a key's arithmetic is the same whether it is
// one of eight or on its own. Values accumulate into up to eight 8-float slices of the output at a
// time, one broadcast weight per position, positions in increasing order. Every query of the group
// takes a chunk of keys (or a slice of the values) in turn while the chunk is in L1, so the cache
// rows come from memory once per group instead of once per query head. BF16 cache rows are widened
// exactly in registers (a shift), so they cost half the memory traffic of F32 rows.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels/cpu/avx2/avx2.h"
#include "kernels/cpu/avx2/simd.h"

namespace elephant::kernels::avx2 {
namespace {

// Eight cached values as fp32: F32 rows as they are, BF16 rows widened exactly.
inline __m256 load_cached(const float* row) { return _mm256_loadu_ps(row); }
inline __m256 load_cached(const uint16_t* row) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
}
inline float cached_scalar(const float* row, int64_t i) { return row[i]; }
// Local widening rather than core/dtype.h's inline bf16_to_f32: an inline function compiled here
// with -mavx2 could be the copy the linker keeps for baseline code too.
inline float cached_scalar(const uint16_t* row, int64_t i) {
  const uint32_t bits = static_cast<uint32_t>(row[i]) << 16;
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

template <int kKeys, typename T>
void scores_of_keys(const float* q, const T* k, int64_t stride, int64_t dim, float scale, float* scores) {
  __m256 acc[kKeys];
  for (int j = 0; j < kKeys; ++j) acc[j] = _mm256_setzero_ps();
  const int64_t vector_dim = dim - dim % 8;
  for (int64_t i = 0; i < vector_dim; i += 8) {
    const __m256 query = _mm256_loadu_ps(q + i);
    for (int j = 0; j < kKeys; ++j) acc[j] = _mm256_fmadd_ps(query, load_cached(k + j * stride + i), acc[j]);
  }
  for (int j = 0; j < kKeys; ++j) {
    float dot = horizontal_sum(acc[j]);
    for (int64_t i = vector_dim; i < dim; ++i) dot += q[i] * cached_scalar(k + j * stride, i);
    scores[j] = dot * scale;
  }
}

template <int kSlices, typename T>
void accumulate_slices(const float* p, const T* v, int64_t stride, int64_t n, float* out) {
  __m256 acc[kSlices];
  for (int s = 0; s < kSlices; ++s) acc[s] = _mm256_loadu_ps(out + 8 * s);
  for (int64_t t = 0; t < n; ++t) {
    const __m256 weight = _mm256_broadcast_ss(p + t);
    for (int s = 0; s < kSlices; ++s) acc[s] = _mm256_fmadd_ps(weight, load_cached(v + t * stride + 8 * s), acc[s]);
  }
  for (int s = 0; s < kSlices; ++s) _mm256_storeu_ps(out + 8 * s, acc[s]);
}

template <typename T>
void scores_typed(const float* q, int64_t n_queries, const T* k, int64_t stride, int64_t n, int64_t dim, float scale,
                  float* scores, int64_t score_stride) {
  constexpr int kKeys = 8;
  int64_t t = 0;
  for (; t + kKeys <= n; t += kKeys) {
    for (int64_t j = 0; j < n_queries; ++j) {
      scores_of_keys<kKeys>(q + j * dim, k + t * stride, stride, dim, scale, scores + j * score_stride + t);
    }
  }
  for (; t < n; ++t) {
    for (int64_t j = 0; j < n_queries; ++j) {
      scores_of_keys<1>(q + j * dim, k + t * stride, stride, dim, scale, scores + j * score_stride + t);
    }
  }
}

template <typename T>
void values_typed(const float* p, int64_t p_stride, int64_t n_queries, const T* v, int64_t stride, int64_t n,
                  int64_t dim, float* out) {
  constexpr int kSlices = 8;
  int64_t i = 0;
  for (; i + 8 * kSlices <= dim; i += 8 * kSlices) {
    for (int64_t j = 0; j < n_queries; ++j) accumulate_slices<kSlices>(p + j * p_stride, v + i, stride, n, out + j * dim + i);
  }
  for (; i + 8 <= dim; i += 8) {
    for (int64_t j = 0; j < n_queries; ++j) accumulate_slices<1>(p + j * p_stride, v + i, stride, n, out + j * dim + i);
  }
  for (; i < dim; ++i) {
    for (int64_t j = 0; j < n_queries; ++j) {
      float sum = out[j * dim + i];
      for (int64_t t = 0; t < n; ++t) sum = std::fma(p[j * p_stride + t], cached_scalar(v + t * stride, i), sum);
      out[j * dim + i] = sum;
    }
  }
}

}  // namespace

void attention_scores(const float* q, int64_t n_queries, const void* k, DType kv_dtype, int64_t stride, int64_t n,
                      int64_t dim, float scale, float* scores, int64_t score_stride) {
  if (kv_dtype == DType::kBF16) {
    return scores_typed(q, n_queries, static_cast<const uint16_t*>(k), stride, n, dim, scale, scores, score_stride);
  }
  scores_typed(q, n_queries, static_cast<const float*>(k), stride, n, dim, scale, scores, score_stride);
}

void attention_values(const float* p, int64_t p_stride, int64_t n_queries, const void* v, DType kv_dtype,
                      int64_t stride, int64_t n, int64_t dim, float* out) {
  if (kv_dtype == DType::kBF16) {
    return values_typed(p, p_stride, n_queries, static_cast<const uint16_t*>(v), stride, n, dim, out);
  }
  values_typed(p, p_stride, n_queries, static_cast<const float*>(v), stride, n, dim, out);
}

}  // namespace elephant::kernels::avx2
