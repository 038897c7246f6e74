#include "models/weight_copies.h"

#include <algorithm>
#include <cstring>
#include <span>

#include "core/memory.h"
#include "kernels/interleave.h"

namespace elephant::models {

kernels::InterleavedLayouts WeightCopies::interleaved_by_active_kernels() {
  return ops::active_kernels().reads_interleaved;
}

int64_t WeightCopies::reserve_bytes(int64_t total_memory_bytes) {
  return std::max(int64_t{1} << 30, total_memory_bytes / 8);
}

void WeightCopies::add(ops::WeightMatrix& w, bool keep_source) {
  const bool int4 = interleave_.int4 && kernels::can_interleave_int4(w);
  const bool int8 = interleave_.int8 && kernels::can_interleave_int8(w);
  const bool bf16 = interleave_.bf16 && kernels::can_interleave_bf16(w);
  const std::span<const std::byte> source = kernels::weight_data_bytes(w);
  const std::span<const std::byte> source_scales = kernels::weight_scale_bytes(w);
  const auto data_bytes = static_cast<int64_t>(source.size());
  // int8 kernels read the scales in place; an int4 copy holds its own, interleaved.
  const int64_t scale_bytes = int8 ? 0 : static_cast<int64_t>(source_scales.size());
  if (!leaves_reserve(data_bytes + scale_bytes)) {
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
  } else if (bf16) {
    kernels::interleave_bf16(w, buffer);
  } else {
    std::memcpy(buffer, source.data(), source.size());
    if (!source_scales.empty()) std::memcpy(buffer + data_bytes, source_scales.data(), source_scales.size());
  }
  if (!keep_source) {
    release_pages(source.data(), source.size());
    if (scale_bytes > 0) release_pages(source_scales.data(), source_scales.size());
  }
  if (int4 || int8 || bf16) {
    w.interleaved_data = buffer;
    interleaved_bytes_ += data_bytes + scale_bytes;
  } else {
    w.data = buffer;
    if (!source_scales.empty()) w.scales = buffer + data_bytes;
  }
  bytes_ += data_bytes + scale_bytes;
}

bool WeightCopies::leaves_reserve(int64_t bytes) {
  const auto fits = [&] {
    return !memory_ || memory_->available_bytes - bytes >= reserve_bytes(memory_->total_bytes);
  };
  if (copied_since_reading_ >= kRereadBytes || !fits()) {
    memory_ = memory_info();
    copied_since_reading_ = 0;
  }
  if (!fits()) return false;
  if (memory_) memory_->available_bytes -= bytes;
  copied_since_reading_ += bytes;
  return true;
}

std::byte* WeightCopies::allocate(int64_t bytes) {
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

void WeightCopies::add(layers::SwigluWeights& weights) {
  add(weights.gate);
  add(weights.up);
  add(weights.down);
}

}  // namespace elephant::models
