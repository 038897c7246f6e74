// The on-disk description of an Elephant-quantized checkpoint (docs/quantization.md is the spec):
// config.json's "quantization_config" and, for every quantized Linear weight "<base>.weight",
// the tensors "<base>.qweight" and "<base>.scales" in place of it:
//
//   bits 8: qweight I8 [rows, cols]; scales F32 [rows]            (per output channel)
//   bits 4: qweight U8 [rows, cols/2], column 2j in the low nibble of byte j, 2j+1 in the high
//           nibble, each stored as q + 8 (q in [-7, 7]); scales F16 or BF16 [rows, cols/group]
//
// Lookups go through Checkpoint::find, so quantized tensors count as used like any other.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "format/checkpoint.h"

namespace elephant::format {

inline constexpr const char* kQuantMethod = "elephant";
inline constexpr int kQuantFormatVersion = 1;

struct QuantizationConfig {
  int bits = 8;             // 8 or 4
  int64_t group_size = 0;   // bits 4: columns per scale; 0 for bits 8 (one scale per row)
  std::string scope = "experts";  // "experts" or "all": informational, the tensors present decide
};

// config.json's "quantization_config": nullopt when absent; Error naming config_path when it is
// present but not {"quant_method": "elephant", "format_version": 1, ...} with valid fields.
std::optional<QuantizationConfig> read_quantization_config(const nlohmann::json& config,
                                                           const std::filesystem::path& config_path);
nlohmann::json quantization_config_json(const QuantizationConfig& config);

// "a.b.weight" -> "a.b.qweight" / "a.b.scales".
std::string qweight_name(const std::string& weight_name);
std::string scales_name(const std::string& weight_name);

struct QuantizedTensors {
  const TensorView* qweight;
  const TensorView* scales;
};

// The quantized tensors of the Linear weight `weight_name` [rows, cols], checked against the
// config: dtypes and shapes; Error naming the file, tensor, expected and found otherwise.
QuantizedTensors require_quantized(const Checkpoint& checkpoint, const std::string& weight_name, int64_t rows,
                                   int64_t cols, const QuantizationConfig& config);

}  // namespace elephant::format
