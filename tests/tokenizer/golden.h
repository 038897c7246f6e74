// Loading of the golden fixtures written by tools/make_tokenizer_fixtures.py: one directory per
// tokenizer under tests/fixtures/tokenizer, each with golden.json holding reference ids and texts.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace elephant::tokenizer::testing {

inline std::filesystem::path fixture_root() { return std::filesystem::path(ELEPHANT_FIXTURES_DIR) / "tokenizer"; }

struct GoldenCase {
  std::string text;  // raw bytes, possibly invalid UTF-8
  std::vector<int32_t> ids;
  std::vector<int32_t> ids_without_special;
  std::vector<int32_t> ids_special_as_text;
  std::optional<std::string> decoded;
  std::optional<std::string> decoded_skip_special;
};

inline std::string from_hex(const std::string& hex) {
  std::string bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return bytes;
}

inline std::vector<GoldenCase> load_golden(const std::filesystem::path& directory) {
  std::ifstream in(directory / "golden.json");
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto document = nlohmann::json::parse(buffer.str());
  std::vector<GoldenCase> cases;
  for (const auto& entry : document.at("cases")) {
    GoldenCase c;
    c.text = from_hex(entry.at("text_hex").get<std::string>());
    c.ids = entry.at("ids").get<std::vector<int32_t>>();
    c.ids_without_special = entry.at("ids_without_special").get<std::vector<int32_t>>();
    c.ids_special_as_text = entry.at("ids_special_as_text").get<std::vector<int32_t>>();
    if (!entry.at("decoded").is_null()) c.decoded = entry.at("decoded").get<std::string>();
    if (!entry.at("decoded_skip_special").is_null()) c.decoded_skip_special = entry.at("decoded_skip_special").get<std::string>();
    cases.push_back(std::move(c));
  }
  return cases;
}

// Every fixture directory that has a golden.json, by name.
inline std::vector<std::string> golden_directories() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(fixture_root())) {
    if (std::filesystem::exists(entry.path() / "golden.json")) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace elephant::tokenizer::testing
