#include "kernels/cuda/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "config/model_config.h"
#include "core/error.h"
#include "kernels/cuda/device.h"
#include "layers/attention.h"
#include "layers/kv_cache.h"
#include "layers/rows.h"
#include "ops/ops.h"
#include "support/cuda_device.h"
#include "support/tolerance.h"

namespace elephant::cuda {
namespace {

using testing::expect_close;
using testing::kEpsF32;
using testing::reduction_tolerance;

std::vector<float> random_values(size_t n, float magnitude, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-magnitude, magnitude);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

// One attention problem in the kernels' layouts (attention.h): the rows of sequence s are
// [row_offsets[s], row_offsets[s + 1]), its last positions, ending at lengths[s] - 1.
struct Problem {
  AttentionShape shape;
  std::vector<int32_t> lengths;
  std::vector<int32_t> row_offsets;
  std::vector<float> q;        // [rows, n_heads, head_dim]
  std::vector<float> k_cache;  // [n_seqs, n_kv_heads, max_length, head_dim]
  std::vector<float> v_cache;

  int n_seqs() const { return static_cast<int>(lengths.size()); }
  int n_rows() const { return row_offsets.back(); }
  int max_rows() const {
    int m = 0;
    for (int s = 0; s < n_seqs(); ++s) m = std::max(m, row_offsets[s + 1] - row_offsets[s]);
    return m;
  }
  int first_position(int position) const {
    return shape.sliding_window > 0 ? std::max(0, position - shape.sliding_window + 1) : 0;
  }
  const float* key(int s, int kv_head, int t) const { return &k_cache[cache_index(s, kv_head, t)]; }
  const float* value(int s, int kv_head, int t) const { return &v_cache[cache_index(s, kv_head, t)]; }
  size_t cache_index(int s, int kv_head, int t) const {
    return ((static_cast<size_t>(s) * shape.n_kv_heads + kv_head) * shape.max_length + t) * shape.head_dim;
  }
};

// rows_per_seq[s] rows for sequence s, whose cache holds lengths[s] positions. q_magnitude sets
// how peaked the softmax is (scores grow with |q|).
Problem make_problem(const AttentionShape& shape, const std::vector<int32_t>& lengths,
                     const std::vector<int32_t>& rows_per_seq, float q_magnitude, uint32_t seed) {
  Problem p;
  p.shape = shape;
  p.lengths = lengths;
  p.row_offsets = {0};
  for (int32_t rows : rows_per_seq) p.row_offsets.push_back(p.row_offsets.back() + rows);
  const size_t cache = static_cast<size_t>(lengths.size()) * shape.n_kv_heads * shape.max_length * shape.head_dim;
  p.q = random_values(static_cast<size_t>(p.n_rows()) * shape.n_heads * shape.head_dim, q_magnitude, seed);
  p.k_cache = random_values(cache, 1.0f, seed + 1);
  p.v_cache = random_values(cache, 1.0f, seed + 2);
  return p;
}

struct Reference {
  std::vector<float> out;  // [rows, n_heads, head_dim]
  double tolerance = 0.0;
};

// Softmax attention in double precision, and the fp32 error budget of the kernels on this data:
// each score is a length-head_dim dot product (error eps · sqrt(head_dim) · sum |q_i k_i| · scale);
// a score error δ moves softmax-weighted values by at most 2 δ max|v|; the weighted sum over the
// span and its normaliser each add eps · sqrt(span) · max|v|.
Reference reference_attention(const Problem& p) {
  const AttentionShape& sh = p.shape;
  const int group = sh.n_heads / sh.n_kv_heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(sh.head_dim));
  Reference ref;
  ref.out.assign(p.q.size(), 0.0f);
  double score_magnitude = 0.0;
  double value_magnitude = 0.0;
  int longest_span = 1;
  for (int s = 0; s < p.n_seqs(); ++s) {
    const int n_rows = p.row_offsets[s + 1] - p.row_offsets[s];
    for (int i = 0; i < n_rows; ++i) {
      const int row = p.row_offsets[s] + i;
      const int position = p.lengths[s] - n_rows + i;
      const int first = p.first_position(position);
      longest_span = std::max(longest_span, position - first + 1);
      for (int h = 0; h < sh.n_heads; ++h) {
        const int kv_head = h / group;
        const float* query = &p.q[(static_cast<size_t>(row) * sh.n_heads + h) * sh.head_dim];
        std::vector<double> scores;
        double max_score = -INFINITY;
        for (int t = first; t <= position; ++t) {
          const float* key = p.key(s, kv_head, t);
          double dot = 0.0;
          double abs_dot = 0.0;
          for (int d = 0; d < sh.head_dim; ++d) {
            dot += static_cast<double>(query[d]) * key[d];
            abs_dot += std::fabs(static_cast<double>(query[d]) * key[d]);
          }
          score_magnitude = std::max(score_magnitude, abs_dot * scale);
          scores.push_back(dot * scale);
          max_score = std::max(max_score, dot * scale);
        }
        double total = 0.0;
        for (double& score : scores) {
          score = std::exp(score - max_score);
          total += score;
        }
        std::vector<double> acc(static_cast<size_t>(sh.head_dim), 0.0);
        for (int t = first; t <= position; ++t) {
          const float* value = p.value(s, kv_head, t);
          const double weight = scores[static_cast<size_t>(t - first)] / total;
          for (int d = 0; d < sh.head_dim; ++d) {
            acc[static_cast<size_t>(d)] += weight * value[d];
            value_magnitude = std::max(value_magnitude, std::fabs(static_cast<double>(value[d])));
          }
        }
        float* dst = &ref.out[(static_cast<size_t>(row) * sh.n_heads + h) * sh.head_dim];
        for (int d = 0; d < sh.head_dim; ++d) dst[d] = static_cast<float>(acc[static_cast<size_t>(d)]);
      }
    }
  }
  const double score_error = reduction_tolerance(kEpsF32, sh.head_dim, 1, score_magnitude);
  ref.tolerance = 2.0 * score_error * value_magnitude +
                  2.0 * reduction_tolerance(kEpsF32, longest_span, 1, value_magnitude);
  return ref;
}

std::string describe(const Problem& p, const std::string& kind) {
  std::string lengths;
  for (int32_t length : p.lengths) {
    if (!lengths.empty()) lengths += ',';
    lengths += std::to_string(length);
  }
  return kind + " heads " + std::to_string(p.shape.n_heads) + "/" + std::to_string(p.shape.n_kv_heads) + " hd " +
         std::to_string(p.shape.head_dim) + " window " + std::to_string(p.shape.sliding_window) + " lengths " + lengths;
}

struct DeviceProblem {
  explicit DeviceProblem(const Problem& p)
      : q(to_device(p.q)),
        k_cache(to_device(p.k_cache)),
        v_cache(to_device(p.v_cache)),
        lengths(to_device(p.lengths)),
        row_offsets(to_device(p.row_offsets)),
        out(p.q.size()) {}
  DeviceBuffer<float> q, k_cache, v_cache;
  DeviceBuffer<int32_t> lengths, row_offsets;
  DeviceBuffer<float> out;
};

int multiprocessors() { return probe().devices.at(0).multiprocessors; }

// Decode with the planned split and with forced ones: many short chunks (most merging) and one
// chunk per sequence when it fits a block (no merging).
void check_decode(const Problem& p) {
  ASSERT_EQ(p.n_rows(), p.n_seqs()) << "decode takes one row per sequence";
  const Reference ref = reference_attention(p);
  DeviceProblem device(p);
  const int longest = *std::max_element(p.lengths.begin(), p.lengths.end());
  int span = longest;
  if (p.shape.sliding_window > 0) span = std::min(span, p.shape.sliding_window);
  std::vector<DecodeSplit> splits = {plan_decode_split(p.shape, p.n_seqs(), longest, multiprocessors())};
  splits.push_back({32, (span + 31) / 32});
  if (span <= max_decode_chunk(p.shape)) splits.push_back({span, 1});
  for (const DecodeSplit& split : splits) {
    DeviceBuffer<float> workspace(decode_workspace_floats(p.shape, p.n_seqs(), split));
    decode_attention(device.q.data(), device.k_cache.data(), device.v_cache.data(), device.lengths.data(), p.n_seqs(),
                     p.shape, split, workspace.data(), device.out.data(), nullptr);
    ELEPHANT_CUDA_CHECK(cudaDeviceSynchronize());
    expect_close(ref.out, device.out.download(), ref.tolerance,
                 describe(p, "decode") + " chunk " + std::to_string(split.chunk_length) + " x " +
                     std::to_string(split.n_splits));
  }
}

void check_prefill(const Problem& p) {
  const Reference ref = reference_attention(p);
  DeviceProblem device(p);
  prefill_attention(device.q.data(), device.k_cache.data(), device.v_cache.data(), device.lengths.data(),
                    device.row_offsets.data(), p.n_seqs(), p.max_rows(), p.shape, device.out.data(), nullptr);
  ELEPHANT_CUDA_CHECK(cudaDeviceSynchronize());
  expect_close(ref.out, device.out.download(), ref.tolerance, describe(p, "prefill"));
}

AttentionShape shape(int n_heads, int n_kv_heads, int head_dim, int max_length, int sliding_window = 0) {
  return AttentionShape{n_heads, n_kv_heads, head_dim, max_length, sliding_window};
}

TEST(CudaDecodeAttention, MatchesReferenceWithGroupedHeads) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  check_decode(make_problem(shape(32, 8, 128, 1024), {1, 17, 1000}, {1, 1, 1}, 1.0f, 1));
  check_decode(make_problem(shape(32, 8, 128, 1024), {1000, 3}, {1, 1}, 8.0f, 2));  // peaked softmax
  check_decode(make_problem(shape(4, 1, 64, 1000), {1000, 17, 1}, {1, 1, 1}, 2.0f, 3));
  check_decode(make_problem(shape(32, 1, 128, 1024), {1000, 64}, {1, 1}, 2.0f, 4));  // 32 heads per KV head
  check_decode(make_problem(shape(4, 4, 64, 300), {257}, {1}, 1.0f, 5));             // no grouping
  check_decode(make_problem(shape(16, 2, 256, 600), {600, 33}, {1, 1}, 1.0f, 6));
  check_decode(make_problem(shape(8, 2, 80, 200), {200, 1}, {1, 1}, 1.0f, 7));  // head_dim not a warp multiple
}

