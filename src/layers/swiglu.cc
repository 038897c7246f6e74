#include "layers/swiglu.h"

namespace elephant::layers {

void swiglu_forward(const SwigluWeights& weights, const float* x, int64_t n_rows, float* out, SwigluScratch& scratch) {
  const auto width = static_cast<size_t>(n_rows * weights.gate.rows);
  if (scratch.gate.size() < width) {
    scratch.gate.resize(width);
    scratch.up.resize(width);
  }
  ops::matmul(x, n_rows, weights.gate, scratch.gate.data());
  ops::matmul(x, n_rows, weights.up, scratch.up.data());
  ops::silu_mul(scratch.gate.data(), scratch.up.data(), n_rows, weights.gate.rows);
  ops::matmul(scratch.gate.data(), n_rows, weights.down, out);
}

}  // namespace elephant::layers
