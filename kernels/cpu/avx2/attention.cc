// AVX2 attention kernels. A score is a chain of FMAs over the head dimension (one 8-lane
// accumulator, then the fixed horizontal sum and the scalar tail); eight keys run side by side so
// eight independent chains hide the FMA latency, and a key's arithmetic is the same whether it is
// one of eight or on its own. Values accumulate into up to eight 8-float slices of the output at a
// time, one broadcast weight per position, positions in increasing order.
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

void attention_scores(const float* q, const float* k, int64_t stride, int64_t n, int64_t dim, float scale,
                      float* scores) {
  constexpr int kKeys = 8;
  int64_t t = 0;
  for (; t + kKeys <= n; t += kKeys) scores_of_keys<kKeys>(q, k + t * stride, stride, dim, scale, scores + t);
  for (; t < n; ++t) scores_of_keys<1>(q, k + t * stride, stride, dim, scale, scores + t);
}

void attention_values(const float* p, const float* v, int64_t stride, int64_t n, int64_t dim, float* out) {
  constexpr int kSlices = 8;
  int64_t i = 0;
  for (; i + 8 * kSlices <= dim; i += 8 * kSlices) accumulate_slices<kSlices>(p, v + i, stride, n, out + i);
  for (; i + 8 <= dim; i += 8) accumulate_slices<1>(p, v + i, stride, n, out + i);
  for (; i < dim; ++i) {
    float sum = out[i];
    for (int64_t t = 0; t < n; ++t) sum = std::fma(p[t], v[t * stride + i], sum);
    out[i] = sum;
  }
}

}  // namespace elephant::kernels::avx2
