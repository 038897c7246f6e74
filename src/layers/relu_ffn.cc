#include "layers/relu_ffn.h"

#include <algorithm>

namespace elephant::layers {

void relu_ffn_forward(const ReluFfnWeights& weights, const float* x, int64_t n_rows, float* out, ReluFfnScratch& scratch) {
  const auto width = static_cast<size_t>(n_rows * weights.in.rows);
  if (scratch.hidden.size() < width) scratch.hidden.resize(width);
  ops::matmul(x, n_rows, weights.in, scratch.hidden.data(), weights.in_bias);
  std::for_each(scratch.hidden.begin(), scratch.hidden.begin() + static_cast<std::ptrdiff_t>(width),
                [](float& value) { value = std::max(value, 0.0f); });
  ops::matmul(scratch.hidden.data(), n_rows, weights.out, out, weights.out_bias);
}

}  // namespace elephant::layers
