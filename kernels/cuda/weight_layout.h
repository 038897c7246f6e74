// Repacking of the engine's weight matrices (kernels.h WeightMatrix, docs/quantization.md) into the
// layout the CUDA kernels read (matrix_view.h), once at load. The repack is a host function so it
// is tested without a GPU; uploading is a plain copy of its result.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "kernels/cuda/device.h"
#include "kernels/cuda/matrix_view.h"
#include "kernels/kernels.h"

namespace elephant::cuda {

std::string_view device_format_name(DeviceFormat format);

struct HostPackedMatrix {
  DeviceFormat format = DeviceFormat::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t group = 0;
  int64_t row_pitch = 0;
  std::vector<uint8_t> data;  // rows × row_pitch bytes
  std::vector<float> scales;
};

// Throws Error naming `what` for formats the CUDA kernels do not read (e.g. an int4 matrix whose
// columns are not a multiple of 8).
HostPackedMatrix pack_for_device(const kernels::WeightMatrix& w, std::string_view what);

// The dequantized value at (row, col) read back from the packed bytes through int_convert.h, the
// same conversion the kernels use.
float packed_value(const HostPackedMatrix& packed, int64_t row, int64_t col);

class DeviceMatrix {
 public:
  DeviceMatrix() = default;
  static DeviceMatrix upload(const HostPackedMatrix& packed);

  DeviceFormat format() const { return format_; }
  const MatrixView& view() const { return view_; }
  size_t bytes() const { return data_.size() + scales_.size() * sizeof(float); }

 private:
  DeviceFormat format_ = DeviceFormat::kF32;
  DeviceBuffer<uint8_t> data_;
  DeviceBuffer<float> scales_;
  MatrixView view_;
};

}  // namespace elephant::cuda
