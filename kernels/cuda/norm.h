// RMSNorm on the GPU, the same function as ops::rms_norm:
//   out[r, :] = x[r, :] * (1 / sqrt(sum(x[r, :]²) / dim + eps)) * weight
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace elephant::cuda {

// x, out: [n_rows, dim] fp32 device arrays (out may alias x); weight: [dim]. Enqueued on stream.
void rms_norm(const float* x, const float* weight, float* out, int64_t n_rows, int64_t dim, float eps,
              cudaStream_t stream);

}  // namespace elephant::cuda
