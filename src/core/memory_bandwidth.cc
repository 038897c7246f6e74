#include "core/memory_bandwidth.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace elephant {
namespace {

constexpr int kPasses = 7;

// Integer sums (associative, so the compiler vectorizes them with several accumulators) keep the
// loop limited by loads, not by the latency of a floating-point add chain.
uint64_t sum_words(const uint64_t* words, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += words[i];
  return sum;
}

}  // namespace

double measure_read_bandwidth_gb_per_s(size_t bytes, int n_threads) {
  const size_t n_words = std::max<size_t>(bytes / sizeof(uint64_t), 1);
  n_threads = std::max(1, n_threads);
  const std::unique_ptr<uint64_t[]> words(new uint64_t[n_words]);
#pragma omp parallel for schedule(static) num_threads(n_threads)
  for (size_t i = 0; i < n_words; ++i) words[i] = i;

  std::vector<double> seconds;
  volatile uint64_t sink = 0;
  for (int pass = 0; pass <= kPasses; ++pass) {
    uint64_t total = 0;
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(n_threads) reduction(+ : total)
    {
      const auto thread = static_cast<size_t>(omp_get_thread_num());
      const auto count = static_cast<size_t>(omp_get_num_threads());
      const size_t begin = n_words * thread / count;
      const size_t end = n_words * (thread + 1) / count;
      total += sum_words(words.get() + begin, end - begin);
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    sink = sink + total;
    if (pass > 0) seconds.push_back(elapsed);  // pass 0 warms up
  }
  std::sort(seconds.begin(), seconds.end());
  return static_cast<double>(n_words * sizeof(uint64_t)) / seconds[seconds.size() / 2] / 1e9;
}

}  // namespace elephant
