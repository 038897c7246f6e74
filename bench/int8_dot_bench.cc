// int8_dot_bench: what bounds the AVX2 int8 × int8 prefill kernel (issue 5's "int8 ≥ 1.5× sgemm"),
// measured on this CPU in one run (docs/performance.md, "Session 11").
//
//   1. Issue cost of the three instructions of the sign trick (vpsignb, vpmaddubsw, vpmaddwd) alone
//      and mixed, eight independent chains each: the closer the mixed time is to the sum of the
//      parts, the more they compete for the same pipes (3 per 32 multiply-adds and row).
//   2. Two exact int8 dot-product loops with every operand in L1: the sign trick (4 rows × 1 output,
//      the kernel's) and int16 activations with vpmaddwd (2 rows × 4 outputs, no sign instruction).
//   3. OpenBLAS sgemm at 512 × 1024 × 4096 on one thread, the yardstick the goal is stated against.
// Timings are medians of --reps repetitions; compare ratios within a run, not across runs.
#include <immintrin.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/statistics.h"

#ifdef ELEPHANT_HAVE_OPENBLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int n_threads);
#endif

namespace {

constexpr int kChains = 8;
constexpr long kChainSteps = 20'000'000;

enum class Mix { kSign, kMaddubs, kMadd, kMaddubsMadd, kSignMaddubsMadd, kAdd };

// Compiled for AVX2 function by function (the file is not built with -mavx2), so main() can say so
// on a CPU without it instead of stopping on an illegal instruction.
#define ELEPHANT_AVX2 __attribute__((target("avx2,fma")))

template <Mix kMix>
ELEPHANT_AVX2 __attribute__((noinline)) int run_chains(long steps, int seed) {
  __m256i chains[kChains];
  __m256i other = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int c = 0; c < kChains; ++c) chains[c] = _mm256_set1_epi8(static_cast<char>(seed + c));
  for (long n = 0; n < steps; ++n) {
#pragma GCC unroll 8
    for (int c = 0; c < kChains; ++c) {
      __m256i& v = chains[c];
      if constexpr (kMix == Mix::kSign) v = _mm256_sign_epi8(v, other);
      if constexpr (kMix == Mix::kMaddubs) v = _mm256_maddubs_epi16(other, v);
      if constexpr (kMix == Mix::kMadd) v = _mm256_madd_epi16(v, ones);
      if constexpr (kMix == Mix::kMaddubsMadd) v = _mm256_madd_epi16(_mm256_maddubs_epi16(other, v), ones);
      if constexpr (kMix == Mix::kSignMaddubsMadd) {
        v = _mm256_madd_epi16(_mm256_maddubs_epi16(other, _mm256_sign_epi8(v, other)), ones);
      }
      if constexpr (kMix == Mix::kAdd) v = _mm256_add_epi32(v, other);
    }
    asm volatile("" : "+x"(other));  // keeps the loop from being folded
  }
  __m256i folded = chains[0];
  for (int c = 1; c < kChains; ++c) folded = _mm256_xor_si256(folded, chains[c]);
  return _mm256_extract_epi32(folded, 0);
}

template <typename Fn>
double median_seconds(int reps, Fn&& fn) {
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return elephant::median(times);
}

template <Mix kMix>
double ns_per_group(int reps) {
  volatile int sink = 0;
  const double seconds = median_seconds(reps, [&] {
    sink = sink + run_chains<kMix>(kChainSteps, 1);
  });
  return seconds / static_cast<double>(kChainSteps * kChains) * 1e9;
}

ELEPHANT_AVX2 int32_t horizontal_sum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// Operands sized for L1: 16 weight rows and 4 activation rows of kCols int8 (16 + 4 KiB) or, for
// the int16 loop, 4 rows of int16 activations (8 KiB).
constexpr int kCols = 1024;
struct L1Operands {
  alignas(64) int8_t weights[16][kCols];
  alignas(64) int8_t activations[4][kCols];
  alignas(64) int16_t activations16[4][kCols];
};

// The kernel's step (kernels/cpu/avx2/quantized_matmul.cc): 4 rows × 1 output, maddubs(|w|, sign(x, w)).
ELEPHANT_AVX2 __attribute__((noinline)) void sign_trick_4x1(const L1Operands& in, int o, int32_t* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[4] = {};
  for (int k = 0; k < kCols; k += 32) {
    const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(in.weights[o] + k));
    const __m256i w_abs = _mm256_abs_epi8(w);
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(in.activations[r] + k));
      acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(_mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(x, w)), ones));
    }
  }
  for (int r = 0; r < 4; ++r) out[r] = horizontal_sum(acc[r]);
}

// int16 activations × sign-extended int8 weights, 2 rows × 4 outputs: the same exact sums.
ELEPHANT_AVX2 __attribute__((noinline)) void int16_madd_2x4(const L1Operands& in, int row, int o, int32_t* out) {
  __m256i acc[2][4] = {};
  for (int k = 0; k < kCols; k += 16) {
    __m256i w[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      w[j] = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(in.weights[o + j] + k)));
    }
