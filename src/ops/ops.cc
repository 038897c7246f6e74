#include "ops/ops.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/activation_epoch.h"

namespace elephant::ops {
namespace {

const kernels::KernelTable* g_kernels = nullptr;

// Output rows per range are a whole number of the CPU kernels' output blocks (kernels/cpu/tiled.h)
// so no range ends in a partial block.
constexpr int64_t kRowsPerBlock = 16;
// Below about this many multiply-adds a range finishes faster than waking a worker (tens of
// microseconds), so small matmuls stay on the calling thread.
constexpr int64_t kMinMultiplyAddsPerRange = int64_t{1} << 18;
// Ranges per thread: a thread slowed by the host keeps the others waiting for at most one range, an
// eighth of its share, while each range still costs only one scheduling step and one pass over
// the activations.
constexpr int64_t kRangesPerThread = 8;
// Except that a range holds at least this many weights when a thread's share of the work does:
// each range restarts the kernels' streams (kernels::kWeightStreams per thread), and a short one
// is over before the prefetchers have ramped up, so a matrix of a few MiB goes in one range per
// thread, and a group of small matrices (a layer's experts) in one range per matrix. Zen 5, 2
// threads, decode, same run: 1024×3584 int8 70% -> 83-85% of the read bandwidth, BF16 74-76% ->
// 83-84%, int4 55% -> 68-77%; 2048×768 int4 51% -> 58%; 2048×768 int4 as eight experts in one
// group, whole matrices instead of halves, 75 -> 76% (high state), 86 -> 88% (low).
constexpr int64_t kMinWeightsPerRange = int64_t{1} << 21;

kernels::MatmulFn kernel_for(const WeightMatrix& w) {
  const kernels::KernelTable& table = active_kernels();
  const auto activations = static_cast<size_t>(quantized_activations(w.format));
  if (w.format == kernels::WeightFormat::kInt8PerChannel) return table.matmul_int8[activations];
  if (w.format == kernels::WeightFormat::kInt4Group) return table.matmul_int4[activations];
  return table.matmul;
}

float silu_times(float gate, float up) { return gate / (1.0f + std::exp(-gate)) * up; }

}  // namespace

const kernels::KernelTable& active_kernels() {
  if (g_kernels == nullptr) g_kernels = kernels::available_kernel_tables().back();
  return *g_kernels;
}

void select_kernels(std::string_view name) {
  const auto tables = kernels::available_kernel_tables();
  if (name == "auto") {
    g_kernels = tables.back();
    return;
  }
  std::string choices = "auto";
  for (const auto* table : tables) {
    if (table->name == name) {
      g_kernels = table;
      return;
    }
    choices += ", " + std::string(table->name);
  }
  fail("kernels '{}' are not available on this CPU/build (available: {})", name, choices);
}

// int8 activations won for both formats at every bench shape, decode and prefill (maddubs does 32
// multiply-adds per instruction against 8 for an fp32 FMA, and skips the int -> float widening);
// docs/performance.md has the numbers.
kernels::Activations quantized_activations(kernels::WeightFormat format) { return kernels::Activations::kInt8; }

namespace {

// Output rows per range of w when it is one of a group of products with group_weights weights in
// all: kRangesPerThread ranges per thread over the whole group, so a group of small matrices is
// read in ranges as long as one large matrix's (a range of one 0.75 MiB int4 expert matrix split
// into four streams of 32 KiB each left the prefetcher no time to ramp up). The ranges of one
// matrix are of equal length (whole blocks), so none is a short remainder.
int64_t range_rows(const WeightMatrix& w, int64_t n_rows, int64_t group_weights) {
  const int64_t multiply_adds_per_row = std::max<int64_t>(1, n_rows * w.cols);
  const int64_t weights_per_range = group_weights / (thread_count() * kRangesPerThread);
  const int64_t cols = std::max<int64_t>(1, w.cols);
  const int64_t thread_share = std::min(w.rows, (group_weights / cols + thread_count() - 1) / thread_count());
  const int64_t rows = std::max({kRowsPerBlock, kMinMultiplyAddsPerRange / multiply_adds_per_row,
                                 (weights_per_range + cols - 1) / cols, std::min(kMinWeightsPerRange / cols, thread_share)});
  const int64_t ranges = std::max<int64_t>(1, (w.rows + rows - 1) / rows);
  const int64_t even = (w.rows + ranges - 1) / ranges;
  return (even + kRowsPerBlock - 1) / kRowsPerBlock * kRowsPerBlock;
}

}  // namespace

int64_t matmul_range_rows(const WeightMatrix& w, int64_t n_rows) { return range_rows(w, n_rows, w.rows * w.cols); }

void matmul(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, std::span<const float> bias) {
  const MatmulTask task{x, n_rows, &w, y, bias};
  matmul_group(std::span(&task, 1));
}

void rms_norm(const float* x, int64_t n_rows, int64_t dim, std::span<const float> weight, float eps, float* out) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* row = x + r * dim;
    float sum_squares = 0.0f;
    for (int64_t i = 0; i < dim; ++i) sum_squares += row[i] * row[i];
    const float scale = 1.0f / std::sqrt(sum_squares / static_cast<float>(dim) + eps);
    float* dst = out + r * dim;
    for (int64_t i = 0; i < dim; ++i) dst[i] = row[i] * scale * weight[static_cast<size_t>(i)];
  }
}

