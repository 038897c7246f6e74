#include "layers/kv_cache.h"

#include "core/error.h"

namespace elephant::layers {

KvCache::Slot& KvCache::slot(int32_t slot, int32_t position) {
  if (slot < 0) fail("KV cache: negative slot {}", slot);
  if (position < 0 || position >= capacity_) {
    fail("position {} is outside the context window of {} tokens (max_position_embeddings or --context)", position,
         capacity_);
  }
  if (static_cast<size_t>(slot) >= slots_.size()) slots_.resize(static_cast<size_t>(slot) + 1);
  Slot& entry = slots_[static_cast<size_t>(slot)];
  if (entry.keys.empty()) {
    entry.keys.assign(static_cast<size_t>(n_layers_ * capacity_ * kv_dim_), 0.0f);
    entry.values.assign(entry.keys.size(), 0.0f);
  }
  return entry;
}

float* KvCache::key(int32_t slot_id, int layer, int32_t position) {
  return slot(slot_id, position).keys.data() + (layer * capacity_ + position) * kv_dim_;
}

float* KvCache::value(int32_t slot_id, int layer, int32_t position) {
  return slot(slot_id, position).values.data() + (layer * capacity_ + position) * kv_dim_;
}

const float* KvCache::keys(int32_t slot_id, int layer) const {
  return slots_[static_cast<size_t>(slot_id)].keys.data() + layer * capacity_ * kv_dim_;
}

const float* KvCache::values(int32_t slot_id, int layer) const {
  return slots_[static_cast<size_t>(slot_id)].values.data() + layer * capacity_ * kv_dim_;
}

void KvCache::clear(int32_t slot_id) {
  if (slot_id >= 0 && static_cast<size_t>(slot_id) < slots_.size()) slots_[static_cast<size_t>(slot_id)] = Slot{};
}

}  // namespace elephant::layers
