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
  std::byte* buffer = allocate(data_bytes + scale_bytes);
  if (int4) {
    kernels::interleave_int4(w, buffer, buffer + data_bytes);
    w.interleaved_scales = buffer + data_bytes;
  } else if (int8) {
    kernels::interleave_int8(w, buffer);
  } else {
    kernels::interleave_bf16(w, buffer);
  }
  if (!keep_source) {
    release_pages(w.data, static_cast<size_t>(data_bytes));
    release_pages(w.scales, static_cast<size_t>(scale_bytes));  // 0 unless int4: int8 kernels read the scales in place
  }
  w.interleaved_data = buffer;
  bytes_ += data_bytes + scale_bytes;
}

std::byte* InterleavedCopies::allocate(int64_t bytes) {
  constexpr size_t kChunkBytes = size_t{64} << 20;
  constexpr size_t kAlignment = 64;  // whole cache lines
  const size_t size = (static_cast<size_t>(bytes) + kAlignment - 1) / kAlignment * kAlignment;
  if (chunks_.empty() || chunk_used_ + size > chunks_.back().size()) {
    chunks_.emplace_back(std::max(size, kChunkBytes));
    chunk_used_ = 0;
  }
  std::byte* data = chunks_.back().data() + chunk_used_;
  chunk_used_ += size;
  return data;
}

void InterleavedCopies::add(layers::SwigluWeights& weights) {
  add(weights.gate);
  add(weights.up);
  add(weights.down);
}

}  // namespace elephant::models
