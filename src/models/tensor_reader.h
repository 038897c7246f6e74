// Reads a model's tensors out of its checkpoint while counting what it reads (parameters and
// bytes, for `inspect` and the bench): dense views, quantized views (docs/quantization.md) and
// small vectors widened to fp32. Shared by the decoder-only and the encoder-decoder models.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "format/checkpoint.h"
#include "format/quantization.h"
#include "layers/swiglu.h"
#include "models/parameter_counts.h"
#include "ops/ops.h"

namespace elephant::models {

class TensorReader {
 public:
  TensorReader(const format::Checkpoint& checkpoint, ParameterCounts& counts);

  const format::TensorView& tensor(const std::string& name, const std::vector<int64_t>& shape);
  // Full precision only: the embedding (rows are widened directly) and router gates.
  ops::WeightMatrix dense_matrix(const std::string& name, int64_t rows, int64_t cols);
  // Dense when the checkpoint has `name`; otherwise, in a quantized checkpoint, a zero-copy
  // quantized view of "<base>.qweight" and "<base>.scales".
  ops::WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols);
  std::vector<float> vector(const std::string& name, int64_t size);
  // Views into fused expert tensors gate_up [E, 2I, H] (gate rows first) and down [E, H, I].
  std::vector<layers::SwigluWeights> fused_experts(const std::string& gate_up_name, const std::string& down_name,
                                                   int64_t n_experts, int64_t hidden, int64_t width);
  layers::SwigluWeights swiglu(const std::string& gate, const std::string& up, const std::string& down, int64_t hidden,
                               int64_t width);

 private:
  const format::Checkpoint& checkpoint_;
  ParameterCounts& counts_;
  std::optional<format::QuantizationConfig> quantization_;
};

}  // namespace elephant::models
