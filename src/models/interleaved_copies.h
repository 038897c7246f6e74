// Copies of a model's int4 and BF16 matrices in the AVX-512 kernels' interleaved layouts
// (kernels/interleave.h), made once at load when the kernel table in use reads them. With several
// rows per matrix (batched decode, prefill) the interleaved kernels do a fraction of the per-weight
// work (int4: half; BF16: no cross-lane widening and weights read once per tile of rows), and for
// one row they read memory as fast as the checkpoint layout. The checkpoint mapping stays the
// source for every other reader (other kernel tables, the CUDA upload, `quantize`, the embedding).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "layers/swiglu.h"
#include "ops/ops.h"

namespace elephant::models {

class InterleavedCopies {
 public:
  // Whether add() makes copies: the active kernel table reads them.
  static bool used_by_active_kernels();
  // Attaches a copy to w when it is int4 or dense BF16 and its shape has an interleaved layout
  // (otherwise leaves it as is).
  void add(ops::WeightMatrix& w);
  void add(layers::SwigluWeights& weights);
  int64_t bytes() const { return bytes_; }

 private:
  std::vector<std::unique_ptr<std::byte[]>> buffers_;
  int64_t bytes_ = 0;
};

}  // namespace elephant::models
