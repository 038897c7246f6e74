// Keys and values of past positions, per sequence slot and layer: [slot][layer][position][kv_dim]
// with kv_dim = n_kv_heads * head_dim. Each slot holds up to capacity positions, allocated when
// the slot is first used. (The batching engine replaces this with fixed-size blocks.)
#pragma once

#include <cstdint>
#include <vector>

namespace elephant::layers {

class KvCache {
 public:
  KvCache(int n_layers, int64_t kv_dim, int64_t capacity) : n_layers_(n_layers), kv_dim_(kv_dim), capacity_(capacity) {}

  // Pointers to the K / V rows of a (slot, layer, position); the slot is created on first use.
  // Throws Error when position is beyond the capacity (the context length).
  float* key(int32_t slot, int layer, int32_t position);
  float* value(int32_t slot, int layer, int32_t position);
  const float* keys(int32_t slot, int layer) const;    // [capacity, kv_dim]
  const float* values(int32_t slot, int layer) const;  // [capacity, kv_dim]
  void clear(int32_t slot);

  int64_t kv_dim() const { return kv_dim_; }
  int64_t capacity() const { return capacity_; }

 private:
  struct Slot {
    std::vector<float> keys;    // [n_layers, capacity, kv_dim]
    std::vector<float> values;  // [n_layers, capacity, kv_dim]
  };
  Slot& slot(int32_t slot, int32_t position);

  int n_layers_;
  int64_t kv_dim_;
  int64_t capacity_;
  std::vector<Slot> slots_;
};

}  // namespace elephant::layers
