#include "layers/moe/router.h"

#include <algorithm>
#include <cfloat>
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

namespace {

int32_t argmax(const float* values, int n, int32_t skip = -1) {
  int32_t best = -1;
  for (int32_t e = 0; e < n; ++e) {
    if (e != skip && (best < 0 || values[e] > values[best])) best = e;
  }
  return best;
}

}  // namespace

Routing route_top1_capacity(float* logits, int64_t n_rows, int n_experts, std::span<const int32_t> segments, int capacity) {
  ops::softmax(logits, n_rows, n_experts);
  Routing routing;
  routing.top_k = 1;
  routing.experts.resize(static_cast<size_t>(n_rows));
  routing.weights.resize(static_cast<size_t>(n_rows));
  const int32_t n_segments = n_rows == 0 ? 0 : *std::max_element(segments.begin(), segments.end()) + 1;
  std::vector<int> taken(static_cast<size_t>(n_segments) * static_cast<size_t>(n_experts), 0);
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* probabilities = logits + r * n_experts;
    const int32_t expert = argmax(probabilities, n_experts);
    int& count = taken[static_cast<size_t>(segments[static_cast<size_t>(r)]) * static_cast<size_t>(n_experts) +
                       static_cast<size_t>(expert)];
    const bool kept = ++count <= capacity;
    routing.experts[static_cast<size_t>(r)] = kept ? expert : n_experts;
    routing.weights[static_cast<size_t>(r)] = kept ? probabilities[expert] : 0.0f;
  }
  return routing;
}

Routing route_top2_gshard(float* logits, int64_t n_rows, int n_experts) {
  std::vector<float> raw(logits, logits + n_rows * n_experts);
  ops::softmax(logits, n_rows, n_experts);
  Routing routing;
  routing.top_k = 2;
  routing.experts.resize(static_cast<size_t>(n_rows * 2));
  routing.weights.resize(static_cast<size_t>(n_rows * 2));
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* probabilities = logits + r * n_experts;
    const int32_t first = argmax(probabilities, n_experts);
    const int32_t second = argmax(raw.data() + r * n_experts, n_experts, first);
    const float denominator = std::max(probabilities[first] + probabilities[second], FLT_EPSILON);
    routing.experts[static_cast<size_t>(2 * r)] = first;
    routing.experts[static_cast<size_t>(2 * r + 1)] = second;
    routing.weights[static_cast<size_t>(2 * r)] = probabilities[first] / denominator;
    routing.weights[static_cast<size_t>(2 * r + 1)] = probabilities[second] / denominator;
  }
  return routing;
}

}  // namespace elephant::layers
