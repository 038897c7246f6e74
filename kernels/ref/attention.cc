// Reference attention kernels: the executable specification of AttentionScoresFn and
// AttentionValuesFn. One plain fp32 sum per score in increasing i; each output element gathers
// its weighted values in increasing t; BF16 cache rows widened with core/dtype.h.
#include "kernels/ref/ref.h"

namespace elephant::kernels::ref {
namespace {

float cached(const void* rows, DType dtype, int64_t index) {
  if (dtype == DType::kBF16) return bf16_to_f32(static_cast<const uint16_t*>(rows)[index]);
  return static_cast<const float*>(rows)[index];
}

}  // namespace

void attention_scores(const float* q, int64_t n_queries, const void* k, DType kv_dtype, int64_t stride, int64_t n,
                      int64_t dim, float scale, float* scores, int64_t score_stride) {
  for (int64_t j = 0; j < n_queries; ++j) {
    const float* query = q + j * dim;
    for (int64_t t = 0; t < n; ++t) {
      float dot = 0.0f;
      for (int64_t i = 0; i < dim; ++i) dot += query[i] * cached(k, kv_dtype, t * stride + i);
      scores[j * score_stride + t] = dot * scale;
    }
  }
}

void attention_values(const float* p, int64_t p_stride, int64_t n_queries, const void* v, DType kv_dtype,
                      int64_t stride, int64_t n, int64_t dim, float* out) {
  for (int64_t j = 0; j < n_queries; ++j) {
    for (int64_t t = 0; t < n; ++t) {
      const float weight = p[j * p_stride + t];
      for (int64_t i = 0; i < dim; ++i) out[j * dim + i] += weight * cached(v, kv_dtype, t * stride + i);
    }
  }
}

}  // namespace elephant::kernels::ref
