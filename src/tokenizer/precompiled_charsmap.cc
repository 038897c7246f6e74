// SentencePiece precompiled charsmap reader and normalizer (see precompiled_charsmap.h).
//
// Trie walks are bounds-checked: the blob comes from a user's file, and a corrupt one must give a
// non-match (or a load error), never an out-of-range read.
#include "tokenizer/precompiled_charsmap.h"

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace elephant::tokenizer {
namespace {

bool has_leaf(std::uint32_t unit) { return ((unit >> 8) & 1) == 1; }
std::uint32_t value(std::uint32_t unit) { return unit & ((1U << 31) - 1); }
std::uint32_t label(std::uint32_t unit) { return unit & ((1U << 31) | 0xFF); }
std::uint32_t offset(std::uint32_t unit) { return (unit >> 10) << ((unit & (1U << 9)) >> 6); }

}  // namespace

PrecompiledCharsmap::PrecompiledCharsmap(std::string_view blob, std::string_view context) {
  if (blob.size() < 4) fail("{}: precompiled_charsmap is {} bytes, too short for its header", context, blob.size());
  auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(blob[i])); };
  std::uint32_t trie_bytes = byte(0) | byte(1) << 8 | byte(2) << 16 | byte(3) << 24;
  if (trie_bytes % 4 != 0 || trie_bytes > blob.size() - 4) {
    fail("{}: precompiled_charsmap declares a {}-byte trie but holds {} bytes after its header", context,
         trie_bytes, blob.size() - 4);
  }
  trie_.resize(trie_bytes / 4);
  for (std::size_t i = 0; i < trie_.size(); ++i) {
    std::size_t at = 4 + 4 * i;
    trie_[i] = byte(at) | byte(at + 1) << 8 | byte(at + 2) << 16 | byte(at + 3) << 24;
  }
  replacements_ = std::string(blob.substr(4 + trie_bytes));
  if (!is_valid_utf8(replacements_)) fail("{}: precompiled_charsmap replacement table is not valid UTF-8", context);
}

bool PrecompiledCharsmap::transform(std::string_view chunk, std::string_view& replacement) const {
  if (trie_.empty()) return false;
  std::size_t node = offset(trie_[0]);
  for (char ch : chunk) {
    auto c = static_cast<unsigned char>(ch);
    if (c == 0) return false;
    node ^= c;
    if (node >= trie_.size()) return false;
    std::uint32_t unit = trie_[node];
    if (label(unit) != c) return false;
    node ^= offset(unit);
    if (node >= trie_.size()) return false;
    if (has_leaf(unit)) {
      std::size_t start = value(trie_[node]);
      if (start > replacements_.size()) return false;
      std::size_t end = replacements_.find('\0', start);
      if (end == std::string::npos) end = replacements_.size();
      replacement = std::string_view(replacements_).substr(start, end - start);
      // An offset into the middle of a character would break the pipeline's UTF-8 invariant.
      return is_valid_utf8(replacement);
    }
  }
  return false;
}

std::string PrecompiledCharsmap::normalize(std::string_view text) const {
  std::string out;
  out.reserve(text.size());
  for_each_grapheme(text, [&](std::string_view grapheme) {
    std::string_view replacement;
    if (grapheme.size() < 6 && transform(grapheme, replacement)) {
      out.append(replacement);
      return;
    }
    std::size_t pos = 0;
    while (pos < grapheme.size()) {
      std::size_t start = pos;
      next_code_point(grapheme, pos);
      std::string_view character = grapheme.substr(start, pos - start);
      out.append(transform(character, replacement) ? replacement : character);
    }
  });
  return out;
}

}  // namespace elephant::tokenizer
