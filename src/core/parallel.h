// Work splitting across cores. OpenMP's static schedule gives every thread a fixed, contiguous
// share, which keeps results independent of timing; the chunk boundaries never change what a
// single output element computes (each output is produced by exactly one thread, in a fixed order).
#pragma once

#include <cstdint>

namespace elephant {

// Number of worker threads used by parallel_for (default: all hardware threads).
int thread_count();
void set_thread_count(int n_threads);

// Calls body(begin, end) over disjoint ranges covering [0, n); ranges hold at least min_chunk items
// so tiny loops stay on one core.
template <typename Body>
void parallel_for(int64_t n, int64_t min_chunk, Body&& body) {
  if (n <= 0) return;
  const int64_t max_chunks = (n + min_chunk - 1) / min_chunk;
  const int64_t n_chunks = max_chunks < thread_count() ? max_chunks : thread_count();
  if (n_chunks <= 1) {
    body(int64_t{0}, n);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(n_chunks)
  for (int64_t chunk = 0; chunk < n_chunks; ++chunk) {
    const int64_t begin = n * chunk / n_chunks;
    const int64_t end = n * (chunk + 1) / n_chunks;
    body(begin, end);
  }
}

}  // namespace elephant
