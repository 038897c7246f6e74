// Permute by expert with CUB's radix sort: stable, so each expert's slots keep increasing row order
// (the CPU counting sort's order), and sorting only the low bits that can hold an id ≤ n_experts
// keeps it to one or two passes. Pruned rows carry id n_experts and so land past the last expert.
#include <cub/device/device_radix_sort.cuh>
#include <cuda_runtime.h>

#include "kernels/cuda/device.h"
#include "kernels/cuda/moe_kernels.h"

namespace elephant::cuda {

namespace {

constexpr int kThreads = 256;

int key_bits(int n_experts) {
  int bits = 1;
  while ((1 << bits) <= n_experts) ++bits;
  return bits;
}

// Scratch layout: sorted keys, the iota values, sorted values, then CUB's own temporary storage.
struct PermuteScratch {
  uint32_t* sorted_keys;
  int32_t* values;
  int32_t* sorted_values;
  void* cub_storage;
  size_t cub_bytes;
};

size_t align_up(size_t bytes) { return (bytes + 255) / 256 * 256; }

size_t cub_sort_bytes(int64_t n_assignments, int n_experts) {
  size_t bytes = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, bytes, static_cast<const uint32_t*>(nullptr), static_cast<uint32_t*>(nullptr),
                                  static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr),
                                  static_cast<int>(n_assignments), 0, key_bits(n_experts));
  return bytes;
}

PermuteScratch carve(void* workspace, int64_t n_assignments, int n_experts) {
  const size_t array_bytes = align_up(static_cast<size_t>(n_assignments) * sizeof(int32_t));
  auto* base = static_cast<uint8_t*>(workspace);
  return PermuteScratch{reinterpret_cast<uint32_t*>(base), reinterpret_cast<int32_t*>(base + array_bytes),
                        reinterpret_cast<int32_t*>(base + 2 * array_bytes), base + 3 * array_bytes,
                        cub_sort_bytes(n_assignments, n_experts)};
}

__global__ void iota_kernel(int32_t* values, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) values[i] = static_cast<int32_t>(i);
}

// offsets[e] = first sorted position whose key is ≥ e, for e in [0, n_experts + 1].
__global__ void offsets_kernel(const uint32_t* sorted_keys, int64_t n, int n_experts, int32_t* offsets) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e > n_experts + 1) return;
  int64_t low = 0;
  int64_t high = n;
  while (low < high) {
    const int64_t mid = (low + high) / 2;
    if (sorted_keys[mid] < static_cast<uint32_t>(e)) {
      low = mid + 1;
    } else {
      high = mid;
    }
  }
  offsets[e] = static_cast<int32_t>(e == n_experts + 1 ? n : low);
}

__global__ void slots_kernel(const int32_t* sorted_assignments, int64_t n, int top_k, int32_t* slot_assignment,
                             int32_t* slot_row, int32_t* position_of) {
  const int64_t slot = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (slot >= n) return;
  const int32_t assignment = sorted_assignments[slot];
  slot_assignment[slot] = assignment;
  slot_row[slot] = assignment / top_k;
  position_of[assignment] = static_cast<int32_t>(slot);
}

unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

}  // namespace

size_t permute_workspace_bytes(int64_t n_assignments, int n_experts) {
  return 3 * align_up(static_cast<size_t>(n_assignments) * sizeof(int32_t)) + cub_sort_bytes(n_assignments, n_experts);
}

void launch_permute(const int32_t* experts, int64_t n_assignments, int top_k, int n_experts, void* workspace,
                    size_t workspace_bytes, int32_t* offsets, int32_t* slot_assignment, int32_t* slot_row,
                    int32_t* position_of, cudaStream_t stream) {
  const size_t needed = permute_workspace_bytes(n_assignments, n_experts);
  if (workspace_bytes < needed) fail_buffer_overflow(workspace_bytes, needed, 1);
  PermuteScratch scratch = carve(workspace, n_assignments, n_experts);
  if (n_assignments > 0) {
    iota_kernel<<<blocks_for(n_assignments), kThreads, 0, stream>>>(scratch.values, n_assignments);
    ELEPHANT_CUDA_CHECK_LAUNCH("iota_kernel");
    ELEPHANT_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
        scratch.cub_storage, scratch.cub_bytes, reinterpret_cast<const uint32_t*>(experts), scratch.sorted_keys,
        scratch.values, scratch.sorted_values, static_cast<int>(n_assignments), 0, key_bits(n_experts), stream));
  }
  offsets_kernel<<<blocks_for(n_experts + 2), kThreads, 0, stream>>>(scratch.sorted_keys, n_assignments, n_experts,
                                                                      offsets);
  ELEPHANT_CUDA_CHECK_LAUNCH("offsets_kernel");
  if (n_assignments > 0) {
    slots_kernel<<<blocks_for(n_assignments), kThreads, 0, stream>>>(scratch.sorted_values, n_assignments, top_k,
                                                                      slot_assignment, slot_row, position_of);
    ELEPHANT_CUDA_CHECK_LAUNCH("slots_kernel");
  }
}

}  // namespace elephant::cuda
