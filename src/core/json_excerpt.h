// A short, bounded rendering of a JSON value for error messages. A file can hold a value of any
// size or nesting depth; quoting it whole would make a huge message (and nlohmann's dump()
// recurses once per nesting level), so only the first levels and characters are shown. Small
// values render exactly as dump() does.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace elephant {

namespace json_excerpt_detail {

inline constexpr size_t kMaxChars = 120;
inline constexpr int kMaxDepth = 4;

template <typename Json>
void append(const Json& value, std::string& out, int depth) {
  if (out.size() > kMaxChars) return;
  if (!value.is_structured()) {
    out += value.dump();
    return;
  }
  const bool array = value.is_array();
  if (depth >= kMaxDepth) {
    out += array ? "[...]" : "{...}";
    return;
  }
  out += array ? '[' : '{';
  bool first = true;
  for (auto it = value.begin(); it != value.end() && out.size() <= kMaxChars; ++it) {
    if (!first) out += ',';
    first = false;
    if (!array) out += Json(it.key()).dump() + ':';
    append(*it, out, depth + 1);
  }
  out += array ? ']' : '}';
}

}  // namespace json_excerpt_detail

template <typename Json>
std::string json_excerpt(const Json& value) {
  std::string out;
  json_excerpt_detail::append(value, out, 0);
  if (out.size() > json_excerpt_detail::kMaxChars) {
    out.resize(json_excerpt_detail::kMaxChars);
    out += "...";
  }
  return out;
}

}  // namespace elephant
