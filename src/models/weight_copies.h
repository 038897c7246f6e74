// The model's load-time copies of its resident matrices, on huge pages (core/memory.h). Matrices of
// the formats whose interleaved layouts (kernels/interleave.h) the kernel table in use reads (int4,
// int8 and BF16 on AVX-512; int4 and BF16 on AVX2) and of a suitable shape are copied into them:
// with several rows per matrix (batched decode, prefill) the interleaved kernels do a fraction of
// the per-weight work (int4: half; int8: no per-call weight sums or horizontal sums; BF16: no
// cross-lane widening and weights read once per tile of rows), and for one row they read memory at
// least as fast as the checkpoint layout. Every other matrix is copied as it is: the mapped
// checkpoint sits on 4 KiB pages, and on the AVX2 table (Zen 5, Mixtral-2L int8) decode from
// huge-page copies ran 6-10% faster.
// An interleaved copy sits beside the matrix (interleaved_data), whose data and scales stay the
// mapped checkpoint for every other reader (other kernel tables, the CUDA upload, `quantize`); a
// plain copy replaces data and scales (same bytes). Either way the mapped pages are handed back to
// the kernel once copied (read again from the file if something touches them), so a model holds
// about one copy of its weights, not two. A copy that would leave less than reserve_bytes() of
// available memory is not made: that matrix stays the mapped checkpoint (a random-weight model's
// source cannot be handed back, and twice a large one may not fit; the KV cache and the scratch
// are allocated after the weights).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/memory.h"
#include "layers/swiglu.h"
#include "ops/ops.h"

namespace elephant::models {

class WeightCopies {
 public:
  // The interleaved layouts the active kernel table reads.
  static kernels::InterleavedLayouts interleaved_by_active_kernels();
  WeightCopies() = default;
  explicit WeightCopies(kernels::InterleavedLayouts interleave) : interleave_(interleave) {}
  // Available memory a copy must leave: an eighth of the machine's, at least 1 GiB.
  static int64_t reserve_bytes(int64_t total_memory_bytes);

  // Copies w when memory allows (otherwise leaves it as is): into its format's interleaved layout
  // when that layout is among those interleaved and w's shape has it, else as it is. keep_source:
  // the mapped pages stay (a tied LM head whose source is also the embedding table read row by row).
  void add(ops::WeightMatrix& w, bool keep_source = false);
  void add(layers::SwigluWeights& weights);
  int64_t bytes() const { return bytes_; }
  // Interleaved copies among bytes().
  int64_t interleaved_bytes() const { return interleaved_bytes_; }
  // Matrices left uncopied for lack of memory, and their bytes.
  int64_t skipped() const { return skipped_; }
  int64_t skipped_bytes() const { return skipped_bytes_; }

 private:
  // A copy's bytes, cut from huge-page chunks (core/memory.h): one mapping per chunk rather than per
  // matrix (a model of many small experts has tens of thousands), and small matrices share huge
  // pages.
  std::byte* allocate(int64_t bytes);
  // Whether a copy of `bytes` leaves reserve_bytes() available. /proc/meminfo (~30 µs a read) is
  // read again only after kRereadBytes of copies or when the running estimate (the last reading
  // less what was copied since, which ignores the mapped pages handed back: an underestimate) says
  // no: a model of many small experts has tens of thousands of matrices.
  bool leaves_reserve(int64_t bytes);
  static constexpr int64_t kRereadBytes = int64_t{256} << 20;

  kernels::InterleavedLayouts interleave_;
  std::vector<HugePageBuffer> chunks_;
  size_t chunk_used_ = 0;
  int64_t bytes_ = 0;
  int64_t interleaved_bytes_ = 0;
  int64_t skipped_ = 0;
  int64_t skipped_bytes_ = 0;
  std::optional<MemoryInfo> memory_;  // the last reading, available bytes less the copies since
  int64_t copied_since_reading_ = kRereadBytes;  // so the first copy reads
};

}  // namespace elephant::models