void layer_norm(const float* x, int64_t n_rows, int64_t dim, std::span<const float> weight, std::span<const float> bias,
                float eps, float* out) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* row = x + r * dim;
    float sum = 0.0f;
    for (int64_t i = 0; i < dim; ++i) sum += row[i];
    const float mean = sum / static_cast<float>(dim);
    float sum_squares = 0.0f;
    for (int64_t i = 0; i < dim; ++i) sum_squares += (row[i] - mean) * (row[i] - mean);
    const float scale = 1.0f / std::sqrt(sum_squares / static_cast<float>(dim) + eps);
    float* dst = out + r * dim;
    for (int64_t i = 0; i < dim; ++i) {
      dst[i] = (row[i] - mean) * scale * weight[static_cast<size_t>(i)] + bias[static_cast<size_t>(i)];
    }
  }
}

void rope(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim, std::span<const int32_t> positions,
          float theta) {
  const int64_t half = head_dim / 2;
  std::vector<float> inverse_frequency(static_cast<size_t>(half));
  // Same formula as the reference: theta^(-2i/d) computed in fp32 from an integer ratio.
  for (int64_t i = 0; i < half; ++i) {
    inverse_frequency[static_cast<size_t>(i)] =
        1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
  }
  std::vector<float> cosines(static_cast<size_t>(half)), sines(static_cast<size_t>(half));
  for (int64_t r = 0; r < n_rows; ++r) {
    const float position = static_cast<float>(positions[static_cast<size_t>(r)]);
    for (int64_t i = 0; i < half; ++i) {
      const float angle = position * inverse_frequency[static_cast<size_t>(i)];
      cosines[static_cast<size_t>(i)] = std::cos(angle);
      sines[static_cast<size_t>(i)] = std::sin(angle);
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      float* head = x + (r * n_heads + h) * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const float a = head[i];
        const float b = head[i + half];
        head[i] = a * cosines[static_cast<size_t>(i)] - b * sines[static_cast<size_t>(i)];
        head[i + half] = b * cosines[static_cast<size_t>(i)] + a * sines[static_cast<size_t>(i)];
      }
    }
  }
}

void silu_gated_matmul(const float* x, int64_t n_rows, const WeightMatrix& gate, const WeightMatrix& up, float* out,
                       float* up_scratch) {
  const GatedMatmulTask task{x, n_rows, &gate, &up, out, up_scratch};
  silu_gated_matmul_group(std::span(&task, 1));
}

