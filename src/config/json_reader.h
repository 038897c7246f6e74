// Typed access to config.json keys with errors that name the file, the key, the expected type or
// range, and what was found.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace elephant::config {

// Far above any released checkpoint (the deepest Hugging Face MoE models have under 100 layers).
inline constexpr int kMaxLayers = 4096;

class JsonReader {
 public:
  JsonReader(const nlohmann::json& json, const std::filesystem::path& path) : json_(json), path_(path) {}

  bool has(const std::string& key) const;  // present and not null
  int positive_int(const std::string& key) const;
  // A number of layers: a positive integer no larger than kMaxLayers. Checked before the per-layer
  // tables are sized from it, so a mistyped count is an error instead of gigabytes of allocation.
  int layer_count(const std::string& key) const;
  int positive_int_or(const std::string& key, int fallback) const;
  int int_or(const std::string& key, int fallback) const;
  float positive_float_or(const std::string& key, float fallback) const;
  float float_in_or(const std::string& key, float low, float high, float fallback) const;  // low <= x <= high
  bool bool_or(const std::string& key, bool fallback) const;
  std::string string_or(const std::string& key, const std::string& fallback) const;
  std::vector<int> int_list_or(const std::string& key, const std::vector<int>& fallback) const;
  // A key that may be a single int or a list of ints (eos_token_id).
  std::vector<int> int_or_list(const std::string& key) const;
  const nlohmann::json& raw(const std::string& key) const;
  // The first of several spellings of one key that the file has (e.g. transformers v5 writes
  // 'num_local_experts' where Hub checkpoints have 'num_experts'); the first spelling if none.
  std::string spelling(std::initializer_list<const char*> keys) const;

  [[noreturn]] void fail_key(const std::string& key, const std::string& expected) const;
  const std::filesystem::path& path() const { return path_; }

 private:
  const nlohmann::json& json_;
  std::filesystem::path path_;
};

}  // namespace elephant::config
