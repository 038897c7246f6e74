#include "models/tensor_reader.h"

namespace elephant::models {

using format::TensorView;

TensorReader::TensorReader(const format::Checkpoint& checkpoint, ParameterCounts& counts)
    : checkpoint_(checkpoint),
      counts_(counts),
      quantization_(format::read_quantization_config(checkpoint.config(), checkpoint.config_path())) {}

const TensorView& TensorReader::tensor(const std::string& name, const std::vector<int64_t>& shape) {
  const TensorView& view = checkpoint_.require(name, shape);
  counts_.total += view.numel();
  counts_.weight_bytes += static_cast<int64_t>(view.bytes.size());
  return view;
}

ops::WeightMatrix TensorReader::dense_matrix(const std::string& name, int64_t rows, int64_t cols) {
  const TensorView& view = tensor(name, {rows, cols});
  return {view.dtype, rows, cols, view.bytes.data()};
}

ops::WeightMatrix TensorReader::matrix(const std::string& name, int64_t rows, int64_t cols) {
  if (!quantization_ || checkpoint_.contains(name)) return dense_matrix(name, rows, cols);
  const auto [qweight, scales] = format::require_quantized(checkpoint_, name, rows, cols, *quantization_);
  counts_.total += rows * cols;
  counts_.weight_bytes += static_cast<int64_t>(qweight->bytes.size() + scales->bytes.size());
  ops::WeightMatrix w{qweight->dtype, rows, cols, qweight->bytes.data()};
  w.format = quantization_->bits == 8 ? kernels::WeightFormat::kInt8PerChannel : kernels::WeightFormat::kInt4Group;
  w.scales = scales->bytes.data();
  w.scale_dtype = scales->dtype;
  w.group_size = quantization_->group_size;
  return w;
}

std::vector<float> TensorReader::vector(const std::string& name, int64_t size) {
  const TensorView& view = tensor(name, {size});
  std::vector<float> values(static_cast<size_t>(size));
  widen_to_f32(view.bytes.data(), view.dtype, size, values.data());
  return values;
}

std::vector<layers::SwigluWeights> TensorReader::fused_experts(const std::string& gate_up_name, const std::string& down_name,
                                                               int64_t n_experts, int64_t hidden, int64_t width) {
  const TensorView& gate_up = tensor(gate_up_name, {n_experts, 2 * width, hidden});
  const TensorView& down = tensor(down_name, {n_experts, hidden, width});
  const size_t element = dtype_size_bytes(gate_up.dtype);
  std::vector<layers::SwigluWeights> experts;
  for (int64_t e = 0; e < n_experts; ++e) {
    const std::byte* gate = gate_up.bytes.data() + static_cast<size_t>(e * 2 * width * hidden) * element;
    const std::byte* up = gate + static_cast<size_t>(width * hidden) * element;
    const std::byte* down_e = down.bytes.data() + static_cast<size_t>(e * hidden * width) * dtype_size_bytes(down.dtype);
    experts.push_back({{gate_up.dtype, width, hidden, gate}, {gate_up.dtype, width, hidden, up}, {down.dtype, hidden, width, down_e}});
  }
  return experts;
}

layers::SwigluWeights TensorReader::swiglu(const std::string& gate, const std::string& up, const std::string& down,
                                           int64_t hidden, int64_t width) {
  return {matrix(gate, width, hidden), matrix(up, width, hidden), matrix(down, hidden, width)};
}

}  // namespace elephant::models