namespace {

struct TaskRange {
  size_t task;
  int64_t begin, end;
};

// Runs run(task, begin, end) over every task's output-row ranges (range_rows against the whole
// group's weights) in one parallel pass, in one activation epoch. weights(task) is the matrix whose
// rows are split.
template <typename Task, typename Weights, typename Run>
void run_task_ranges(std::span<const Task> tasks, Weights&& weights, Run&& run) {
  // Reused: decode calls this a few times per layer and step, and the hot path does not allocate.
  thread_local std::vector<TaskRange> ranges;
  ranges.clear();
  int64_t group_weights = 0;
  for (const Task& task : tasks) {
    if (task.n_rows > 0) group_weights += weights(task).rows * weights(task).cols;
  }
  for (size_t t = 0; t < tasks.size(); ++t) {
    if (tasks[t].n_rows == 0) continue;
    const WeightMatrix& w = weights(tasks[t]);
    const int64_t step = range_rows(w, tasks[t].n_rows, group_weights);
    for (int64_t begin = 0; begin < w.rows; begin += step) ranges.push_back({t, begin, std::min(begin + step, w.rows)});
  }
  const uint64_t epoch = kernels::new_activation_epoch();
  // The workers read the calling thread's list: naming the thread_local inside the body would give
  // each worker its own, empty one.
  const std::vector<TaskRange>& all = ranges;
  parallel_for_owned(static_cast<int64_t>(all.size()), [&](int64_t i) {
    const kernels::ActivationEpochScope scope(epoch);
    const TaskRange& range = all[static_cast<size_t>(i)];
    run(tasks[range.task], range.begin, range.end);
  });
}

}  // namespace

void matmul_group(std::span<const MatmulTask> tasks) {
  for (const MatmulTask& task : tasks) kernels::check_weight_matrix(*task.w, "matmul");
  run_task_ranges(tasks, [](const MatmulTask& task) -> const WeightMatrix& { return *task.w; },
                  [](const MatmulTask& task, int64_t begin, int64_t end) {
                    kernel_for(*task.w)(task.x, task.n_rows, *task.w, task.y, task.w->rows, begin, end);
                    if (task.bias.empty()) return;
                    for (int64_t r = 0; r < task.n_rows; ++r) {
                      for (int64_t o = begin; o < end; ++o) task.y[r * task.w->rows + o] += task.bias[static_cast<size_t>(o)];
                    }
                  });
}

void silu_gated_matmul_group(std::span<const GatedMatmulTask> tasks) {
  for (const GatedMatmulTask& task : tasks) {
    kernels::check_weight_matrix(*task.gate, "silu_gated_matmul gate");
    kernels::check_weight_matrix(*task.up, "silu_gated_matmul up");
    if (task.gate->rows != task.up->rows || task.gate->cols != task.up->cols) {
      fail("silu_gated_matmul: gate is [{}, {}] but up is [{}, {}]; they must have the same shape", task.gate->rows,
           task.gate->cols, task.up->rows, task.up->cols);
    }
  }
  run_task_ranges(tasks, [](const GatedMatmulTask& task) -> const WeightMatrix& { return *task.gate; },
                  [](const GatedMatmulTask& task, int64_t begin, int64_t end) {
                    const int64_t width = task.gate->rows;
                    kernel_for(*task.gate)(task.x, task.n_rows, *task.gate, task.out, width, begin, end);
                    kernel_for(*task.up)(task.x, task.n_rows, *task.up, task.up_scratch, width, begin, end);
                    for (int64_t r = 0; r < task.n_rows; ++r) {
                      for (int64_t i = r * width + begin; i < r * width + end; ++i) {
                        task.out[i] = silu_times(task.out[i], task.up_scratch[i]);
                      }
                    }
                  });
}

void attention_scores(const float* q, int64_t n_queries, const void* k, DType kv_dtype, int64_t stride, int64_t n,
                      int64_t dim, float scale, float* scores, int64_t score_stride) {
  active_kernels().attention_scores(q, n_queries, k, kv_dtype, stride, n, dim, scale, scores, score_stride);
}

void attention_values(const float* p, int64_t p_stride, int64_t n_queries, const void* v, DType kv_dtype,
                      int64_t stride, int64_t n, int64_t dim, float* out) {
  active_kernels().attention_values(p, p_stride, n_queries, v, kv_dtype, stride, n, dim, out);
}

void softmax(float* x, int64_t n_rows, int64_t width) {
  for (int64_t r = 0; r < n_rows; ++r) {
    float* row = x + r * width;
    const float max_value = *std::max_element(row, row + width);
    float sum = 0.0f;
    for (int64_t i = 0; i < width; ++i) {
      row[i] = std::exp(row[i] - max_value);
      sum += row[i];
    }
    for (int64_t i = 0; i < width; ++i) row[i] /= sum;
  }
}

}  // namespace elephant::ops
