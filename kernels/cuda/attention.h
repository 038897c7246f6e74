// Causal grouped-query attention on the GPU over per-sequence fp32 KV caches, the same function as
// the attention core of layers::Attention::forward (after RoPE):
//   query head h reads KV head h / (n_heads / n_kv_heads);
//   score(t) = dot(q, k_t) * scale with scale = 1 / sqrt(float(head_dim)), computed after the dot;
//   a query at position p attends to the keys t in [first, p], first = max(0, p - sliding_window + 1)
//   with a sliding window, else 0; out = sum_t softmax(score)(t) * v_t.
//
// Layouts (fp32, device memory):
//   k_cache, v_cache: [entries, n_kv_heads, max_length, head_dim]: position t of cache entry c and
//     KV head g is the head_dim-vector at ((c * n_kv_heads + g) * max_length + t) * head_dim;
//     sequence s uses entry cache_slots[s] (device [n_seqs] int32), or entry s when cache_slots is
//     null, so a batch can hold any subset of a model's sequence slots;
//   lengths: [n_seqs] int32, the positions of the sequence already in the cache (1..max_length),
//     including the rows being attended for;
//   q, out: [rows, n_heads, head_dim].
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace elephant::cuda {

inline constexpr int kMaxAttentionHeadDim = 256;

struct AttentionShape {
  int n_heads = 0;
  int n_kv_heads = 0;      // divides n_heads
  int head_dim = 0;        // at most kMaxAttentionHeadDim
  int max_length = 0;      // positions each sequence's cache holds
  int sliding_window = 0;  // 0: full causal
};

// Split-K for decode: each sequence's attended span is cut into chunks of chunk_length positions,
// one block per (chunk, KV head, sequence); a second kernel merges the chunks' partial results.
struct DecodeSplit {
  int chunk_length = 0;
  int n_splits = 0;  // chunks of the longest span; shorter sequences leave the extra blocks idle
};

// The longest chunk one block can hold (its scores and queries live in shared memory).
int max_decode_chunk(const AttentionShape& shape);

// Chooses chunks so that n_seqs × n_kv_heads × n_splits blocks fill the device's multiprocessors,
// without chunks so short that merging costs more than it spreads. longest_length: an upper bound
// of the lengths (the host knows the positions it is decoding). Pure host logic.
DecodeSplit plan_decode_split(const AttentionShape& shape, int n_seqs, int longest_length, int multiprocessors);

// Floats of scratch decode_attention needs for this split.
size_t decode_workspace_floats(const AttentionShape& shape, int n_seqs, const DecodeSplit& split);

// One query row per sequence, at position lengths[s] - 1: q, out [n_seqs, n_heads, head_dim].
// split must cover every sequence's span (chunk_length × n_splits >= the attended positions);
// workspace: decode_workspace_floats(...) floats.
void decode_attention(const float* q, const float* k_cache, const float* v_cache, const int32_t* lengths,
                      int n_seqs, const AttentionShape& shape, const DecodeSplit& split, float* workspace, float* out,
                      cudaStream_t stream, const int32_t* cache_slots = nullptr);

// Several query rows per sequence (prefill): rows [row_offsets[s], row_offsets[s + 1]) of q and out
// belong to sequence s and are its last positions, row_offsets[s + 1] - 1 at lengths[s] - 1 (a
// fresh prompt of n rows has lengths[s] = n). row_offsets: [n_seqs + 1] int32 device array;
// max_rows: an upper bound of any sequence's row count.
void prefill_attention(const float* q, const float* k_cache, const float* v_cache, const int32_t* lengths,
                       const int32_t* row_offsets, int n_seqs, int max_rows, const AttentionShape& shape, float* out,
                       cudaStream_t stream, const int32_t* cache_slots = nullptr);

}  // namespace elephant::cuda
