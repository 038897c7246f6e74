// UTF-8 and Unicode helpers shared by the tokenizer pipeline.
//
// Every string that flows between pipeline stages is valid UTF-8: the raw input is made valid once
// by sanitize_utf8 (maximal-subpart replacement with U+FFFD, the rule Rust's
// String::from_utf8_lossy and Python's errors="replace" follow), so later stages can decode without
// re-checking. Character classes follow Rust's char methods because Hugging Face tokenizers is
// written in Rust and its pre-tokenizers use them (char::is_whitespace, is_numeric, ...).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace elephant::tokenizer {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Returns `bytes` with every ill-formed subsequence replaced by U+FFFD.
std::string sanitize_utf8(std::string_view bytes);
bool is_valid_utf8(std::string_view bytes);

// Length in bytes of the UTF-8 sequence that starts with `lead` (1 for a stray byte).
std::size_t utf8_length(unsigned char lead);
// Decodes the code point at `pos` of a valid UTF-8 string and advances `pos` past it.
char32_t next_code_point(std::string_view text, std::size_t& pos);
void append_utf8(std::string& out, char32_t code_point);

// Rust's char::is_whitespace (the Unicode White_Space property).
bool is_whitespace(char32_t c);
// Rust's char::is_numeric (general categories Nd, Nl, No).
bool is_numeric(char32_t c);
// ASCII punctuation or a Unicode P* category, as the Punctuation pre-tokenizer defines it.
bool is_punctuation(char32_t c);
// General category M* (the StripAccents normalizer removes these after decomposition).
bool is_combining_mark(char32_t c);

enum class NormalForm { kNfc, kNfd, kNfkc, kNfkd };
std::string normalize_unicode(std::string_view text, NormalForm form);
// Per-character full lowercase mapping, like Rust's char::to_lowercase applied char by char.
std::string to_lowercase(std::string_view text);

// Splits a valid UTF-8 string into extended grapheme clusters (UAX #29).
template <typename Visit>
void for_each_grapheme(std::string_view text, Visit&& visit);
bool is_grapheme_break(char32_t previous, char32_t next, int& state);

template <typename Visit>
void for_each_grapheme(std::string_view text, Visit&& visit) {
  std::size_t start = 0;
  std::size_t pos = 0;
  int state = 0;
  char32_t previous = 0;
  while (pos < text.size()) {
    std::size_t here = pos;
    char32_t c = next_code_point(text, pos);
    if (here != 0 && is_grapheme_break(previous, c, state)) {
      visit(text.substr(start, here - start));
      start = here;
    }
    previous = c;
  }
  if (start < text.size()) visit(text.substr(start));
}

}  // namespace elephant::tokenizer
