#include "format/quantization.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "core/json_excerpt.h"

namespace elephant::format {
namespace {

std::string base_name(const std::string& weight_name) {
  const std::string suffix = ".weight";
  if (weight_name.size() > suffix.size() && weight_name.ends_with(suffix)) {
    return weight_name.substr(0, weight_name.size() - suffix.size());
  }
  return weight_name;
}

const TensorView& require_view(const Checkpoint& checkpoint, const std::string& name,
                               const std::vector<int64_t>& shape, std::initializer_list<DType> dtypes,
                               const char* dtype_text) {
  const TensorView* view = checkpoint.find(name);
  if (view == nullptr) {
    fail("{}: quantized tensor '{}' is missing (expected [{}] {}; config.json's quantization_config implies it)",
         checkpoint.directory().string(), name, fmt::join(shape, ", "), dtype_text);
  }
  bool dtype_ok = false;
  for (DType dtype : dtypes) dtype_ok = dtype_ok || view->dtype == dtype;
  if (view->shape != shape || !dtype_ok) {
    fail("{}: quantized tensor '{}': expected [{}] {}, found {}", view->file->string(), name, fmt::join(shape, ", "),
         dtype_text, view->shape_string());
  }
  return *view;
}

}  // namespace

std::optional<QuantizationConfig> read_quantization_config(const nlohmann::json& config,
                                                           const std::filesystem::path& config_path) {
  if (!config.contains("quantization_config")) return std::nullopt;
  const nlohmann::json& q = config["quantization_config"];
  const auto where = [&] { return fmt::format("{}: quantization_config", config_path.string()); };
  if (!q.is_object()) fail("{} must be an object", where());
  if (q.value("quant_method", std::string()) != kQuantMethod) {
    fail("{}: quant_method {} is not supported (only \"{}\" checkpoints written by `elephant quantize`)", where(),
         q.contains("quant_method") ? json_excerpt(q["quant_method"]) : "(missing)", kQuantMethod);
  }
  if (!q.contains("format_version") || q["format_version"] != kQuantFormatVersion) {
    fail("{}: format_version {} is not supported (expected {})", where(),
         q.contains("format_version") ? json_excerpt(q["format_version"]) : "(missing)", kQuantFormatVersion);
  }
  QuantizationConfig result;
  if (!q.contains("bits") || !q["bits"].is_number_integer() || (q["bits"] != 8 && q["bits"] != 4)) {
    fail("{}: bits must be 8 or 4, found {}", where(), q.contains("bits") ? json_excerpt(q["bits"]) : "(missing)");
  }
  result.bits = q["bits"].get<int>();
  if (result.bits == 4) {
    const auto& group = q.contains("group_size") ? q["group_size"] : nlohmann::json();
    if (!group.is_number_integer() || group.get<int64_t>() < 16 || group.get<int64_t>() > 1024 ||
        (group.get<int64_t>() & (group.get<int64_t>() - 1)) != 0) {
      fail("{}: group_size must be a power of two in [16, 1024] for bits 4, found {}", where(), json_excerpt(group));
    }
    result.group_size = group.get<int64_t>();
  }
  result.scope = q.value("scope", std::string("experts"));
  return result;
}

nlohmann::json quantization_config_json(const QuantizationConfig& config) {
  nlohmann::json q = {{"quant_method", kQuantMethod}, {"format_version", kQuantFormatVersion}, {"bits", config.bits}};
  if (config.bits == 4) q["group_size"] = config.group_size;
  q["scope"] = config.scope;
  return q;
}

std::string qweight_name(const std::string& weight_name) { return base_name(weight_name) + ".qweight"; }
std::string scales_name(const std::string& weight_name) { return base_name(weight_name) + ".scales"; }

QuantizedTensors require_quantized(const Checkpoint& checkpoint, const std::string& weight_name, int64_t rows,
                                   int64_t cols, const QuantizationConfig& config) {
  if (config.bits == 8) {
    return {&require_view(checkpoint, qweight_name(weight_name), {rows, cols}, {DType::kI8}, "I8"),
            &require_view(checkpoint, scales_name(weight_name), {rows}, {DType::kF32}, "F32")};
  }
  if (cols % config.group_size != 0) {
    fail("{}: '{}' has {} columns, not a multiple of quantization_config.group_size {}",
         checkpoint.directory().string(), weight_name, cols, config.group_size);
  }
  return {&require_view(checkpoint, qweight_name(weight_name), {rows, cols / 2}, {DType::kU8}, "U8"),
          &require_view(checkpoint, scales_name(weight_name), {rows, cols / config.group_size},
                        {DType::kF16, DType::kBF16}, "F16 or BF16")};
}

}  // namespace elephant::format
