#include "core/memory_bandwidth.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "core/statistics.h"

namespace elephant {
namespace {

// Integer sums (associative, so the compiler vectorizes them with several accumulators) keep the
// loop limited by loads, not by the latency of a floating-point add chain.
uint64_t sum_words(const uint64_t* words, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += words[i];
  return sum;
}

// The same sum with 256-bit loads and four independent accumulators, over `streams` equal parts
// of the range read side by side, 128 bytes from each in turn. The baseline (SSE2) loop above
// read ~30% below what the AVX2 matmul kernels themselves stream on Zen 3, and one sequential
// stream per core ~20% below four far-apart ones (the decode kernels' pattern there). The
// yardstick must read at least as fast as the kernels it judges, so one stream, two (the decode
// kernels' pattern since session 19, kernels::kWeightStreams) and four are timed and the fastest
// counts: on Zen 5 two read 2-5% faster than one or four in the low-bandwidth state and 10-15%
// faster in the middle one (84 against 73-76 GB/s on 512 MiB). Compiled for AVX2 by attribute
// (core is built for baseline x86-64) and only called when the CPU has it.
__attribute__((target("avx2"))) uint64_t sum_words_avx2(const uint64_t* words, size_t n, size_t streams) {
  constexpr size_t kStep = 16;  // four 4-word vectors: 128 bytes
  const size_t part = n / streams / kStep * kStep;
  __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  for (size_t i = 0; i < part; i += kStep) {
    for (size_t s = 0; s < streams; ++s) {
      const uint64_t* step = words + s * part + i;
      for (int j = 0; j < 4; ++j) {
        acc[j] = _mm256_add_epi64(acc[j], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(step + 4 * j)));
      }
    }
  }
  const __m256i total = _mm256_add_epi64(_mm256_add_epi64(acc[0], acc[1]), _mm256_add_epi64(acc[2], acc[3]));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), total);
  const size_t done = part * streams;
  return lanes[0] + lanes[1] + lanes[2] + lanes[3] + sum_words(words + done, n - done);
}

}  // namespace

ReadBandwidthMeter::ReadBandwidthMeter(size_t bytes, int n_threads)
    : buffer_(std::max<size_t>(bytes / sizeof(uint64_t), 1) * sizeof(uint64_t)),
      n_words_(buffer_.size() / sizeof(uint64_t)),
      n_threads_(std::max(1, n_threads)) {
  auto* words = reinterpret_cast<uint64_t*>(buffer_.data());
  const size_t n_words = n_words_;
#pragma omp parallel for schedule(static) num_threads(n_threads_)
  for (size_t i = 0; i < n_words; ++i) words[i] = i;
}

double ReadBandwidthMeter::measure_gb_per_s(int passes) const {
  const bool avx2 = __builtin_cpu_supports("avx2");
  const auto* words = reinterpret_cast<const uint64_t*>(buffer_.data());
  const size_t n_words = n_words_;
  double best = 0.0;
  for (const size_t streams : {size_t{1}, size_t{2}, size_t{4}}) {
    if (!avx2 && streams > 1) break;
    std::vector<double> seconds;
    volatile uint64_t sink = 0;
    for (int pass = 0; pass <= std::max(1, passes); ++pass) {
      uint64_t total = 0;
      const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(n_threads_) reduction(+ : total)
      {
        const auto thread = static_cast<size_t>(omp_get_thread_num());
        const auto count = static_cast<size_t>(omp_get_num_threads());
        const size_t begin = n_words * thread / count;
        const size_t end = n_words * (thread + 1) / count;
        total += avx2 ? sum_words_avx2(words + begin, end - begin, streams) : sum_words(words + begin, end - begin);
      }
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      sink = sink + total;
      if (pass > 0) seconds.push_back(elapsed);  // pass 0 warms up
    }
    best = std::max(best, static_cast<double>(n_words * sizeof(uint64_t)) / median(seconds) / 1e9);
  }
  return best;
}

}  // namespace elephant