TEST(CudaDecodeAttention, MatchesReferenceWithSlidingWindow) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  check_decode(make_problem(shape(8, 2, 64, 1000, 100), {1, 50, 100, 101, 1000}, {1, 1, 1, 1, 1}, 2.0f, 8));
}

TEST(CudaPrefillAttention, MatchesReferenceCausally) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  // A fresh prompt of 37 rows next to a continuation: 17 new rows after 83 cached positions.
  check_prefill(make_problem(shape(32, 8, 128, 128), {37, 100}, {37, 17}, 1.0f, 11));
  check_prefill(make_problem(shape(4, 1, 64, 1000), {1, 1000}, {1, 1000}, 4.0f, 12));
  check_prefill(make_problem(shape(8, 8, 256, 80), {70}, {70}, 1.0f, 13));  // head_dim 256: opt-in shared memory
  check_prefill(make_problem(shape(6, 2, 80, 64), {9, 64}, {9, 40}, 1.0f, 14));
}

TEST(CudaPrefillAttention, MatchesReferenceWithSlidingWindow) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  check_prefill(make_problem(shape(8, 2, 64, 300, 33), {300, 20}, {300, 5}, 2.0f, 15));
}

TEST(CudaPrefillAttention, OneRowAgreesWithDecode) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  const Problem p = make_problem(shape(32, 8, 128, 512), {511, 1, 77}, {1, 1, 1}, 2.0f, 16);
  check_prefill(p);
  check_decode(p);
}

