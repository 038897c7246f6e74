#include "models/interleaved_int4.h"

#include "kernels/int4_interleave.h"

namespace elephant::models {

bool InterleavedInt4Copies::used_by_active_kernels() { return ops::active_kernels().reads_interleaved_int4; }

void InterleavedInt4Copies::add(ops::WeightMatrix& w) {
  if (!kernels::can_interleave_int4(w)) return;
  const int64_t data_bytes = kernels::interleaved_int4_data_bytes(w);
  const int64_t scale_bytes = kernels::interleaved_int4_scale_bytes(w);
  auto buffer = std::make_unique_for_overwrite<std::byte[]>(static_cast<size_t>(data_bytes + scale_bytes));
  kernels::interleave_int4(w, buffer.get(), buffer.get() + data_bytes);
  w.interleaved_data = buffer.get();
  w.interleaved_scales = buffer.get() + data_bytes;
  bytes_ += data_bytes + scale_bytes;
  buffers_.push_back(std::move(buffer));
}

void InterleavedInt4Copies::add(layers::SwigluWeights& weights) {
  add(weights.gate);
  add(weights.up);
  add(weights.down);
}

}  // namespace elephant::models
