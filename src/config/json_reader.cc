#include "config/json_reader.h"

#include "core/error.h"

namespace elephant::config {

bool JsonReader::has(const std::string& key) const { return json_.contains(key) && !json_[key].is_null(); }

const nlohmann::json& JsonReader::raw(const std::string& key) const { return json_[key]; }

std::string JsonReader::spelling(std::initializer_list<const char*> keys) const {
  for (const char* key : keys) {
    if (has(key)) return key;
  }
  return *keys.begin();
}

void JsonReader::fail_key(const std::string& key, const std::string& expected) const {
  const std::string found = json_.contains(key) ? json_[key].dump() : std::string("nothing (key missing)");
  fail("{}: key '{}': expected {}, found {}", path_.string(), key, expected, found);
}

int JsonReader::positive_int(const std::string& key) const {
  if (!has(key) || !json_[key].is_number_integer() || json_[key].get<int64_t>() <= 0 ||
      json_[key].get<int64_t>() > (int64_t{1} << 30)) {
    fail_key(key, "a positive integer");
  }
  return json_[key].get<int>();
}

int JsonReader::positive_int_or(const std::string& key, int fallback) const {
  return has(key) ? positive_int(key) : fallback;
}

int JsonReader::int_or(const std::string& key, int fallback) const {
  if (!has(key)) return fallback;
  if (!json_[key].is_number_integer()) fail_key(key, "an integer");
  return json_[key].get<int>();
}

float JsonReader::positive_float_or(const std::string& key, float fallback) const {
  if (!has(key)) return fallback;
  if (!json_[key].is_number() || json_[key].get<double>() <= 0.0) fail_key(key, "a positive number");
  return json_[key].get<float>();
}

bool JsonReader::bool_or(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  if (!json_[key].is_boolean()) fail_key(key, "true or false");
  return json_[key].get<bool>();
}

std::string JsonReader::string_or(const std::string& key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  if (!json_[key].is_string()) fail_key(key, "a string");
  return json_[key].get<std::string>();
}

std::vector<int> JsonReader::int_list_or(const std::string& key, const std::vector<int>& fallback) const {
  if (!has(key)) return fallback;
  if (!json_[key].is_array()) fail_key(key, "a list of integers");
  std::vector<int> values;
  for (const auto& item : json_[key]) {
    if (!item.is_number_integer()) fail_key(key, "a list of integers");
    values.push_back(item.get<int>());
  }
  return values;
}

std::vector<int> JsonReader::int_or_list(const std::string& key) const {
  if (!has(key)) return {};
  if (json_[key].is_number_integer()) return {json_[key].get<int>()};
  return int_list_or(key, {});
}

}  // namespace elephant::config