// Host logic, no device needed.
TEST(DecodeSplitPlan, CoversTheSpanAndFillsTheDevice) {
  for (const AttentionShape& sh : {shape(32, 8, 128, 32768), shape(32, 1, 128, 32768), shape(4, 4, 64, 4096),
                                   shape(16, 2, 256, 8192), shape(8, 2, 64, 32768, 4096)}) {
    const int max_chunk = max_decode_chunk(sh);
    const int group = sh.n_heads / sh.n_kv_heads;
    EXPECT_GT(max_chunk, 0);
    EXPECT_LE(static_cast<int64_t>(group) * (sh.head_dim + max_chunk) * 4, 48 * 1024);
    for (int n_seqs : {1, 3, 64, 512}) {
      for (int longest : {1, 17, 1000, 32768}) {
        const DecodeSplit split = plan_decode_split(sh, n_seqs, longest, 132);
        int span = longest;
        if (sh.sliding_window > 0) span = std::min(span, sh.sliding_window);
        const std::string what = "n_seqs " + std::to_string(n_seqs) + " longest " + std::to_string(longest);
        EXPECT_GE(split.chunk_length, 1) << what;
        EXPECT_LE(split.chunk_length, max_chunk) << what;
        EXPECT_GE(int64_t{split.chunk_length} * split.n_splits, span) << what;
        EXPECT_LT(int64_t{split.chunk_length} * (split.n_splits - 1), span) << what;  // no empty split
        // Spans are cut into enough chunks for two blocks per multiprocessor (up to rounding
        // chunks to whole warps), unless chunks would get shorter than 64 positions.
        const int64_t blocks_per_split = int64_t{n_seqs} * sh.n_kv_heads;
        const int64_t wanted_splits = (2 * 132 + blocks_per_split - 1) / blocks_per_split;
        const int64_t share = (span + wanted_splits - 1) / wanted_splits;
        EXPECT_LE(split.chunk_length, std::max<int64_t>(64, (share + 31) / 32 * 32)) << what;
        // Enough sequences fill the device by themselves: no split.
        if (int64_t{n_seqs} * sh.n_kv_heads >= 2 * 132 && span <= max_chunk) {
          EXPECT_EQ(split.n_splits, 1) << what;
        }
      }
    }
    EXPECT_EQ(plan_decode_split(sh, 1, 1, 132).n_splits, 1);
  }
}

