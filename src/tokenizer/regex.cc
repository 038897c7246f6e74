// PCRE2-backed Regex (see regex.h).
//
// Subjects are validated once per call and then matched with PCRE2_NO_UTF_CHECK: PCRE2 would
// otherwise re-validate the rest of the subject on every pcre2_match call, which is quadratic on
// long inputs. Multiline mode mirrors Oniguruma's Ruby syntax, where ^ and $ match at line breaks.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include "core/error.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/unicode.h"

namespace elephant::tokenizer {

struct Regex::Impl {
  pcre2_code* code = nullptr;
};

Regex::Regex(std::string_view pattern, std::string_view context) : impl_(std::make_unique<Impl>()) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &error_code, &error_offset, nullptr);
  if (impl_->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    fail("{}: invalid regex \"{}\" at offset {}: {}", context, pattern, error_offset,
         reinterpret_cast<const char*>(message));
  }
  // JIT is an optimisation only; the interpreter gives the same matches when it is unavailable.
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);
}

Regex::~Regex() { pcre2_code_free(impl_->code); }

std::vector<std::pair<std::size_t, std::size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  if (!is_valid_utf8(text)) fail("internal error: regex subject is not valid UTF-8");
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
      pcre2_match_data_create_from_pattern(impl_->code, nullptr), &pcre2_match_data_free);
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t search_from = 0;
  bool have_last_end = false;
  std::size_t last_match_end = 0;
  while (search_from <= text.size()) {
    int rc = pcre2_match(impl_->code, subject, text.size(), search_from, PCRE2_NO_UTF_CHECK, data.get(),
                         nullptr);
    // The JIT's fixed stack can overflow on very long runs; the interpreter grows on the heap.
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      rc = pcre2_match(impl_->code, subject, text.size(), search_from, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                       data.get(), nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      fail("regex match failed: {}", reinterpret_cast<const char*>(message));
    }
    PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
    std::size_t begin = ovector[0];
    std::size_t end = ovector[1];
    // Oniguruma's iterator drops an empty match that touches the previous match and retries one
    // character further on; anything else, empty or not, is reported.
    if (begin == end && have_last_end && last_match_end == end) {
      search_from += search_from < text.size() ? utf8_length(static_cast<unsigned char>(text[search_from])) : 1;
      continue;
    }
    matches.emplace_back(begin, end);
    search_from = end;
    have_last_end = true;
    last_match_end = end;
  }
  return matches;
}

std::string Regex::escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}-/#&~ ").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// A Replace/Split "pattern" member: {"String": literal} or {"Regex": pattern}.
std::string pattern_from_json(const JsonField& node) {
  if (auto literal = node.find("String")) return Regex::escape(literal->string());
  if (auto regex = node.find("Regex")) return regex->string();
  node.fail("expected {{\"String\": ...}} or {{\"Regex\": ...}}");
}

}  // namespace elephant::tokenizer
