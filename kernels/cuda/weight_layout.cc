#include "kernels/cuda/weight_layout.h"

#include <cstring>

#include "core/error.h"
#include "kernels/cuda/int_convert.h"
#include "kernels/quantize.h"

namespace elephant::cuda {

namespace {

int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

DeviceFormat device_format_of(const kernels::WeightMatrix& w, std::string_view what) {
  switch (w.format) {
    case kernels::WeightFormat::kDense:
      switch (w.dtype) {
        case DType::kF32: return DeviceFormat::kF32;
        case DType::kF16: return DeviceFormat::kF16;
        case DType::kBF16: return DeviceFormat::kBF16;
        default: break;
      }
      break;
    case kernels::WeightFormat::kInt8PerChannel: return DeviceFormat::kInt8;
    case kernels::WeightFormat::kInt4Group: return DeviceFormat::kInt4;
  }
  fail("{}: the CUDA kernels do not read dense {} weights (expected F32, F16 or BF16)", what, dtype_name(w.dtype));
}

// Device-layout word w of a CPU-layout int4 row (byte j = column 2j low nibble, 2j+1 high).
uint32_t int4_device_word(const uint8_t* cpu_row, int64_t word) {
  uint32_t packed = 0;
  for (int c = 0; c < kInt4ColumnsPerWord; ++c) {
    const auto nibble = static_cast<uint32_t>(kernels::int4_at(cpu_row, word * kInt4ColumnsPerWord + c) + kernels::kInt4Offset);
    packed |= nibble << (8 * (c % 4) + (c < 4 ? 0 : 4));
  }
  return packed;
}

}  // namespace

std::string_view device_format_name(DeviceFormat format) {
  switch (format) {
    case DeviceFormat::kF32: return "f32";
    case DeviceFormat::kF16: return "f16";
    case DeviceFormat::kBF16: return "bf16";
    case DeviceFormat::kInt8: return "int8";
    case DeviceFormat::kInt4: return "int4";
    case DeviceFormat::kCount: break;
  }
  return "?";
}

HostPackedMatrix pack_for_device(const kernels::WeightMatrix& w, std::string_view what) {
  kernels::check_weight_matrix(w, what);
  HostPackedMatrix packed;
  packed.format = device_format_of(w, what);
  packed.rows = w.rows;
  packed.cols = w.cols;
  packed.group = w.group_size;
  if (packed.format == DeviceFormat::kInt4 && w.cols % kInt4ColumnsPerWord != 0) {
    fail("{}: int4 matrix has {} columns; the CUDA kernels need a multiple of {}", what, w.cols, kInt4ColumnsPerWord);
  }
  const int64_t row_bytes = packed.format == DeviceFormat::kInt4 ? w.cols / 2 : w.cols * static_cast<int64_t>(dtype_size_bytes(w.dtype));
  packed.row_pitch = round_up(row_bytes, kRowAlignment);
  packed.data.assign(static_cast<size_t>(packed.rows * packed.row_pitch), 0);
  const auto* source = static_cast<const uint8_t*>(w.data);
  for (int64_t r = 0; r < w.rows; ++r) {
    uint8_t* dst = packed.data.data() + r * packed.row_pitch;
    const uint8_t* src = source + r * row_bytes;
    if (packed.format == DeviceFormat::kInt4) {
      for (int64_t word = 0; word < w.cols / kInt4ColumnsPerWord; ++word) {
        const uint32_t value = int4_device_word(src, word);
        std::memcpy(dst + word * 4, &value, 4);
      }
    } else {
      std::memcpy(dst, src, static_cast<size_t>(row_bytes));
    }
  }
  if (packed.format == DeviceFormat::kInt8 || packed.format == DeviceFormat::kInt4) {
    const int64_t n_scales = packed.format == DeviceFormat::kInt8 ? w.rows : w.rows * (w.cols / w.group_size);
    packed.scales.resize(static_cast<size_t>(n_scales));
    for (int64_t i = 0; i < n_scales; ++i) packed.scales[static_cast<size_t>(i)] = kernels::scale_at(w.scales, w.scale_dtype, i);
  }
  return packed;
}

float packed_value(const HostPackedMatrix& packed, int64_t row, int64_t col) {
  const uint8_t* bytes = packed.data.data() + row * packed.row_pitch;
  switch (packed.format) {
    case DeviceFormat::kF32: {
      float value;
      std::memcpy(&value, bytes + col * 4, 4);
      return value;
    }
    case DeviceFormat::kF16:
    case DeviceFormat::kBF16: {
      uint16_t bits;
      std::memcpy(&bits, bytes + col * 2, 2);
      return packed.format == DeviceFormat::kBF16 ? bf16_to_f32(bits) : f16_to_f32(bits);
    }
    case DeviceFormat::kInt8: {
      uint32_t word;
      std::memcpy(&word, bytes + col / kInt8ColumnsPerWord * 4, 4);
      float values[kInt8ColumnsPerWord];
      int8_word_to_float(word, values);
      return values[col % kInt8ColumnsPerWord] * packed.scales[static_cast<size_t>(row)];
    }
    case DeviceFormat::kInt4: {
      uint32_t word;
      std::memcpy(&word, bytes + col / kInt4ColumnsPerWord * 4, 4);
      float values[kInt4ColumnsPerWord];
      int4_word_to_float(word, values);
      const int64_t groups = packed.cols / packed.group;
      return values[col % kInt4ColumnsPerWord] * packed.scales[static_cast<size_t>(row * groups + col / packed.group)];
    }
    case DeviceFormat::kCount: break;
  }
  return 0.0f;
}

DeviceMatrix DeviceMatrix::upload(const HostPackedMatrix& packed) {
  DeviceMatrix matrix;
  matrix.format_ = packed.format;
  matrix.data_ = to_device(packed.data);
  matrix.scales_ = to_device(packed.scales);
  matrix.view_.data = matrix.data_.data();
  matrix.view_.scales = matrix.scales_.size() > 0 ? matrix.scales_.data() : nullptr;
  matrix.view_.row_pitch = packed.row_pitch;
  matrix.view_.rows = static_cast<int32_t>(packed.rows);
  matrix.view_.cols = static_cast<int32_t>(packed.cols);
  matrix.view_.group = static_cast<int32_t>(packed.group);
  return matrix;
}

}  // namespace elephant::cuda
