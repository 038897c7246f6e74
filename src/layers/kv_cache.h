// Keys and values of past positions in fixed-size blocks from one pool, so many sequences share
// a memory budget: a sequence holds only the blocks its positions need, and gives them back when
// it finishes. Block layout: [layer][K|V][block_size][kv_dim] elements, kv_dim = n_kv_heads × head_dim;
// elements are F32, or BF16 (rounded to nearest even when stored) for half the memory and traffic.
//
// Sequences are identified by a slot number chosen by the caller (the engine reuses slots).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/dtype.h"

namespace elephant::layers {

class KvCache {
 public:
  // max_positions: the longest sequence allowed (the model's context length). The pool is reserved,
  // not written: a block's memory becomes resident when a sequence first writes it, so a large
  // budget costs address space, not RAM, until it is used. Throws Error when it cannot be reserved.
  // dtype: F32 or BF16 (else Error).
  KvCache(int n_layers, int64_t kv_dim, int block_size, int n_blocks, int64_t max_positions,
          DType dtype = DType::kF32);

  // Bytes one block takes for this shape (to turn a memory budget into a block count).
  static int64_t block_bytes(int n_layers, int64_t kv_dim, int block_size, DType dtype = DType::kF32);

  // Makes positions [0, n_positions) of the slot writable. Returns false, allocating nothing, when
  // the pool lacks free blocks; throws Error when n_positions exceeds max_positions.
  bool reserve(int32_t slot, int64_t n_positions);
  // Returns every block of the slot to the pool.
  void release(int32_t slot);

  // Writes the K and V rows [kv_dim] of a reserved (slot, layer, position), converted to dtype().
  void store(int32_t slot, int layer, int64_t position, const float* key, const float* value);
  // K / V rows [kv_dim] of dtype() of a reserved (slot, layer, position). The positions of one block
  // are consecutive rows, kv_dim elements apart.
  const void* key(int32_t slot, int layer, int64_t position) const;
  const void* value(int32_t slot, int layer, int64_t position) const;

  DType dtype() const { return dtype_; }
  int64_t kv_dim() const { return kv_dim_; }
  int64_t max_positions() const { return max_positions_; }
  int block_size() const { return block_size_; }
  int free_blocks() const { return static_cast<int>(free_.size()); }
  int total_blocks() const { return n_blocks_; }
  int64_t pool_bytes() const { return int64_t{n_blocks_} * block_bytes(n_layers_, kv_dim_, block_size_, dtype_); }
  int64_t reserved_positions(int32_t slot) const;

 private:
  std::byte* row(int32_t slot, int layer, int part, int64_t position) const;

  int n_layers_;
  int64_t kv_dim_;
  int block_size_;
  int n_blocks_;
  int64_t max_positions_;
  DType dtype_;
  std::unique_ptr<std::byte[]> pool_;        // [n_blocks, n_layers, 2, block_size, kv_dim], uninitialized
  std::vector<int32_t> free_;                // free block ids, taken from the back
  std::vector<std::vector<int32_t>> tables_;  // per slot: block ids in position order
};

}  // namespace elephant::layers
