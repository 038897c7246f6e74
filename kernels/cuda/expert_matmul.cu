// Grouped expert matmuls with the dequantization fused into the weight loads (matrix_load.cuh).
//
// Decode (gemv): a warp owns one output feature of one expert and streams that weight row (and the
// up row, for SwiGLU) once, one 32-bit word per lane per load with several loads in flight, against
// up to 8 of the expert's slots; more slots take more passes. Reading each weight once is what
// makes int4/int8 pay: decode is bound by weight bytes.
// Prefill (tiled): a block computes 64 slots × 64 outputs, staging 32 columns of activations and
// dequantized weights in shared memory per step, each thread a 4×4 register tile. Tiles are listed
// per expert on the device (no host round trip for the per-expert counts).
// Both read activation rows through slot_row, so the permuted copy of x is never materialised.
#include <cuda_runtime.h>

#include "kernels/cuda/device.h"
#include "kernels/cuda/matrix_load.cuh"
#include "kernels/cuda/moe_kernels.h"

namespace elephant::cuda {

namespace {

constexpr int kGemvWarps = 4;
constexpr int kGemvMaxRows = static_cast<int>(kGemvMaxSlots);
// Words each lane loads per matrix before using any: the loads in flight that hide DRAM latency.
constexpr int kGemvWordsPerLane = 8;

__device__ __forceinline__ int64_t source_row(const int32_t* slot_row, int64_t slot) {
  return slot_row != nullptr ? slot_row[slot] : slot;
}

// Lane l reads words l, l + 32, ... of the row, so a warp's loads cover consecutive bytes of the
// weights and, word by word, consecutive activations: both coalesced. (A 16-byte load per lane
// would spread one warp's activation reads over 32 cache lines for int4.)
template <DeviceFormat F, bool kSwiGlu, bool kVectorX>
__global__ void expert_gemv_kernel(ExpertMatmul m) {
  constexpr int kCols = FormatTraits<F>::kWordCols;
  constexpr int kWordsPerPass = 32 * kGemvWordsPerLane;
  const int expert = blockIdx.y;
  const int begin = m.offsets[expert];
  const int end = m.offsets[expert + 1];
  const int feature = blockIdx.x * kGemvWarps + threadIdx.x / 32;
  if (begin >= end || feature >= m.out_features) return;
  const int lane = threadIdx.x % 32;
  const MatrixView a = m.a_views[expert];
  MatrixView b = a;
  if constexpr (kSwiGlu) b = m.b_views[expert];
  const uint32_t* a_words = row_words(a, feature);
  const uint32_t* b_words = row_words(b, feature);
  const int n_words = m.in_features / kCols;
  for (int first = begin; first < end; first += kGemvMaxRows) {
    const int n_rows = min(kGemvMaxRows, end - first);
    const float* x_rows[kGemvMaxRows];
#pragma unroll
    for (int i = 0; i < kGemvMaxRows; ++i) {
      x_rows[i] = m.x + source_row(m.slot_row, first + min(i, n_rows - 1)) * m.x_stride;
    }
    float acc_a[kGemvMaxRows] = {};
    float acc_b[kGemvMaxRows] = {};
    for (int pass = 0; pass < n_words; pass += kWordsPerPass) {
      uint32_t bits_a[kGemvWordsPerLane];
      uint32_t bits_b[kGemvWordsPerLane];
#pragma unroll
      for (int j = 0; j < kGemvWordsPerLane; ++j) {
        const int word = pass + 32 * j + lane;
        bits_a[j] = word < n_words ? __ldg(a_words + word) : 0u;
        if constexpr (kSwiGlu) bits_b[j] = word < n_words ? __ldg(b_words + word) : 0u;
      }
#pragma unroll
      for (int j = 0; j < kGemvWordsPerLane; ++j) {
        const int word = pass + 32 * j + lane;
        if (word >= n_words) break;
        float wa[kCols];
        float wb[kCols];
        word_values<F>(a, feature, word, bits_a[j], wa);
        if constexpr (kSwiGlu) word_values<F>(b, feature, word, bits_b[j], wb);
#pragma unroll
        for (int i = 0; i < kGemvMaxRows; ++i) {
          if (i >= n_rows) break;
          float xv[kCols];
          load_activations<kCols, kVectorX>(x_rows[i] + word * kCols, xv);
          float sa = 0.0f;
          float sb = 0.0f;
#pragma unroll
          for (int c = 0; c < kCols; ++c) {
            sa += wa[c] * xv[c];
            if constexpr (kSwiGlu) sb += wb[c] * xv[c];
          }
          acc_a[i] += sa;
          if constexpr (kSwiGlu) acc_b[i] += sb;
        }
      }
    }
    for (int col = n_words * kCols + lane; col < m.in_features; col += 32) {
      const float wa = value_before_row_scale<F>(a, feature, col);
      const float wb = kSwiGlu ? value_before_row_scale<F>(b, feature, col) : 0.0f;
      for (int i = 0; i < n_rows; ++i) {
        const float xv = __ldg(x_rows[i] + col);
        acc_a[i] += wa * xv;
        if constexpr (kSwiGlu) acc_b[i] += wb * xv;
      }
    }
    const float scale_a = row_scale<F>(a, feature);
    const float scale_b = kSwiGlu ? row_scale<F>(b, feature) : 1.0f;
#pragma unroll
    for (int i = 0; i < kGemvMaxRows; ++i) {
      if (i >= n_rows) break;
      const float va = warp_sum(acc_a[i]) * scale_a;
      const float vb = kSwiGlu ? warp_sum(acc_b[i]) * scale_b : 0.0f;
      if (lane == 0) m.y[static_cast<int64_t>(first + i) * m.y_stride + feature] = kSwiGlu ? silu_times(va, vb) : va;
    }
  }
}

constexpr int kTileRows = 64;
constexpr int kTileCols = 64;
constexpr int kTileDepth = 32;
constexpr int kTileThreads = 256;  // 16 × 16 threads, 4 × 4 outputs each

// tiles[0] = count, then (expert, first slot within the expert) pairs.
__global__ void list_tiles_kernel(const int32_t* offsets, int n_experts, int32_t* tiles) {
  int32_t count = 0;
  for (int e = 0; e < n_experts; ++e) {
    const int32_t slots = offsets[e + 1] - offsets[e];
    for (int32_t first = 0; first < slots; first += kTileRows) {
      tiles[1 + 2 * count] = e;
      tiles[2 + 2 * count] = first;
      ++count;
    }
  }
  tiles[0] = count;
}

template <DeviceFormat F>
__device__ __forceinline__ void stage_weights(const MatrixView& w, int out_features, int in_features, int first_out,
                                              int k0, float (*tile)[kTileCols + 1]) {
  // Each thread dequantizes 8 consecutive columns of one output feature.
  const int out = threadIdx.x / 4;
  const int k_offset = (threadIdx.x % 4) * 8;
  const int feature = first_out + out;
  const int k = k0 + k_offset;
  if constexpr (F == DeviceFormat::kInt4 || F == DeviceFormat::kInt8) {
    if (feature < out_features && k + 8 <= in_features) {
      const uint8_t* row = w.data + static_cast<int64_t>(feature) * w.row_pitch;
      float values[8];
      float scale;
      if constexpr (F == DeviceFormat::kInt4) {
        int4_word_to_float(__ldg(reinterpret_cast<const uint32_t*>(row) + k / kInt4ColumnsPerWord), values);
        scale = __ldg(w.scales + static_cast<int64_t>(feature) * (w.cols / w.group) + k / w.group);
      } else {
        int8_word_to_float(__ldg(reinterpret_cast<const uint32_t*>(row + k)), values);
        int8_word_to_float(__ldg(reinterpret_cast<const uint32_t*>(row + k + 4)), values + 4);
        scale = __ldg(w.scales + feature);
      }
#pragma unroll
      for (int c = 0; c < 8; ++c) tile[k_offset + c][out] = values[c] * scale;
      return;
    }
  }
#pragma unroll
  for (int c = 0; c < 8; ++c) {
    tile[k_offset + c][out] = feature < out_features && k + c < in_features ? value_at<F>(w, feature, k + c) : 0.0f;
  }
}

template <DeviceFormat F, bool kSwiGlu>
__global__ void expert_gemm_tiled_kernel(ExpertMatmul m, const int32_t* tiles) {
  __shared__ float x_tile[kTileDepth][kTileRows + 1];
  __shared__ float a_tile[kTileDepth][kTileCols + 1];
  __shared__ float b_tile[kSwiGlu ? kTileDepth : 1][kTileCols + 1];
  const int tile = blockIdx.y;
  if (tile >= tiles[0]) return;
  const int expert = tiles[1 + 2 * tile];
  const int first_slot = m.offsets[expert] + tiles[2 + 2 * tile];
  const int n_slots = min(kTileRows, m.offsets[expert + 1] - first_slot);
  const int first_out = blockIdx.x * kTileCols;
  const MatrixView a = m.a_views[expert];
  MatrixView b = a;
  if constexpr (kSwiGlu) b = m.b_views[expert];
  const int tx = threadIdx.x % 16;
  const int ty = threadIdx.x / 16;
  float acc_a[4][4] = {};
  float acc_b[4][4] = {};
  // Activation staging: thread t copies 8 columns of slot t / 4.
  const int stage_slot = threadIdx.x / 4;
  const int stage_k = (threadIdx.x % 4) * 8;
  const float* stage_x = stage_slot < n_slots ? m.x + source_row(m.slot_row, first_slot + stage_slot) * m.x_stride : nullptr;
  for (int k0 = 0; k0 < m.in_features; k0 += kTileDepth) {
#pragma unroll
    for (int c = 0; c < 8; ++c) {
      const int k = k0 + stage_k + c;
      x_tile[stage_k + c][stage_slot] = stage_x != nullptr && k < m.in_features ? __ldg(stage_x + k) : 0.0f;
    }
    stage_weights<F>(a, m.out_features, m.in_features, first_out, k0, a_tile);
    if constexpr (kSwiGlu) stage_weights<F>(b, m.out_features, m.in_features, first_out, k0, b_tile);
    __syncthreads();
#pragma unroll 8
    for (int kk = 0; kk < kTileDepth; ++kk) {
      float xv[4];
      float av[4];
      float bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        xv[i] = x_tile[kk][ty * 4 + i];
        av[i] = a_tile[kk][tx * 4 + i];
        if constexpr (kSwiGlu) bv[i] = b_tile[kk][tx * 4 + i];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          acc_a[i][j] += xv[i] * av[j];
          if constexpr (kSwiGlu) acc_b[i][j] += xv[i] * bv[j];
        }
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int slot = ty * 4 + i;
    if (slot >= n_slots) continue;
    float* y_row = m.y + static_cast<int64_t>(first_slot + slot) * m.y_stride;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int feature = first_out + tx * 4 + j;
      if (feature < m.out_features) y_row[feature] = kSwiGlu ? silu_times(acc_a[i][j], acc_b[i][j]) : acc_a[i][j];
    }
  }
}

template <typename Launch>
void with_variant(const ExpertMatmul& m, Launch&& launch) {
  dispatch_format(m.format, [&](auto tag) {
    if (m.b_views != nullptr) {
      launch(tag, std::true_type{});
    } else {
      launch(tag, std::false_type{});
    }
  });
}

}  // namespace