TEST(DecodeSplitPlan, RejectsShapesItCannotRun) {
  EXPECT_THROW(max_decode_chunk(shape(32, 5, 128, 100)), Error);   // 5 does not divide 32
  EXPECT_THROW(max_decode_chunk(shape(32, 8, 512, 100)), Error);   // head_dim over 256
  EXPECT_THROW(plan_decode_split(shape(64, 1, 256, 100), 1, 10, 132), Error);  // 64 queries of 1 KiB
  const DecodeSplit too_long{max_decode_chunk(shape(32, 8, 128, 100)) + 1, 1};
  EXPECT_THROW(decode_attention(nullptr, nullptr, nullptr, nullptr, 1, shape(32, 8, 128, 100), too_long, nullptr,
                                nullptr, nullptr),
               Error);
}

// The CPU layer (layers::Attention::forward) computes the function the reference above does:
// projections that copy slices of x make q, k and v free inputs, and an output projection that
// copies the context back exposes it. RoPE is applied by the layer, so the reference gets q and k
// rotated by ops::rope, the same function.
void check_cpu_layer(int n_heads, int n_kv_heads, int head_dim, int n_rows, int sliding_window) {
  const int q_dim = n_heads * head_dim;
  const int kv_dim = n_kv_heads * head_dim;
  const int hidden = q_dim + 2 * kv_dim;
  config::ModelConfig config;
  config.hidden_size = hidden;
  config.n_layers = 1;
  config.n_heads = n_heads;
  config.n_kv_heads = n_kv_heads;
  config.head_dim = head_dim;
  config.rope_theta = 10000.0f;
  config.max_positions = n_rows;
  config.layers = {config::LayerConfig{true, sliding_window}};

  const auto selection = [&](int rows, int offset) {
    std::vector<float> w(static_cast<size_t>(rows) * hidden, 0.0f);
    for (int r = 0; r < rows; ++r) w[static_cast<size_t>(r) * hidden + offset + r] = 1.0f;
    return w;
  };
  const std::vector<float> wq = selection(q_dim, 0);
  const std::vector<float> wk = selection(kv_dim, q_dim);
  const std::vector<float> wv = selection(kv_dim, q_dim + kv_dim);
  std::vector<float> wo(static_cast<size_t>(hidden) * q_dim, 0.0f);
  for (int r = 0; r < q_dim; ++r) wo[static_cast<size_t>(r) * q_dim + r] = 1.0f;
  const auto dense = [](const std::vector<float>& w, int rows, int cols) {
    ops::WeightMatrix m;
    m.rows = rows;
    m.cols = cols;
    m.data = w.data();
    return m;
  };
  layers::AttentionWeights weights;
  weights.q = dense(wq, q_dim, hidden);
  weights.k = dense(wk, kv_dim, hidden);
  weights.v = dense(wv, kv_dim, hidden);
  weights.o = dense(wo, hidden, q_dim);
  const layers::Attention attention(config, 0, weights);

  const std::vector<float> x = random_values(static_cast<size_t>(n_rows) * hidden, 1.5f, 31);
  layers::KvCache cache(1, kv_dim, 16, (n_rows + 15) / 16, n_rows);
  ASSERT_TRUE(cache.reserve(0, n_rows));
  layers::RowBatch rows;
  for (int r = 0; r < n_rows; ++r) rows.add(0, r, 0);
  std::vector<float> out(static_cast<size_t>(n_rows) * hidden);
  attention.forward(x.data(), rows, cache, out.data());

  Problem p;
  p.shape = shape(n_heads, n_kv_heads, head_dim, n_rows, sliding_window);
  p.lengths = {n_rows};
  p.row_offsets = {0, n_rows};
  std::vector<float> k(static_cast<size_t>(n_rows) * kv_dim);
  p.q.resize(static_cast<size_t>(n_rows) * q_dim);
  p.k_cache.resize(static_cast<size_t>(n_kv_heads) * n_rows * head_dim);
  p.v_cache.resize(p.k_cache.size());
  for (int r = 0; r < n_rows; ++r) {
    const float* row = &x[static_cast<size_t>(r) * hidden];
    std::copy_n(row, q_dim, &p.q[static_cast<size_t>(r) * q_dim]);
    std::copy_n(row + q_dim, kv_dim, &k[static_cast<size_t>(r) * kv_dim]);
  }
  ops::rope(p.q.data(), n_rows, n_heads, head_dim, rows.positions, config.rope_theta);
  ops::rope(k.data(), n_rows, n_kv_heads, head_dim, rows.positions, config.rope_theta);
  for (int r = 0; r < n_rows; ++r) {
    for (int g = 0; g < n_kv_heads; ++g) {
      std::copy_n(&k[(static_cast<size_t>(r) * n_kv_heads + g) * head_dim], head_dim, &p.k_cache[p.cache_index(0, g, r)]);
      std::copy_n(&x[static_cast<size_t>(r) * hidden + q_dim + kv_dim + g * head_dim], head_dim,
                  &p.v_cache[p.cache_index(0, g, r)]);
    }
  }
  const Reference ref = reference_attention(p);
  std::vector<float> context(static_cast<size_t>(n_rows) * q_dim);
  for (int r = 0; r < n_rows; ++r) {
    std::copy_n(&out[static_cast<size_t>(r) * hidden], q_dim, &context[static_cast<size_t>(r) * q_dim]);
  }
  expect_close(ref.out, context, ref.tolerance, describe(p, "cpu layer"));
}

TEST(CpuAttentionLayer, AgreesWithTheReference) {
  check_cpu_layer(8, 2, 64, 45, 0);
  check_cpu_layer(4, 1, 32, 30, 7);
}

}  // namespace
}  // namespace elephant::cuda
