// Work splitting across cores. Each output is produced by exactly one thread, in a fixed order, and
// range boundaries never change what a single output element computes, so results do not depend
// on which thread ran which range or when.
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

// Calls body(begin, end) over consecutive ranges of `chunk` items (the last may be shorter) covering
// [0, n), handed to threads as they become free. On a shared host one core is often slowed for a
// while; with fixed shares the other then waits at the barrier (8% of a batch-16 Mixtral decode
// step was spent there), with small ranges it takes more of them instead.
template <typename Body>
void parallel_for_dynamic(int64_t n, int64_t chunk, Body&& body) {
  if (n <= 0) return;
  const int64_t n_chunks = (n + chunk - 1) / chunk;
  const int64_t n_threads = n_chunks < thread_count() ? n_chunks : thread_count();
  if (n_threads <= 1) {
    body(int64_t{0}, n);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
  for (int64_t c = 0; c < n_chunks; ++c) {
    const int64_t begin = c * chunk;
    const int64_t end = begin + chunk < n ? begin + chunk : n;
    body(begin, end);
  }
}

}  // namespace elephant
