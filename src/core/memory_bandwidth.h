// The machine's achievable memory read bandwidth, measured STREAM-style: the roofline against
// which bandwidth-bound kernels (MoE decode) are judged, taken in the same run as the kernels.
#pragma once

#include <cstddef>

namespace elephant {

// Sums a buffer of `bytes` (use >= 4 × the last-level cache so it comes from DRAM) with n_threads
// threads, each reading its own contiguous share; returns the median GB/s (1e9 bytes) of several
// passes after one warm-up pass. The buffer is written once first so its pages are mapped.
double measure_read_bandwidth_gb_per_s(size_t bytes, int n_threads);

}  // namespace elephant
