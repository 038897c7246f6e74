// Rotary embedding on the GPU, the same function as ops::rope: rotate-half pairs (i, i + head_dim/2)
// of every head, rotated by angle = float(position) * inverse_frequency[i], where
// inverse_frequency[i] = 1 / theta^(2i / head_dim) is computed in fp32 on the host exactly as the
// CPU computes it, so the angles are bit-identical and only the device's sinf/cosf differ.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

namespace elephant::cuda {

inline constexpr int64_t kMaxRopeHeadDim = 512;

// [head_dim / 2] inverse frequencies, the expression ops::rope evaluates.
std::vector<float> rope_inverse_frequencies(int64_t head_dim, float theta);

// x: [n_rows, n_heads, head_dim] fp32 device array, rotated in place; positions: [n_rows] int32
// device array, row r at positions[r]. head_dim must be even and at most kMaxRopeHeadDim.
void rope(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, const int32_t* positions, float theta,
          cudaStream_t stream);

}  // namespace elephant::cuda
