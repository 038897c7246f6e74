#include "config/json_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "core/json_excerpt.h"

namespace elephant::config {
namespace {

// An integer that fits an int: nlohmann's get<int>() would silently wrap a larger one (an
// eos_token_id of 2^32 + 2 would become 2).
bool is_int(const nlohmann::json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>() <= uint64_t{std::numeric_limits<int>::max()};
  if (!value.is_number_integer()) return false;
  const int64_t number = value.get<int64_t>();
  return number >= std::numeric_limits<int>::min() && number <= std::numeric_limits<int>::max();
}

constexpr int64_t kMaxPositiveInt = int64_t{1} << 30;

}  // namespace

bool JsonReader::has(const std::string& key) const { return json_.contains(key) && !json_[key].is_null(); }

const nlohmann::json& JsonReader::raw(const std::string& key) const { return json_[key]; }

std::string JsonReader::spelling(std::initializer_list<const char*> keys) const {
  for (const char* key : keys) {
    if (has(key)) return key;
  }
  return *keys.begin();
}

void JsonReader::fail_key(const std::string& key, const std::string& expected) const {
  const std::string found = json_.contains(key) ? json_excerpt(json_[key]) : std::string("nothing (key missing)");
  fail("{}: key '{}': expected {}, found {}", path_.string(), key, expected, found);
}

int JsonReader::positive_int(const std::string& key) const {
  if (!has(key) || !json_[key].is_number_integer() || json_[key].get<int64_t>() <= 0) {
    fail_key(key, "a positive integer");
  }
  // Unsigned values beyond int64_t read as negative above, so only this bound is left.
  if (json_[key].get<int64_t>() > kMaxPositiveInt) {
    fail_key(key, fmt::format("a positive integer no larger than {}", kMaxPositiveInt));
  }
  return json_[key].get<int>();
}

int JsonReader::layer_count(const std::string& key) const {
  const int count = positive_int(key);
  if (count > kMaxLayers) fail_key(key, fmt::format("a number of layers no larger than {}", kMaxLayers));
  return count;
}

int JsonReader::positive_int_or(const std::string& key, int fallback) const {
  return has(key) ? positive_int(key) : fallback;
}

int JsonReader::int_or(const std::string& key, int fallback) const {
  if (!has(key)) return fallback;
  if (!is_int(json_[key])) fail_key(key, "an integer");
  return json_[key].get<int>();
}

float JsonReader::positive_float_or(const std::string& key, float fallback) const {
  if (!has(key)) return fallback;
  if (!json_[key].is_number() || json_[key].get<double>() <= 0.0) fail_key(key, "a positive number");
  return json_[key].get<float>();
}

float JsonReader::float_in_or(const std::string& key, float low, float high, float fallback) const {
  if (!has(key)) return fallback;
  if (!json_[key].is_number() || json_[key].get<double>() < low || json_[key].get<double>() > high) {
    fail_key(key, fmt::format("a number in [{}, {}]", low, high));
  }
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
    if (!is_int(item)) fail_key(key, "a list of integers");
    values.push_back(item.get<int>());
  }
  return values;
}

std::vector<int> JsonReader::int_or_list(const std::string& key) const {
  if (!has(key)) return {};
  const auto& value = json_[key];
  if (is_int(value)) return {value.get<int>()};
  if (!value.is_array() || !std::all_of(value.begin(), value.end(), is_int)) {
    fail_key(key, "an integer or a list of integers");
  }
  return value.get<std::vector<int>>();
}

}  // namespace elephant::config
