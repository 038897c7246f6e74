#include "models/interleaved_copies.h"

#include <algorithm>

#include "core/memory.h"
#include "kernels/interleave.h"

namespace elephant::models {

bool InterleavedCopies::used_by_active_kernels() { return ops::active_kernels().reads_interleaved; }

int64_t InterleavedCopies::reserve_bytes(int64_t total_memory_bytes) {
  return std::max(int64_t{1} << 30, total_memory_bytes / 8);
}

void InterleavedCopies::add(ops::WeightMatrix& w, bool keep_source) {
  const bool int4 = kernels::can_interleave_int4(w);
  const bool int8 = kernels::can_interleave_int8(w);
  if (!int4 && !int8 && !kernels::can_interleave_bf16(w)) return;
  const int64_t data_bytes = int4   ? kernels::interleaved_int4_data_bytes(w)
                             : int8 ? kernels::interleaved_int8_bytes(w)
                                    : kernels::interleaved_bf16_bytes(w);
  const int64_t scale_bytes = int4 ? kernels::interleaved_int4_scale_bytes(w) : 0;
  if (const auto memory = memory_info();
      memory && memory->available_bytes - (data_bytes + scale_bytes) < reserve_bytes(memory->total_bytes)) {
    ++skipped_;
    skipped_bytes_ += data_bytes + scale_bytes;
    return;
  }
  auto buffer = std::make_unique_for_overwrite<std::byte[]>(static_cast<size_t>(data_bytes + scale_bytes));
  if (int4) {
    kernels::interleave_int4(w, buffer.get(), buffer.get() + data_bytes);
    w.interleaved_scales = buffer.get() + data_bytes;
  } else if (int8) {
    kernels::interleave_int8(w, buffer.get());
  } else {
    kernels::interleave_bf16(w, buffer.get());
  }
  if (!keep_source) {
    release_pages(w.data, static_cast<size_t>(data_bytes));
    release_pages(w.scales, static_cast<size_t>(scale_bytes));  // 0 unless int4: int8 kernels read the scales in place
  }
  w.interleaved_data = buffer.get();
  bytes_ += data_bytes + scale_bytes;
  buffers_.push_back(std::move(buffer));
}

void InterleavedCopies::add(layers::SwigluWeights& weights) {
  add(weights.gate);
  add(weights.up);
  add(weights.down);
}

}  // namespace elephant::models
