// Copies of a model's int4, int8 and BF16 matrices in the AVX-512 kernels' interleaved layouts
// (kernels/interleave.h), made once at load when the kernel table in use reads them. With several
// rows per matrix (batched decode, prefill) the interleaved kernels do a fraction of the per-weight
// work (int4: half; int8: no per-call weight sums or horizontal sums; BF16: no cross-lane widening
// and weights read once per tile of rows), and for one row they read memory at least as fast as
// the checkpoint layout. The checkpoint mapping stays the
// source for every other reader (other kernel tables, the CUDA upload, `quantize`, the embedding),
// but once a matrix is copied its mapped pages are handed back to the kernel (read again from the
// file if something touches them), so a model holds about one copy of its weights, not two.
// A copy that would leave less than reserve_bytes() of available memory is not made: that matrix
// keeps the checkpoint layout (a random-weight model's source cannot be handed back, and twice a
// large one may not fit; the KV cache and the scratch are allocated after the weights).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/memory.h"
#include "layers/swiglu.h"
#include "ops/ops.h"

namespace elephant::models {

class InterleavedCopies {
 public:
  // Whether add() makes copies: the active kernel table reads them.
  static bool used_by_active_kernels();
  // Available memory a copy must leave: an eighth of the machine's, at least 1 GiB.
  static int64_t reserve_bytes(int64_t total_memory_bytes);

  // Attaches a copy to w when it is int4, int8 or dense BF16, its shape has an interleaved layout and
  // memory allows (otherwise leaves it as is). keep_source: the mapped pages stay (a tied LM head
  // whose source is also the embedding table read row by row).
  void add(ops::WeightMatrix& w, bool keep_source = false);
  void add(layers::SwigluWeights& weights);
  int64_t bytes() const { return bytes_; }
  // Matrices left in the checkpoint layout for lack of memory, and their bytes.
  int64_t skipped() const { return skipped_; }
  int64_t skipped_bytes() const { return skipped_bytes_; }

 private:
  // A copy's bytes, cut from huge-page chunks (core/memory.h): one mapping per chunk rather than per
  // matrix (a model of many small experts has tens of thousands), and small matrices share huge
  // pages.
  std::byte* allocate(int64_t bytes);

  std::vector<HugePageBuffer> chunks_;
  size_t chunk_used_ = 0;
  int64_t bytes_ = 0;
  int64_t skipped_ = 0;
  int64_t skipped_bytes_ = 0;
};

}  // namespace elephant::models
