// Reference attention kernels: the executable specification of AttentionScoresFn and
// AttentionValuesFn. One plain fp32 sum per score in increasing i; each output element gathers
// its weighted values in increasing t.
#include "kernels/ref/ref.h"

namespace elephant::kernels::ref {

void attention_scores(const float* q, const float* k, int64_t stride, int64_t n, int64_t dim, float scale,
                      float* scores) {
  for (int64_t t = 0; t < n; ++t) {
    const float* key = k + t * stride;
    float dot = 0.0f;
    for (int64_t i = 0; i < dim; ++i) dot += q[i] * key[i];
    scores[t] = dot * scale;
  }
}

void attention_values(const float* p, const float* v, int64_t stride, int64_t n, int64_t dim, float* out) {
  for (int64_t t = 0; t < n; ++t) {
    const float* value = v + t * stride;
    for (int64_t i = 0; i < dim; ++i) out[i] += p[t] * value[i];
  }
}

}  // namespace elephant::kernels::ref
