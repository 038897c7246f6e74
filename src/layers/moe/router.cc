#include "layers/moe/router.h"

#include <algorithm>
#include <numeric>

#include "ops/ops.h"

namespace elephant::layers {

Routing route_softmax_top_k(float* logits, int64_t n_rows, int n_experts, int top_k, const config::RouterConfig& rule) {
  ops::softmax(logits, n_rows, n_experts);
  Routing routing;
  routing.top_k = top_k;
  routing.experts.resize(static_cast<size_t>(n_rows * top_k));
  routing.weights.resize(static_cast<size_t>(n_rows * top_k));
  std::vector<int32_t> order(static_cast<size_t>(n_experts));
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* probabilities = logits + r * n_experts;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + top_k, order.end(), [&](int32_t a, int32_t b) {
      return probabilities[a] != probabilities[b] ? probabilities[a] > probabilities[b] : a < b;
    });
    float sum = 0.0f;
    for (int j = 0; j < top_k; ++j) sum += probabilities[order[static_cast<size_t>(j)]];
    for (int j = 0; j < top_k; ++j) {
      const int32_t expert = order[static_cast<size_t>(j)];
      routing.experts[static_cast<size_t>(r * top_k + j)] = expert;
      routing.weights[static_cast<size_t>(r * top_k + j)] =
          rule.renormalize_top_k ? probabilities[expert] / sum : probabilities[expert];
    }
  }
  return routing;
}

}  // namespace elephant::layers
