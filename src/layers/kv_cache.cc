#include "layers/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "core/error.h"

namespace elephant::layers {

KvCache::KvCache(int n_layers, int64_t kv_dim, int block_size, int n_blocks, int64_t max_positions, DType dtype)
    : n_layers_(n_layers),
      kv_dim_(kv_dim),
      block_size_(block_size),
      n_blocks_(n_blocks),
      max_positions_(max_positions),
      dtype_(dtype) {
  if (block_size <= 0 || n_blocks <= 0) fail("KV cache: block size {} and block count {} must be positive", block_size, n_blocks);
  if (dtype != DType::kF32 && dtype != DType::kBF16) {
    fail("KV cache: element type {} is not supported: expected F32 or BF16", dtype_name(dtype));
  }
  const auto bytes = static_cast<size_t>(block_bytes(n_layers, kv_dim, block_size, dtype)) * static_cast<size_t>(n_blocks);
  // Default-initialized, so no page is touched here: every position is written before it is read.
  try {
    pool_.reset(new std::byte[bytes]);
  } catch (const std::bad_alloc&) {
    fail("KV cache: cannot reserve {:.1f} GiB ({} blocks of {} positions × {} layers × K and V × {} {} values); bound "
         "it with a shorter context or a smaller KV budget",
         static_cast<double>(bytes) / (1 << 30), n_blocks, block_size, n_layers, kv_dim, dtype_name(dtype));
  }
  free_.resize(static_cast<size_t>(n_blocks));
  // Hand out low block ids first.
  for (int i = 0; i < n_blocks; ++i) free_[static_cast<size_t>(i)] = n_blocks - 1 - i;
}

int64_t KvCache::block_bytes(int n_layers, int64_t kv_dim, int block_size, DType dtype) {
  return int64_t{n_layers} * 2 * block_size * kv_dim * static_cast<int64_t>(dtype_size_bytes(dtype));
}

bool KvCache::reserve(int32_t slot, int64_t n_positions) {
  if (slot < 0) fail("KV cache: negative slot {}", slot);
  if (n_positions > max_positions_) {
    fail("a sequence of {} tokens does not fit the context of {} tokens (max_position_embeddings or --context)",
         n_positions, max_positions_);
  }
  if (static_cast<size_t>(slot) >= tables_.size()) tables_.resize(static_cast<size_t>(slot) + 1);
  auto& table = tables_[static_cast<size_t>(slot)];
  const auto needed = static_cast<size_t>((n_positions + block_size_ - 1) / block_size_);
  if (needed <= table.size()) return true;
  if (needed - table.size() > free_.size()) return false;
  while (table.size() < needed) {
    table.push_back(free_.back());
    free_.pop_back();
  }
  return true;
}

void KvCache::release(int32_t slot) {
  if (slot < 0 || static_cast<size_t>(slot) >= tables_.size()) return;
  auto& table = tables_[static_cast<size_t>(slot)];
  free_.insert(free_.end(), table.rbegin(), table.rend());
  table.clear();
}

int64_t KvCache::reserved_positions(int32_t slot) const {
  if (slot < 0 || static_cast<size_t>(slot) >= tables_.size()) return 0;
  return static_cast<int64_t>(tables_[static_cast<size_t>(slot)].size()) * block_size_;
}

std::byte* KvCache::row(int32_t slot, int layer, int part, int64_t position) const {
  const auto& table = tables_[static_cast<size_t>(slot)];
  const int64_t block = table[static_cast<size_t>(position / block_size_)];
  const int64_t offset = ((block * n_layers_ + layer) * 2 + part) * block_size_ + position % block_size_;
  return pool_.get() + offset * kv_dim_ * static_cast<int64_t>(dtype_size_bytes(dtype_));
}

void KvCache::store(int32_t slot, int layer, int64_t position, const float* key, const float* value) {
  const float* sources[2] = {key, value};
  for (int part = 0; part < 2; ++part) {
    std::byte* destination = row(slot, layer, part, position);
    if (dtype_ == DType::kF32) {
      std::memcpy(destination, sources[part], static_cast<size_t>(kv_dim_) * sizeof(float));
    } else {
      auto* bf16 = reinterpret_cast<uint16_t*>(destination);
      for (int64_t i = 0; i < kv_dim_; ++i) bf16[i] = f32_to_bf16(sources[part][i]);
    }
  }
}

const void* KvCache::key(int32_t slot, int layer, int64_t position) const { return row(slot, layer, 0, position); }
const void* KvCache::value(int32_t slot, int layer, int64_t position) const { return row(slot, layer, 1, position); }

}  // namespace elephant::layers
