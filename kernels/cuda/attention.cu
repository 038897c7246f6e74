#include "kernels/cuda/attention.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "kernels/cuda/device.h"
#include "kernels/cuda/warp.cuh"

namespace elephant::cuda {
namespace {

constexpr int kMaxPerLane = kMaxAttentionHeadDim / kWarp;  // head_dim elements one lane holds
// Shared memory a block gets without opting in, on every targeted architecture.
constexpr int kDefaultSharedBytes = 48 * 1024;

// Decode: four warps share one chunk; each takes every fourth position of it.
constexpr int kDecodeThreads = 128;
// Chunks are whole warps of positions; shorter than kMinDecodeChunk the per-block fixed costs
// (loading the queries, writing and merging a partial) outweigh the positions it covers.
constexpr int kChunkGranule = kWarp;
constexpr int kMinDecodeChunk = 64;
// Two resident blocks per multiprocessor hide one block's reduction barriers behind the other's loads.
constexpr int kDecodeBlocksPerMultiprocessor = 2;

// Prefill: a block is kPrefillRows consecutive query rows (one warp each) of one head, sharing
// tiles of kKeyTile keys and values (one key per lane when scoring).
constexpr int kPrefillRows = 8;
constexpr int kKeyTile = kWarp;

struct Params {
  int n_heads;
  int n_kv_heads;
  int group;
  int head_dim;
  int max_length;
  int window;
  int chunk;     // decode
  int n_splits;  // decode
  float scale;
  const int32_t* cache_slots;  // null: sequence s reads cache entry s
};


void check_shape(const AttentionShape& shape) {
  ELEPHANT_CUDA_REQUIRE(shape.n_heads > 0 && shape.n_kv_heads > 0 && shape.n_heads % shape.n_kv_heads == 0,
          "attention: n_kv_heads divides n_heads");
  ELEPHANT_CUDA_REQUIRE(shape.head_dim > 0 && shape.head_dim <= kMaxAttentionHeadDim, "attention: head_dim in (0, 256]");
  ELEPHANT_CUDA_REQUIRE(shape.max_length > 0 && shape.sliding_window >= 0, "attention: max_length > 0, sliding_window >= 0");
}

Params make_params(const AttentionShape& shape) {
  Params p{};
  p.n_heads = shape.n_heads;
  p.n_kv_heads = shape.n_kv_heads;
  p.group = shape.n_heads / shape.n_kv_heads;
  p.head_dim = shape.head_dim;
  p.max_length = shape.max_length;
  p.window = shape.sliding_window;
  // As the CPU: the reciprocal of the fp32 square root, applied to each finished dot product.
  p.scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  return p;
}

int ceil_div(int64_t a, int64_t b) { return static_cast<int>((a + b - 1) / b); }

__device__ int64_t cache_entry(const Params& p, int seq) { return p.cache_slots != nullptr ? p.cache_slots[seq] : seq; }

__device__ int first_position(int position, int window) { return window > 0 ? max(0, position - window + 1) : 0; }

// Block (split, KV head, sequence): the group of query heads sharing the KV head, against one
// chunk of the sequence's attended positions. Writes the chunk's max score, sum of exp(score - max)
// and unnormalised output sum(exp(score - max) * v) per query head.
__global__ void decode_partial_kernel(const float* q, const float* k_cache, const float* v_cache,
                                      const int32_t* lengths, Params p, float* partial_out, float* partial_max,
                                      float* partial_sum) {
  extern __shared__ float shared[];
  float* queries = shared;                       // [group][head_dim]
  float* scores = shared + p.group * p.head_dim;  // [group][chunk]
  const int split = blockIdx.x;
  const int kv_head = blockIdx.y;
  const int seq = blockIdx.z;
  const int position = lengths[seq] - 1;
  const int start = first_position(position, p.window) + split * p.chunk;
  if (start > position) return;
  const int count = min(p.chunk, position + 1 - start);
  const int hd = p.head_dim;
  const int64_t cache_row = (cache_entry(p, seq) * p.n_kv_heads + kv_head) * p.max_length + start;
  const float* keys = k_cache + cache_row * hd;
  const float* values = v_cache + cache_row * hd;
  const int first_head = kv_head * p.group;
  const float* q_group = q + (static_cast<int64_t>(seq) * p.n_heads + first_head) * hd;
  for (int i = threadIdx.x; i < p.group * hd; i += blockDim.x) queries[i] = q_group[i];
  __syncthreads();

  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int n_warps = blockDim.x / kWarp;
  for (int t = warp; t < count; t += n_warps) {
    float key[kMaxPerLane];
#pragma unroll
    for (int j = 0; j < kMaxPerLane; ++j) {
      const int d = lane + j * kWarp;
      key[j] = d < hd ? keys[static_cast<int64_t>(t) * hd + d] : 0.0f;
    }
    for (int g = 0; g < p.group; ++g) {
      float dot = 0.0f;
#pragma unroll
      for (int j = 0; j < kMaxPerLane; ++j) {
        const int d = lane + j * kWarp;
        if (d < hd) dot += queries[g * hd + d] * key[j];
      }
      dot = warp_sum(dot);
      if (lane == 0) scores[g * p.chunk + t] = dot * p.scale;
    }
  }
  __syncthreads();

  const int64_t partial_base = (static_cast<int64_t>(seq) * p.n_heads + first_head) * p.n_splits + split;
  for (int g = warp; g < p.group; g += n_warps) {
    float* row = scores + g * p.chunk;
    float max_score = -INFINITY;
    for (int t = lane; t < count; t += kWarp) max_score = fmaxf(max_score, row[t]);
    max_score = warp_max(max_score);
    float total = 0.0f;
    for (int t = lane; t < count; t += kWarp) {
      const float e = expf(row[t] - max_score);
      row[t] = e;
      total += e;
    }
    total = warp_sum(total);
    if (lane == 0) {
      partial_max[partial_base + static_cast<int64_t>(g) * p.n_splits] = max_score;
      partial_sum[partial_base + static_cast<int64_t>(g) * p.n_splits] = total;
    }
  }
  __syncthreads();

  for (int i = threadIdx.x; i < p.group * hd; i += blockDim.x) {
    const int g = i / hd;
    const int d = i % hd;
    const float* weights = scores + g * p.chunk;
    float acc = 0.0f;
    for (int t = 0; t < count; ++t) acc += weights[t] * values[static_cast<int64_t>(t) * hd + d];
    partial_out[(partial_base + static_cast<int64_t>(g) * p.n_splits) * hd + d] = acc;
  }
}

// Block (head, sequence), one thread per element of head_dim: merges the chunks by the
// log-sum-exp rule, rescaling each chunk by exp(its max - the overall max).
__global__ void decode_combine_kernel(const int32_t* lengths, Params p, const float* partial_out,
                                      const float* partial_max, const float* partial_sum, float* out) {
  const int head = blockIdx.x;
  const int seq = blockIdx.y;
  const int d = threadIdx.x;
  if (d >= p.head_dim) return;
  const int position = lengths[seq] - 1;
  const int span = position - first_position(position, p.window) + 1;
  // A span longer than the split allows breaks decode_attention's precondition; clamping keeps the
  // reads inside the workspace.
  const int used = min((span + p.chunk - 1) / p.chunk, p.n_splits);
  const int64_t base = (static_cast<int64_t>(seq) * p.n_heads + head) * p.n_splits;
  float max_score = -INFINITY;
  for (int c = 0; c < used; ++c) max_score = fmaxf(max_score, partial_max[base + c]);
  float total = 0.0f;
  float acc = 0.0f;
  for (int c = 0; c < used; ++c) {
    const float rescale = expf(partial_max[base + c] - max_score);
    total += partial_sum[base + c] * rescale;
    acc += partial_out[(base + c) * p.head_dim + d] * rescale;
  }
  out[(static_cast<int64_t>(seq) * p.n_heads + head) * p.head_dim + d] = acc / total;
}

size_t prefill_shared_bytes(int head_dim) {
  const int floats = kKeyTile * (head_dim + 1) + kKeyTile * head_dim + kPrefillRows * head_dim + kPrefillRows * kKeyTile;
  return static_cast<size_t>(floats) * sizeof(float);
}

// Block (row tile, head, sequence), one warp per query row, online softmax over key tiles: each
// tile rescales the running output and sum by exp(old max - new max).
__global__ void prefill_kernel(const float* q, const float* k_cache, const float* v_cache, const int32_t* lengths,
                               const int32_t* row_offsets, Params p, float* out) {
  extern __shared__ float shared[];
  const int hd = p.head_dim;
  // Key rows padded to an odd stride (head_dim is even): lane j reading element d of key j hits
  // bank (j * (hd + 1) + d) % 32, distinct across the warp.
  const int key_stride = hd + 1;
  float* key_tile = shared;                                 // [kKeyTile][hd + 1]
  float* value_tile = key_tile + kKeyTile * key_stride;     // [kKeyTile][hd]
  float* query_rows = value_tile + kKeyTile * hd;           // [kPrefillRows][hd]
  float* weights = query_rows + kPrefillRows * hd;          // [kPrefillRows][kKeyTile]

  const int head = blockIdx.y;
  const int seq = blockIdx.z;
  const int row_begin = row_offsets[seq];
  const int n_rows = row_offsets[seq + 1] - row_begin;
  const int tile_row = blockIdx.x * kPrefillRows;
  if (tile_row >= n_rows) return;
  const int length = lengths[seq];
  const int first_row_position = length - n_rows;  // position of the sequence's row 0

  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int local_row = tile_row + warp;
  const bool active = local_row < n_rows;
  const int position = first_row_position + local_row;
  const int first = first_position(position, p.window);
  const int key_begin = first_position(first_row_position + tile_row, p.window);
  const int key_last = first_row_position + min(tile_row + kPrefillRows, n_rows) - 1;

  for (int i = threadIdx.x; i < kPrefillRows * hd; i += blockDim.x) {
    const int r = tile_row + i / hd;
    query_rows[i] = r < n_rows ? q[(static_cast<int64_t>(row_begin + r) * p.n_heads + head) * hd + i % hd] : 0.0f;
  }

  const int64_t cache_base = (cache_entry(p, seq) * p.n_kv_heads + head / p.group) * p.max_length;
  const float* query = query_rows + warp * hd;
  float* row_weights = weights + warp * kKeyTile;
  float acc[kMaxPerLane];
#pragma unroll
  for (int j = 0; j < kMaxPerLane; ++j) acc[j] = 0.0f;
  float max_score = -INFINITY;
  float total = 0.0f;

  for (int tile = key_begin; tile <= key_last; tile += kKeyTile) {
    __syncthreads();  // the previous tile is no longer read (and, the first time, the queries are stored)
    const int tile_count = min(kKeyTile, key_last - tile + 1);
    for (int i = threadIdx.x; i < kKeyTile * hd; i += blockDim.x) {
      const int t = i / hd;
      const int d = i % hd;
      const bool inside = t < tile_count;
      const int64_t at = (cache_base + tile + t) * hd + d;
      key_tile[t * key_stride + d] = inside ? k_cache[at] : 0.0f;
      value_tile[i] = inside ? v_cache[at] : 0.0f;
    }
    __syncthreads();
    if (!active || tile > position || tile + tile_count - 1 < first) continue;  // uniform per warp

    const int key = tile + lane;
    const bool visible = lane < tile_count && key >= first && key <= position;
    float score = -INFINITY;
    if (visible) {
      float dot = 0.0f;
      for (int d = 0; d < hd; ++d) dot += query[d] * key_tile[lane * key_stride + d];
      score = dot * p.scale;
    }
    const float new_max = fmaxf(max_score, warp_max(score));  // finite: the tile holds a visible key
    const float rescale = expf(max_score - new_max);
    const float weight = visible ? expf(score - new_max) : 0.0f;
    total = total * rescale + warp_sum(weight);
    max_score = new_max;
    row_weights[lane] = weight;
    __syncwarp();
#pragma unroll
    for (int j = 0; j < kMaxPerLane; ++j) acc[j] *= rescale;
    for (int t = 0; t < tile_count; ++t) {
      const float w = row_weights[t];
#pragma unroll
      for (int j = 0; j < kMaxPerLane; ++j) {
        const int d = lane + j * kWarp;
        if (d < hd) acc[j] += w * value_tile[t * hd + d];
      }
    }
    __syncwarp();  // row_weights is rewritten by the next tile
  }

  if (!active) return;
  float* dst = out + (static_cast<int64_t>(row_begin + local_row) * p.n_heads + head) * hd;
#pragma unroll
  for (int j = 0; j < kMaxPerLane; ++j) {
    const int d = lane + j * kWarp;
    if (d < hd) dst[d] = acc[j] / total;
  }
}

}  // namespace

int max_decode_chunk(const AttentionShape& shape) {
  check_shape(shape);
  const int group = shape.n_heads / shape.n_kv_heads;
  const int64_t query_bytes = int64_t{group} * shape.head_dim * static_cast<int64_t>(sizeof(float));
  const int64_t chunk = (kDefaultSharedBytes - query_bytes) / (int64_t{group} * static_cast<int64_t>(sizeof(float)));
  if (chunk < kChunkGranule) return static_cast<int>(std::max<int64_t>(chunk, 0));
  return static_cast<int>(chunk / kChunkGranule * kChunkGranule);
}

DecodeSplit plan_decode_split(const AttentionShape& shape, int n_seqs, int longest_length, int multiprocessors) {
  const int max_chunk = max_decode_chunk(shape);
  ELEPHANT_CUDA_REQUIRE(max_chunk > 0, "attention: the queries of one KV group fit a decode block's shared memory");
  int span = std::max(longest_length, 1);
  if (shape.sliding_window > 0) span = std::min(span, shape.sliding_window);
  const int64_t blocks_per_split = std::max<int64_t>(int64_t{n_seqs} * shape.n_kv_heads, 1);
  const int64_t target_blocks = int64_t{kDecodeBlocksPerMultiprocessor} * std::max(multiprocessors, 1);
  const int64_t wanted_splits = std::max<int64_t>((target_blocks + blocks_per_split - 1) / blocks_per_split, 1);
  int chunk = ceil_div(span, wanted_splits);
  chunk = ceil_div(chunk, kChunkGranule) * kChunkGranule;
  chunk = std::min(std::max(chunk, kMinDecodeChunk), max_chunk);
  return DecodeSplit{chunk, ceil_div(span, chunk)};
}

size_t decode_workspace_floats(const AttentionShape& shape, int n_seqs, const DecodeSplit& split) {
  return static_cast<size_t>(n_seqs) * static_cast<size_t>(shape.n_heads) * static_cast<size_t>(split.n_splits) *
         static_cast<size_t>(shape.head_dim + 2);
}

void decode_attention(const float* q, const float* k_cache, const float* v_cache, const int32_t* lengths,
                      int n_seqs, const AttentionShape& shape, const DecodeSplit& split, float* workspace, float* out,
                      cudaStream_t stream, const int32_t* cache_slots) {
  check_shape(shape);
  ELEPHANT_CUDA_REQUIRE(split.chunk_length > 0 && split.chunk_length <= max_decode_chunk(shape) && split.n_splits > 0,
          "decode_attention: chunk_length in (0, max_decode_chunk], n_splits > 0");
  ELEPHANT_CUDA_REQUIRE(n_seqs >= 0 && n_seqs <= 65535 && shape.n_kv_heads <= 65535,
          "decode_attention: n_seqs and n_kv_heads fit grid.z and grid.y");
  if (n_seqs == 0) return;
  Params p = make_params(shape);
  p.cache_slots = cache_slots;
  p.chunk = split.chunk_length;
  p.n_splits = split.n_splits;
  const size_t partials = static_cast<size_t>(n_seqs) * shape.n_heads * split.n_splits;
  float* partial_out = workspace;
  float* partial_max = workspace + partials * shape.head_dim;
  float* partial_sum = partial_max + partials;

  const size_t shared_bytes = static_cast<size_t>(p.group) * (shape.head_dim + split.chunk_length) * sizeof(float);
  const dim3 grid(static_cast<unsigned>(split.n_splits), static_cast<unsigned>(shape.n_kv_heads),
                  static_cast<unsigned>(n_seqs));
  decode_partial_kernel<<<grid, kDecodeThreads, shared_bytes, stream>>>(q, k_cache, v_cache, lengths, p, partial_out,
                                                                        partial_max, partial_sum);
  ELEPHANT_CUDA_CHECK_LAUNCH("decode_partial_kernel");
  const int combine_threads = ceil_div(shape.head_dim, kWarp) * kWarp;
  decode_combine_kernel<<<dim3(static_cast<unsigned>(shape.n_heads), static_cast<unsigned>(n_seqs)), combine_threads,
                          0, stream>>>(lengths, p, partial_out, partial_max, partial_sum, out);
  ELEPHANT_CUDA_CHECK_LAUNCH("decode_combine_kernel");
}

void prefill_attention(const float* q, const float* k_cache, const float* v_cache, const int32_t* lengths,
                       const int32_t* row_offsets, int n_seqs, int max_rows, const AttentionShape& shape, float* out,
                       cudaStream_t stream, const int32_t* cache_slots) {
  check_shape(shape);
  ELEPHANT_CUDA_REQUIRE(shape.head_dim % 2 == 0, "prefill_attention: head_dim even (the padded key stride must be odd)");
  ELEPHANT_CUDA_REQUIRE(n_seqs >= 0 && n_seqs <= 65535 && shape.n_heads <= 65535 && max_rows >= 0,
          "prefill_attention: n_seqs and n_heads fit grid.z and grid.y");
  if (n_seqs == 0 || max_rows == 0) return;
  Params p = make_params(shape);
  p.cache_slots = cache_slots;
  const size_t shared_bytes = prefill_shared_bytes(shape.head_dim);
  if (shared_bytes > static_cast<size_t>(kDefaultSharedBytes)) {
    ELEPHANT_CUDA_CHECK(cudaFuncSetAttribute(prefill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(shared_bytes)));
  }
  const dim3 grid(static_cast<unsigned>(ceil_div(max_rows, kPrefillRows)), static_cast<unsigned>(shape.n_heads),
                  static_cast<unsigned>(n_seqs));
  prefill_kernel<<<grid, kPrefillRows * kWarp, shared_bytes, stream>>>(q, k_cache, v_cache, lengths, row_offsets, p,
                                                                        out);
  ELEPHANT_CUDA_CHECK_LAUNCH("prefill_kernel");
}

}  // namespace elephant::cuda
