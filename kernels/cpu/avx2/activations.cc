#include "kernels/cpu/avx2/activations.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/activation_epoch.h"
#include "kernels/cpu/avx2/simd.h"
#include "kernels/quantize.h"

namespace elephant::kernels::avx2 {
namespace {

thread_local ActivationScratch t_activations;

// True when `scratch` already holds these rows from this thread's current epoch; otherwise marks
// it as about to hold them.
template <typename Scratch>
bool holds(Scratch& scratch, const float* x, int64_t n_rows, int64_t cols, int64_t group) {
  const QuantizedRowsKey key{activation_epoch(), x, n_rows, cols, group};
  if (key.epoch != 0 && scratch.key == key) return true;
  scratch.key = key;
  return false;
}

// Scratch grows to the largest call seen and never shrinks.
template <typename T>
void grow(std::vector<T>& scratch, int64_t size) {
  if (scratch.size() < static_cast<size_t>(size)) scratch.resize(static_cast<size_t>(size));
}

// Vectorized quantize_activation_row: the same max, the same fp32 product and the same
// round-to-nearest-even (cvtps_epi32 under the default MXCSR), so the same bytes.
float quantize_row(const float* x, int64_t cols, int8_t* q) {
  const int64_t vector_cols = cols - cols % 32;
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  __m256 max_vector = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= cols; k += 8) max_vector = _mm256_max_ps(max_vector, _mm256_andnot_ps(sign_bit, _mm256_loadu_ps(x + k)));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, max_vector);
  float m = 0.0f;
  for (float lane : lanes) m = std::max(m, lane);
  for (; k < cols; ++k) m = std::max(m, std::fabs(x[k]));
  const float inverse = m > 0.0f ? static_cast<float>(kInt8Max) / m : 0.0f;
  const __m256 inverse_vector = _mm256_set1_ps(inverse);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (k = 0; k < vector_cols; k += 32) {
    __m256i ints[4];
    for (int j = 0; j < 4; ++j) ints[j] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8 * j), inverse_vector));
    // packs work within 128-bit lanes; the permutation restores column order.
    const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(ints[0], ints[1]), _mm256_packs_epi32(ints[2], ints[3]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + k), _mm256_permutevar8x32_epi32(bytes, order));
  }
  for (k = vector_cols; k < cols; ++k) {
    const float rounded = std::nearbyint(x[k] * inverse);
    q[k] = static_cast<int8_t>(std::clamp(rounded, -static_cast<float>(kInt8Max), static_cast<float>(kInt8Max)));
  }
  return m / static_cast<float>(kInt8Max);
}

thread_local NibbleOrderActivations t_nibble_activations;

// 64 int8 values in column order -> [32 even columns, 32 odd columns]. Per 128-bit lane a byte
// shuffle puts the lane's 8 even values in its low half and 8 odd in its high half; 64-bit
// unpacks and a lane permutation then gather the halves in column order.
void reorder_block(const int8_t* columns, int8_t* nibble_order) {
  const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,  //
                                         0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  const __m256i a = _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(columns)), split);
  const __m256i b = _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(columns + 32)), split);
  const __m256i even = _mm256_permute4x64_epi64(_mm256_unpacklo_epi64(a, b), _MM_SHUFFLE(3, 1, 2, 0));
  const __m256i odd = _mm256_permute4x64_epi64(_mm256_unpackhi_epi64(a, b), _MM_SHUFFLE(3, 1, 2, 0));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(nibble_order), even);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(nibble_order + 32), odd);
}

thread_local GroupedActivations t_grouped_activations;

// Exact sum of n int8 values, n a multiple of 16 (int4 groups are).
int32_t sum_values(const int8_t* values, int64_t n) {
  const __m256i ones8 = _mm256_set1_epi8(1);
  const __m256i ones16 = _mm256_set1_epi16(1);
  __m256i acc = _mm256_setzero_si256();
  int64_t k = 0;
  for (; k + 32 <= n; k += 32) {
    const __m256i pairs = _mm256_maddubs_epi16(ones8, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(values + k)));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones16));
  }
  int32_t sum = horizontal_sum(acc);
  for (; k < n; ++k) sum += values[k];
  return sum;
}

}  // namespace

const ActivationScratch& quantize_rows(const float* x, int64_t n_rows, int64_t cols) {
  ActivationScratch& scratch = t_activations;
  if (holds(scratch, x, n_rows, cols, 0)) return scratch;
  grow(scratch.values, n_rows * cols);
  grow(scratch.scales, n_rows);
  grow(scratch.sums, n_rows);
  for (int64_t i = 0; i < n_rows; ++i) {
    int8_t* row = scratch.values.data() + i * cols;
    scratch.scales[static_cast<size_t>(i)] = quantize_row(x + i * cols, cols, row);
    scratch.sums[static_cast<size_t>(i)] = sum_values(row, cols);
  }
  return scratch;
}

const NibbleOrderActivations& quantize_rows_nibble_order(const float* x, int64_t n_rows, int64_t cols, int64_t group) {
  NibbleOrderActivations& scratch = t_nibble_activations;
  if (holds(scratch, x, n_rows, cols, group)) return scratch;
  const int64_t groups = cols / group;
  const int64_t pairs = (groups + 1) / 2;
  grow(scratch.values, n_rows * cols);
  grow(scratch.scales, n_rows);
  grow(scratch.group_offsets, n_rows * groups);
  grow(scratch.pair_offsets, n_rows * pairs * 8);
  grow(scratch.row, cols);
  for (int64_t i = 0; i < n_rows; ++i) {
    int8_t* q = scratch.row.data();
    scratch.scales[static_cast<size_t>(i)] = quantize_row(x + i * cols, cols, q);
    int8_t* out = scratch.values.data() + i * cols;
    for (int64_t block = 0; block < cols; block += 64) reorder_block(q + block, out + block);
    int32_t* offsets = scratch.pair_offsets.data() + i * pairs * 8;
    std::fill(offsets, offsets + pairs * 8, 0);
    for (int64_t g = 0; g < groups; ++g) {
      const int32_t sum = sum_values(q + g * group, group);
      scratch.group_offsets[static_cast<size_t>(i * groups + g)] = -kInt4Offset * sum;
      offsets[(g / 2) * 8 + (g % 2) * 2] = kInt4Offset * sum;
    }
  }
  return scratch;
}

const GroupedActivations& quantize_rows_grouped(const float* x, int64_t n_rows, int64_t cols, int64_t group) {
  GroupedActivations& scratch = t_grouped_activations;
  if (holds(scratch, x, n_rows, cols, group)) return scratch;
  const int64_t groups = cols / group;
  grow(scratch.values, n_rows * cols);
  grow(scratch.scales, n_rows);
  grow(scratch.group_offsets, n_rows * groups);
  for (int64_t i = 0; i < n_rows; ++i) {
    int8_t* q = scratch.values.data() + i * cols;
    scratch.scales[static_cast<size_t>(i)] = quantize_row(x + i * cols, cols, q);
    for (int64_t g = 0; g < groups; ++g) {
      scratch.group_offsets[static_cast<size_t>(i * groups + g)] = -kInt4Offset * sum_values(q + g * group, group);
    }
  }
  return scratch;
}

}  // namespace elephant::kernels::avx2
