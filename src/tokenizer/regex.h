// PCRE2 wrapper for the regexes that tokenizer.json files carry (Split, Replace, ByteLevel).
//
// Hugging Face compiles these with Oniguruma; PCRE2 in UTF + UCP mode accepts the same syntax for
// everything tokenizer files use (\p{L}, (?i:...), lookahead). find_all reproduces the way the
// Oniguruma iterator walks a string, including when it reports an empty match, because split
// boundaries (and so token ids) depend on it. Compiled with JIT when available.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace elephant::tokenizer {

class JsonField;

class Regex {
 public:
  // `context` names the file and field for the error thrown on an invalid pattern.
  Regex(std::string_view pattern, std::string_view context);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Matches as [begin, end) byte ranges, left to right, non-overlapping. `text` must be valid UTF-8.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;

  // A pattern that matches `literal` verbatim.
  static std::string escape(std::string_view literal);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The Regex source of a tokenizer.json "pattern" member: {"String": literal} or {"Regex": source}.
std::string pattern_from_json(const JsonField& node);

}  // namespace elephant::tokenizer
