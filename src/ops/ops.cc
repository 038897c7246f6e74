#include "ops/ops.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"

namespace elephant::ops {
namespace {

const kernels::KernelTable* g_kernels = nullptr;

// Splitting output features below this many per thread costs more in synchronisation than it saves.
constexpr int64_t kMinRowsPerThread = 16;
// Below about this many multiply-adds a thread's share finishes faster than waking a worker
// (tens of microseconds), so small matmuls stay on the calling thread.
constexpr int64_t kMinMultiplyAddsPerThread = int64_t{1} << 18;

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

void matmul(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, std::span<const float> bias) {
  kernels::check_weight_matrix(w, "matmul");
  if (n_rows == 0) return;
  const kernels::KernelTable& table = active_kernels();
  const auto activations = static_cast<size_t>(quantized_activations(w.format));
  kernels::MatmulFn kernel = table.matmul;
  if (w.format == kernels::WeightFormat::kInt8PerChannel) kernel = table.matmul_int8[activations];
  if (w.format == kernels::WeightFormat::kInt4Group) kernel = table.matmul_int4[activations];
  const int64_t multiply_adds_per_row = std::max<int64_t>(1, n_rows * w.cols);
  const int64_t min_rows = std::max(kMinRowsPerThread, kMinMultiplyAddsPerThread / multiply_adds_per_row);
  parallel_for(w.rows, min_rows, [&](int64_t begin, int64_t end) {
    kernel(x, n_rows, w, y, w.rows, begin, end);
    if (!bias.empty()) {
      for (int64_t r = 0; r < n_rows; ++r) {
        for (int64_t o = begin; o < end; ++o) y[r * w.rows + o] += bias[static_cast<size_t>(o)];
      }
    }
  });
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

void silu_mul(float* gate, const float* up, int64_t n_rows, int64_t width) {
  const int64_t n = n_rows * width;
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
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
