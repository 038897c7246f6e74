// AVX2 attention kernels. A score is a chain of FMAs over the head dimension (one 8-lane
// accumulator, then the fixed horizontal sum and the scalar tail); eight keys run side by side so
// eight independent chains hide the FMA latency, and a key's arithmetic is the same whether it is
// one of eight or on its own. Values accumulate into up to eight 8-float slices of the output at a
// time, one broadcast weight per position, positions in increasing order. Every query of the group
// takes a chunk of keys (or a slice of the values) in turn while the chunk is in L1, so the cache
// rows come from memory once per group instead of once per query head.
#include <immintrin.h>

#include <cmath>

#include "kernels/cpu/avx2/avx2.h"
#include "kernels/cpu/avx2/simd.h"

namespace elephant::kernels::avx2 {
namespace {

template <int kKeys>
void scores_of_keys(const float* q, const float* k, int64_t stride, int64_t dim, float scale, float* scores) {
  __m256 acc[kKeys];
  for (int j = 0; j < kKeys; ++j) acc[j] = _mm256_setzero_ps();
  const int64_t vector_dim = dim - dim % 8;
  for (int64_t i = 0; i < vector_dim; i += 8) {
    const __m256 query = _mm256_loadu_ps(q + i);
    for (int j = 0; j < kKeys; ++j) acc[j] = _mm256_fmadd_ps(query, _mm256_loadu_ps(k + j * stride + i), acc[j]);
  }
  for (int j = 0; j < kKeys; ++j) {
    float dot = horizontal_sum(acc[j]);
    for (int64_t i = vector_dim; i < dim; ++i) dot += q[i] * k[j * stride + i];
    scores[j] = dot * scale;
  }
}

template <int kSlices>
void accumulate_slices(const float* p, const float* v, int64_t stride, int64_t n, float* out) {
  __m256 acc[kSlices];
  for (int s = 0; s < kSlices; ++s) acc[s] = _mm256_loadu_ps(out + 8 * s);
  for (int64_t t = 0; t < n; ++t) {
    const __m256 weight = _mm256_broadcast_ss(p + t);
    for (int s = 0; s < kSlices; ++s) acc[s] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(v + t * stride + 8 * s), acc[s]);
  }
  for (int s = 0; s < kSlices; ++s) _mm256_storeu_ps(out + 8 * s, acc[s]);
}

}  // namespace

void attention_scores(const float* q, int64_t n_queries, const float* k, int64_t stride, int64_t n, int64_t dim,
                      float scale, float* scores, int64_t score_stride) {
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

void attention_values(const float* p, int64_t p_stride, int64_t n_queries, const float* v, int64_t stride, int64_t n,
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
      for (int64_t t = 0; t < n; ++t) sum = std::fma(p[j * p_stride + t], v[t * stride + i], sum);
      out[j * dim + i] = sum;
    }
  }
}

}  // namespace elephant::kernels::avx2
