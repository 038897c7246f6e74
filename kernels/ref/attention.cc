// Reference attention kernels: the executable specification of AttentionScoresFn and
// AttentionValuesFn. One plain fp32 sum per score in increasing i; each output element gathers
// its weighted values in increasing t.
#include "kernels/ref/ref.h"

namespace elephant::kernels::ref {

void attention_scores(const float* q, int64_t n_queries, const float* k, int64_t stride, int64_t n, int64_t dim,
                      float scale, float* scores, int64_t score_stride) {
  for (int64_t j = 0; j < n_queries; ++j) {
    const float* query = q + j * dim;
    for (int64_t t = 0; t < n; ++t) {
      const float* key = k + t * stride;
      float dot = 0.0f;
      for (int64_t i = 0; i < dim; ++i) dot += query[i] * key[i];
      scores[j * score_stride + t] = dot * scale;
    }
  }
}

void attention_values(const float* p, int64_t p_stride, int64_t n_queries, const float* v, int64_t stride, int64_t n,
                      int64_t dim, float* out) {
  for (int64_t j = 0; j < n_queries; ++j) {
    for (int64_t t = 0; t < n; ++t) {
      const float weight = p[j * p_stride + t];
      const float* value = v + t * stride;
      for (int64_t i = 0; i < dim; ++i) out[j * dim + i] += weight * value[i];
    }
  }
}

}  // namespace elephant::kernels::ref
