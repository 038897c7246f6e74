// The GPU's achievable read bandwidth, measured in the same run as a benchmark so that benchmark
// figures are reported as a fraction of it (the CPU side's core/memory_bandwidth.h, for the GPU).
#pragma once

#include <cstddef>

namespace elephant::cuda {

// Median GB/s of `passes` timed reads of a `bytes` device buffer (after one warm-up pass).
double measure_read_bandwidth_gbs(size_t bytes, int passes);

}  // namespace elephant::cuda