#pragma GCC unroll 2
    for (int r = 0; r < 2; ++r) {
      const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(in.activations16[row + r] + k));
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_madd_epi16(x, w[j]));
    }
  }
  for (int r = 0; r < 2; ++r) {
    for (int j = 0; j < 4; ++j) out[r * 4 + j] = horizontal_sum(acc[r][j]);
  }
}

constexpr int kL1Passes = 20000;
constexpr double kL1MultiplyAdds = double{kL1Passes} * 16 * 4 * kCols;  // 16 outputs × 4 rows per pass

}  // namespace

int main(int argc, char** argv) {
  int reps = 5;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg == "--reps" && a + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++a]));
    } else {
      fmt::print(stderr, "usage: int8_dot_bench [--reps N]\n");
      return 2;
    }
  }
  if (!__builtin_cpu_supports("avx2")) {
    fmt::print(stderr, "int8_dot_bench: this CPU has no AVX2; nothing to measure\n");
    return 1;
  }

  fmt::print("1. issue cost, ns per instruction group ({} independent chains, median of {}):\n", kChains, reps);
  const double sign = ns_per_group<Mix::kSign>(reps), maddubs = ns_per_group<Mix::kMaddubs>(reps);
  const double madd = ns_per_group<Mix::kMadd>(reps), pair = ns_per_group<Mix::kMaddubsMadd>(reps);
  const double triple = ns_per_group<Mix::kSignMaddubsMadd>(reps), add = ns_per_group<Mix::kAdd>(reps);
  fmt::print("   vpsignb {:.3f}  vpmaddubsw {:.3f}  vpmaddwd {:.3f}  vpaddd {:.3f}\n", sign, maddubs, madd, add);
  fmt::print("   maddubs+madd {:.3f} (sum of parts {:.3f})  sign+maddubs+madd {:.3f} (sum {:.3f}, without sign {:.3f})\n",
             pair, maddubs + madd, triple, sign + maddubs + madd, pair);
  // 100%: vpsignb waits for the multiply pipes like a third multiply; 0%: it issues elsewhere, free.
  fmt::print("   -> adding vpsignb to the pair costs {:.0f}% of its own issue time\n", 100.0 * (triple - pair) / sign);

  auto operands = std::make_unique<L1Operands>();
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> value(-127, 127);
  for (auto& row : operands->weights) {
    for (auto& w : row) w = static_cast<int8_t>(value(rng));
  }
  for (int r = 0; r < 4; ++r) {
    for (int k = 0; k < kCols; ++k) {
      operands->activations[r][k] = static_cast<int8_t>(value(rng));
      operands->activations16[r][k] = operands->activations[r][k];
    }
  }
  int32_t check_sign[4], check_madd[8];
  sign_trick_4x1(*operands, 0, check_sign);
  int16_madd_2x4(*operands, 0, 0, check_madd);
  if (check_sign[0] != check_madd[0] || check_sign[1] != check_madd[4]) {
    fmt::print(stderr, "int8_dot_bench: the two loops disagree ({} vs {})\n", check_sign[0], check_madd[0]);
    return 1;
  }
  volatile int32_t sink = 0;
  const double sign_seconds = median_seconds(reps, [&] {
    int32_t out[4];
    for (int pass = 0; pass < kL1Passes; ++pass) {
      for (int o = 0; o < 16; ++o) {
        sign_trick_4x1(*operands, o, out);
        sink = sink + out[0];
      }
    }
  });
  const double madd_seconds = median_seconds(reps, [&] {
    int32_t out[8];
    for (int pass = 0; pass < kL1Passes; ++pass) {
      for (int row = 0; row < 4; row += 2) {
        for (int o = 0; o < 16; o += 4) {
          int16_madd_2x4(*operands, row, o, out);
          sink = sink + out[0];
        }
      }
    }
  });
  const double sign_gmacs = kL1MultiplyAdds / sign_seconds / 1e9, madd_gmacs = kL1MultiplyAdds / madd_seconds / 1e9;
  fmt::print("2. exact int8 dot loops, operands in L1, GMAC/s: sign trick 4x1 {:.1f}, int16 madd 2x4 {:.1f} ({:.2f}x)\n",
             sign_gmacs, madd_gmacs, madd_gmacs / sign_gmacs);

#ifdef ELEPHANT_HAVE_OPENBLAS
  openblas_set_num_threads(1);
  const int m = 512, n = 1024, k = 4096;
  std::vector<float> a(size_t{m} * k), b(size_t{n} * k), c(size_t{m} * n);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (auto& x : a) x = uniform(rng);
  for (auto& x : b) x = uniform(rng);
  const double sgemm_seconds = median_seconds(reps, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
  });
  const double sgemm_gmacs = double{m} * n * k / sgemm_seconds / 1e9;
  fmt::print("3. OpenBLAS sgemm {}x{}x{}, one thread: {:.1f} GMAC/s; the L1 loops are {:.2f}x and {:.2f}x of it "
             "(issue 5's goal: the int8 kernel at 1.5x)\n",
             m, n, k, sgemm_gmacs, sign_gmacs / sgemm_gmacs, madd_gmacs / sgemm_gmacs);
#else
  fmt::print("3. OpenBLAS not found at build time: no sgemm yardstick\n");
#endif
  return 0;
}
