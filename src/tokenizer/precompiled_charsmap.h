// SentencePiece's precompiled character map (the "Precompiled" normalizer of T5/Switch, XLM-R,
// ALBERT tokenizer.json files).
//
// The blob is a little-endian u32 byte length, a darts-clone double-array trie of that many bytes
// whose values are offsets into a table of NUL-terminated replacement strings, then the table.
// normalize() reproduces Hugging Face's reading of it: each grapheme cluster shorter than six
// bytes is first looked up whole (taking the shortest trie hit, a quirk that must be kept to get
// identical ids), otherwise each character is looked up on its own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace elephant::tokenizer {

class PrecompiledCharsmap {
 public:
  // `context` names the file and field for errors on a malformed blob.
  PrecompiledCharsmap(std::string_view blob, std::string_view context);

  std::string normalize(std::string_view text) const;

 private:
  // Sets `replacement` to the entry of the shortest trie key that prefixes `chunk`.
  bool transform(std::string_view chunk, std::string_view& replacement) const;

  std::vector<std::uint32_t> trie_;
  std::string replacements_;
};

}  // namespace elephant::tokenizer