void launch_expert_gemv(const ExpertMatmul& m, cudaStream_t stream) {
  if (m.n_experts == 0 || m.out_features == 0) return;
  const dim3 grid((m.out_features + kGemvWarps - 1) / kGemvWarps, m.n_experts);
  const bool vector_x = m.x_stride % 4 == 0 && reinterpret_cast<uintptr_t>(m.x) % 16 == 0;
  with_variant(m, [&](auto tag, auto swiglu) {
    constexpr DeviceFormat F = decltype(tag)::value;
    constexpr bool kSwiGlu = decltype(swiglu)::value;
    if (vector_x) {
      expert_gemv_kernel<F, kSwiGlu, true><<<grid, kGemvWarps * 32, 0, stream>>>(m);
    } else {
      expert_gemv_kernel<F, kSwiGlu, false><<<grid, kGemvWarps * 32, 0, stream>>>(m);
    }
  });
  ELEPHANT_CUDA_CHECK_LAUNCH("expert_gemv_kernel");
}

int64_t expert_gemm_tile_capacity(int64_t max_slots, int n_experts) {
  return 1 + 2 * ((max_slots + kTileRows - 1) / kTileRows + n_experts);
}

void launch_expert_gemm_tiled(const ExpertMatmul& m, int32_t* tiles, cudaStream_t stream) {
  if (m.n_experts == 0 || m.out_features == 0 || m.max_slots == 0) return;
  list_tiles_kernel<<<1, 1, 0, stream>>>(m.offsets, m.n_experts, tiles);
  ELEPHANT_CUDA_CHECK_LAUNCH("list_tiles_kernel");
  const auto max_tiles = static_cast<unsigned>((expert_gemm_tile_capacity(m.max_slots, m.n_experts) - 1) / 2);
  const dim3 grid((m.out_features + kTileCols - 1) / kTileCols, max_tiles);
  with_variant(m, [&](auto tag, auto swiglu) {
    expert_gemm_tiled_kernel<decltype(tag)::value, decltype(swiglu)::value><<<grid, kTileThreads, 0, stream>>>(m, tiles);
  });
  ELEPHANT_CUDA_CHECK_LAUNCH("expert_gemm_tiled_kernel");
}

}  // namespace elephant::cuda
