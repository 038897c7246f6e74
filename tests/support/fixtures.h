// Access to the committed reference fixtures (tests/fixtures, made by tools/make_fixtures.py) and
// to the shipped models.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "format/checkpoint.h"

namespace elephant::testing {

inline std::filesystem::path fixture_dir(const std::string& name) {
  return std::filesystem::path(ELEPHANT_FIXTURES_DIR) / name;
}

// The trained models shipped in models/ (made by tools/train/).
inline std::filesystem::path shipped_model_dir(const std::string& name) {
  return std::filesystem::path(ELEPHANT_MODELS_DIR) / name;
}

inline nlohmann::json fixture_json(const std::string& name, const std::string& file) {
  return format::read_json_file(fixture_dir(name) / file);
}

inline std::vector<int32_t> ids(const nlohmann::json& value) { return value.get<std::vector<int32_t>>(); }

inline const std::vector<std::string>& decoder_families() {
  static const std::vector<std::string> families = {"mixtral", "qwen2_moe", "qwen3_moe", "olmoe"};
  return families;
}

}  // namespace elephant::testing
