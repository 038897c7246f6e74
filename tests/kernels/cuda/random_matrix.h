// Random weight matrices in every format the CUDA kernels read, built with the engine's own
// quantizers, and their dequantized values by the CPU spec (kernels/quantize.h): the independent
// side of the CUDA layout and kernel tests.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "kernels/cuda/matrix_view.h"
#include "kernels/kernels.h"
#include "kernels/quantize.h"

namespace elephant::cuda::testing {

struct RandomMatrix {
  std::vector<float> f32;
  std::vector<uint16_t> half;
  std::vector<int8_t> q8;
  std::vector<uint8_t> q4;
  std::vector<float> scales_f32;
  std::vector<uint16_t> scales_half;
  kernels::WeightMatrix matrix;

  float dequantized(int64_t row, int64_t col) const {
    const int64_t i = row * matrix.cols + col;
    switch (matrix.format) {
      case kernels::WeightFormat::kDense:
        if (matrix.dtype == DType::kF32) return f32[static_cast<size_t>(i)];
        return matrix.dtype == DType::kBF16 ? bf16_to_f32(half[static_cast<size_t>(i)]) : f16_to_f32(half[static_cast<size_t>(i)]);
      case kernels::WeightFormat::kInt8PerChannel:
        return static_cast<float>(q8[static_cast<size_t>(i)]) * kernels::scale_at(matrix.scales, matrix.scale_dtype, row);
      case kernels::WeightFormat::kInt4Group:
        return static_cast<float>(kernels::int4_at(q4.data() + row * matrix.cols / 2, col)) *
               kernels::scale_at(matrix.scales, matrix.scale_dtype, row * (matrix.cols / matrix.group_size) + col / matrix.group_size);
    }
    return 0.0f;
  }
};

// std (weights ~ N(0, std²)) keeps products in a realistic range.
inline RandomMatrix random_matrix(DeviceFormat format, int64_t rows, int64_t cols, int64_t group, uint64_t seed,
                                  float std = 0.05f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, std);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& v : w) v = normal(rng);
  RandomMatrix m;
  m.matrix.rows = rows;
  m.matrix.cols = cols;
  switch (format) {
    case DeviceFormat::kF32:
      m.f32 = w;
      m.matrix.dtype = DType::kF32;
      m.matrix.data = m.f32.data();
      break;
    case DeviceFormat::kF16:
    case DeviceFormat::kBF16:
      m.half.resize(w.size());
      for (size_t i = 0; i < w.size(); ++i) m.half[i] = format == DeviceFormat::kBF16 ? f32_to_bf16(w[i]) : f32_to_f16(w[i]);
      m.matrix.dtype = format == DeviceFormat::kBF16 ? DType::kBF16 : DType::kF16;
      m.matrix.data = m.half.data();
      break;
    case DeviceFormat::kInt8:
      m.q8.resize(w.size());
      m.scales_f32.resize(static_cast<size_t>(rows));
      kernels::quantize_int8_per_channel(w.data(), rows, cols, m.q8.data(), m.scales_f32.data(), "test");
      m.matrix.format = kernels::WeightFormat::kInt8PerChannel;
      m.matrix.dtype = DType::kI8;
      m.matrix.data = m.q8.data();
      m.matrix.scales = m.scales_f32.data();
      m.matrix.scale_dtype = DType::kF32;
      break;
    case DeviceFormat::kInt4:
      m.q4.resize(w.size() / 2);
      m.scales_half.resize(static_cast<size_t>(rows * cols / group));
      kernels::quantize_int4_groups(w.data(), rows, cols, group, DType::kF16, m.q4.data(), m.scales_half.data(), "test");
      m.matrix.format = kernels::WeightFormat::kInt4Group;
      m.matrix.dtype = DType::kU8;
      m.matrix.data = m.q4.data();
      m.matrix.scales = m.scales_half.data();
      m.matrix.scale_dtype = DType::kF16;
      m.matrix.group_size = group;
      break;
    case DeviceFormat::kCount:
      break;
  }
  return m;
}

}  // namespace elephant::cuda::testing
