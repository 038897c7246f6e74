#include "layers/swiglu.h"

namespace elephant::layers {

void swiglu_forward(const SwigluWeights& weights, const float* x, int64_t n_rows, float* out, SwigluScratch& scratch) {
  const auto width = static_cast<size_t>(n_rows * weights.gate.rows);
  if (scratch.gate.size() < width) {
    scratch.gate.resize(width);
    scratch.up.resize(width);
  }
  ops::silu_gated_matmul(x, n_rows, weights.gate, weights.up, scratch.gate.data(), scratch.up.data());
  ops::matmul(scratch.gate.data(), n_rows, weights.down, out);
}

}  // namespace elephant::layers
