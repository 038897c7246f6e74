// Copies of a model's int4 matrices in the AVX-512 kernels' interleaved layout
// (kernels/int4_interleave.h), made once at load when the kernel table in use reads them: with
// 2-6 rows per expert (batched decode) the interleaved kernel does half the work per weight, and
// it is as fast as the checkpoint layout for one row. The checkpoint mapping stays the source for
// every other reader (other kernel tables, the CUDA upload, `quantize`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "layers/swiglu.h"
#include "ops/ops.h"

namespace elephant::models {

class InterleavedInt4Copies {
 public:
  // Whether add() makes copies: the active kernel table reads them.
  static bool used_by_active_kernels();
  // Attaches a copy to w when it is int4 with rows a multiple of 16 (otherwise leaves it as is).
  void add(ops::WeightMatrix& w);
  void add(layers::SwigluWeights& weights);
  int64_t bytes() const { return bytes_; }

 private:
  std::vector<std::unique_ptr<std::byte[]>> buffers_;
  int64_t bytes_ = 0;
};

}  // namespace elephant::models
