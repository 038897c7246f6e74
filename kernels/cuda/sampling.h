// Greedy token selection on the GPU, the same choice as engine::Sampler at temperature 0
// (std::max_element): the largest logit, ties to the lower id. NaN logits are skipped, except that
// a NaN at id 0 selects id 0, as std::max_element's comparisons do.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace elephant::cuda {

// logits: [n_rows, vocab] fp32 device array; out: [n_rows] int32 device array.
void argmax(const float* logits, int64_t n_rows, int64_t vocab, int32_t* out, cudaStream_t stream);

}  // namespace elephant::cuda
