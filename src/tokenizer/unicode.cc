// UTF-8 validation/repair and Unicode character properties (utf8proc underneath).
//
// sanitize_utf8 implements the "maximal subpart" rule of the Unicode standard (section 3.9): a
// lead byte followed by a valid but truncated tail becomes one U+FFFD, and a byte that cannot
// start a sequence becomes one U+FFFD each. This is exactly what Python's errors="replace" and
// Rust's from_utf8_lossy produce, so golden ids computed from the repaired Python string apply.
#include "tokenizer/unicode.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

namespace elephant::tokenizer {
namespace {

// Valid range of the second byte for each lead byte; the remaining bytes are always 80..BF.
struct LeadInfo {
  int length;  // 0: this byte cannot start a sequence
  unsigned char second_min;
  unsigned char second_max;
};

LeadInfo lead_info(unsigned char b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// Number of bytes of a well-formed sequence at `pos`, or the negated length of the maximal
// ill-formed subpart to replace.
int scan_sequence(std::string_view bytes, std::size_t pos) {
  auto lead = static_cast<unsigned char>(bytes[pos]);
  LeadInfo info = lead_info(lead);
  if (info.length == 0) return -1;
  if (info.length == 1) return 1;
  for (int i = 1; i < info.length; ++i) {
    if (pos + i >= bytes.size()) return -i;
    auto b = static_cast<unsigned char>(bytes[pos + i]);
    unsigned char lo = i == 1 ? info.second_min : 0x80;
    unsigned char hi = i == 1 ? info.second_max : 0xBF;
    if (b < lo || b > hi) return -i;
  }
  return info.length;
}

bool has_category(char32_t c, std::initializer_list<utf8proc_category_t> categories) {
  utf8proc_category_t category = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  for (auto wanted : categories) {
    if (category == wanted) return true;
  }
  return false;
}

}  // namespace

std::string sanitize_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    int n = scan_sequence(bytes, pos);
    if (n > 0) {
      out.append(bytes.substr(pos, n));
      pos += n;
    } else {
      out.append(kReplacementChar);
      pos += -n;
    }
  }
  return out;
}

bool is_valid_utf8(std::string_view bytes) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    int n = scan_sequence(bytes, pos);
    if (n < 0) return false;
    pos += n;
  }
  return true;
}

std::size_t utf8_length(unsigned char lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  if (lead < 0xF8) return 4;
  return 1;
}

char32_t next_code_point(std::string_view text, std::size_t& pos) {
  auto lead = static_cast<unsigned char>(text[pos]);
  std::size_t n = utf8_length(lead);
  if (pos + n > text.size()) n = 1;
  char32_t c = n == 1 ? lead : lead & (0xFF >> (n + 1));
  for (std::size_t i = 1; i < n; ++i) c = (c << 6) | (static_cast<unsigned char>(text[pos + i]) & 0x3F);
  pos += n;
  return c;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

bool is_whitespace(char32_t c) {
  switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool is_numeric(char32_t c) {
  return has_category(c, {UTF8PROC_CATEGORY_ND, UTF8PROC_CATEGORY_NL, UTF8PROC_CATEGORY_NO});
}

bool is_punctuation(char32_t c) {
  bool ascii_punctuation = (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) ||
                           (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
  return ascii_punctuation ||
         has_category(c, {UTF8PROC_CATEGORY_PC, UTF8PROC_CATEGORY_PD, UTF8PROC_CATEGORY_PS,
                          UTF8PROC_CATEGORY_PE, UTF8PROC_CATEGORY_PI, UTF8PROC_CATEGORY_PF,
                          UTF8PROC_CATEGORY_PO});
}

bool is_combining_mark(char32_t c) {
  return has_category(c, {UTF8PROC_CATEGORY_MN, UTF8PROC_CATEGORY_MC, UTF8PROC_CATEGORY_ME});
}

std::string normalize_unicode(std::string_view text, NormalForm form) {
  if (text.empty()) return {};
  int options = UTF8PROC_STABLE;
  switch (form) {
    case NormalForm::kNfc: options |= UTF8PROC_COMPOSE; break;
    case NormalForm::kNfd: options |= UTF8PROC_DECOMPOSE; break;
    case NormalForm::kNfkc: options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case NormalForm::kNfkd: options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
  }
  utf8proc_uint8_t* result = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                    static_cast<utf8proc_ssize_t>(text.size()), &result,
                                    static_cast<utf8proc_option_t>(options));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(result, &std::free);
  // The pipeline only carries valid UTF-8, so a failure here means the input was not; keep it.
  if (n < 0) return std::string(text);
  return std::string(reinterpret_cast<const char*>(result), static_cast<std::size_t>(n));
}

std::string to_lowercase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    char32_t c = next_code_point(text, pos);
    // U+0130 is the only character whose full lowercase mapping is two characters; utf8proc only
    // knows the simple mapping.
    if (c == 0x130) {
      out.append("i\xCC\x87");
      continue;
    }
    append_utf8(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
  }
  return out;
}

bool is_grapheme_break(char32_t previous, char32_t next, int& state) {
  utf8proc_int32_t utf8proc_state = state;
  bool result = utf8proc_grapheme_break_stateful(static_cast<utf8proc_int32_t>(previous),
                                                 static_cast<utf8proc_int32_t>(next), &utf8proc_state);
  state = utf8proc_state;
  return result;
}

}  // namespace elephant::tokenizer
