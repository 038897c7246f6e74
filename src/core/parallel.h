// Work splitting across cores. Each output is produced by exactly one thread, in a fixed order, and
// range boundaries never change what a single output element computes, so results do not depend
// on which thread ran which range or when.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

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

// Calls body(i) for every item of [0, n), each once. Thread t owns the contiguous share
// [n t / T, n (t + 1) / T) and runs it in order; a thread done with its own share takes the last
// untaken items of the others'. Taking from a shared queue instead handed a thread every T-th
// item, and the quantized decode kernels restart their weight streams at every item that does not
// follow the last one they read (kernels/cpu/tiled.h): in order, a thread's next range starts
// where its previous one's streams left off. Zen 5, 2 threads, one activation row from DRAM, high
// bandwidth state: int4 14336×4096 78 -> 84% of the read meter, 4096×14336 80 -> 85%, int8
// 14336×4096 84 -> 87%, 2048×768 int4 as eight experts 74 -> 76%; alike in the low state. Taking
// from the others keeps what the queue gave: on a shared host one core is often slowed for a
// while, and with fixed shares the other then waits at the barrier (8% of a batch-16 Mixtral
// decode step was spent there).
template <typename Body>
void parallel_for_owned(int64_t n, Body&& body) {
  if (n <= 0) return;
  const int64_t n_threads = n < thread_count() ? n : thread_count();
  // A share's untaken items [front, back) are one 64-bit word (back << 32 | front), so owner and
  // thieves claim items with one compare-and-swap; beyond 2^32 items, one thread runs them all.
  if (n_threads <= 1 || n > int64_t{0xffffffff}) {
    for (int64_t i = 0; i < n; ++i) body(i);
    return;
  }
  // Reused: decode calls this a few times per layer and step, and the hot path does not allocate.
  thread_local std::vector<std::atomic<uint64_t>> shares;
  if (static_cast<int64_t>(shares.size()) < n_threads) shares = std::vector<std::atomic<uint64_t>>(static_cast<size_t>(n_threads));
  for (int64_t t = 0; t < n_threads; ++t) {
    const auto front = static_cast<uint64_t>(n * t / n_threads);
    const auto back = static_cast<uint64_t>(n * (t + 1) / n_threads);
    shares[static_cast<size_t>(t)].store(back << 32 | front, std::memory_order_relaxed);
  }
  // The workers use the calling thread's shares, not their own thread_local ones (so body must not
  // call parallel_for_owned on the calling thread: it would reset the shares being taken).
  std::vector<std::atomic<uint64_t>>& all = shares;
  const auto take = [&all](int64_t owner, bool from_front, int64_t& item) {
    std::atomic<uint64_t>& share = all[static_cast<size_t>(owner)];
    uint64_t bounds = share.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t front = bounds & 0xffffffffu;
      const uint64_t back = bounds >> 32;
      if (front >= back) return false;
      const uint64_t rest = from_front ? (back << 32 | (front + 1)) : ((back - 1) << 32 | front);
      if (share.compare_exchange_weak(bounds, rest, std::memory_order_relaxed)) {
        item = static_cast<int64_t>(from_front ? front : back - 1);
        return true;
      }
    }
  };
#pragma omp parallel for schedule(static, 1) num_threads(n_threads)
  for (int64_t self = 0; self < n_threads; ++self) {
    int64_t item = 0;
    while (take(self, true, item)) body(item);
    for (int64_t k = 1; k < n_threads; ++k) {
      while (take((self + k) % n_threads, false, item)) body(item);
    }
  }
}

}  // namespace elephant
