// The machine's achievable memory read bandwidth, measured STREAM-style: the roofline against
// which bandwidth-bound kernels (MoE decode) are judged, taken in the same run as the kernels.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/memory.h"

namespace elephant {

// A buffer of `bytes` (use >= 4 × the last-level cache so it comes from DRAM), written once so its
// pages are mapped, then summed by n_threads threads, each reading its own contiguous share.
// Keeping the buffer lets a benchmark re-measure right next to each kernel it times: on a shared
// host the bandwidth drifts by tens of percent within a minute, so one figure at the start of a
// long run is not the roofline the last kernel ran against.
class ReadBandwidthMeter {
 public:
  ReadBandwidthMeter(size_t bytes, int n_threads);
  // GB/s (1e9 bytes): the median of `passes` passes after one warm-up pass, for one sequential
  // stream per thread and (with AVX2) for two and for four far-apart streams per thread; the
  // fastest of these.
  double measure_gb_per_s(int passes = 7) const;

 private:
  HugePageBuffer buffer_;  // on huge pages like the weight copies it is the roofline for
  size_t n_words_;
  int n_threads_;
};

}  // namespace elephant
