// Added-token matching (see added_tokens.h).
//
// A plain byte trie gives leftmost-longest matches: scanning start positions left to right, the
// first position with any match wins and the longest key from there is taken. "Word" and
// "whitespace" use the Unicode definitions of Rust's regex \w and \s, which Hugging Face's
// single_word/lstrip/rstrip checks are written with.
#include "tokenizer/added_tokens.h"

#include <utf8proc.h>

#include "tokenizer/normalizers.h"
#include "tokenizer/unicode.h"

namespace elephant::tokenizer {
namespace {

bool is_word_char(char32_t c) {
  if (c == 0x200C || c == 0x200D) return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

// Start of the code point that ends at `end` (exclusive).
std::size_t previous_char_start(std::string_view text, std::size_t end) {
  std::size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return start;
}

char32_t char_before(std::string_view text, std::size_t end) {
  std::size_t pos = previous_char_start(text, end);
  return next_code_point(text, pos);
}

char32_t char_at(std::string_view text, std::size_t pos) { return next_code_point(text, pos); }

}  // namespace

struct AddedTokens::Trie {
  struct Node {
    std::map<unsigned char, std::size_t> children;
    std::optional<std::size_t> token;  // index into tokens_
  };
  std::vector<Node> nodes{1};

  void insert(std::string_view key, std::size_t token) {
    std::size_t node = 0;
    for (char c : key) {
      auto [it, inserted] = nodes[node].children.try_emplace(static_cast<unsigned char>(c), nodes.size());
      if (inserted) nodes.emplace_back();
      node = it->second;
    }
    // Later entries with the same content replace earlier ones, like a rebuilt Hugging Face trie.
    nodes[node].token = token;
  }

  // The longest key starting at `pos`: (token index, length).
  std::optional<std::pair<std::size_t, std::size_t>> longest_at(std::string_view text, std::size_t pos) const {
    std::optional<std::pair<std::size_t, std::size_t>> best;
    std::size_t node = 0;
    for (std::size_t i = pos; i < text.size(); ++i) {
      auto it = nodes[node].children.find(static_cast<unsigned char>(text[i]));
      if (it == nodes[node].children.end()) break;
      node = it->second;
      if (nodes[node].token) best = {{*nodes[node].token, i + 1 - pos}};
    }
    return best;
  }
};

AddedTokens::AddedTokens(std::vector<AddedToken> tokens, const Normalizer* normalizer)
    : tokens_(std::move(tokens)), raw_trie_(std::make_unique<Trie>()), normalized_trie_(std::make_unique<Trie>()) {
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& token = tokens_[i];
    if (token.content.empty()) continue;
    ids_[token.content] = token.id;
    if (token.special) special_contents_.insert(token.content);
    if (!token.normalized) {
      raw_trie_->insert(token.content, i);
      decode_forms_[token.id] = token.content;
      continue;
    }
    std::string form = token.content;
    if (normalizer != nullptr) normalizer->normalize(form);
    normalized_trie_->insert(form, i);
    decode_forms_[token.id] = std::move(form);
  }
}

AddedTokens::AddedTokens(AddedTokens&&) noexcept = default;
AddedTokens::~AddedTokens() = default;

void AddedTokens::split(const Segment& segment, bool normalized, bool match_special,
                        std::vector<Segment>& out) const {
  const Trie& trie = normalized ? *normalized_trie_ : *raw_trie_;
  std::string_view text = segment.text;
  auto emit_text = [&](std::size_t begin, std::size_t end) {
    if (begin < end) out.push_back({std::string(text.substr(begin, end - begin)), std::nullopt, segment.at_start && begin == 0});
  };
  std::size_t emitted = 0;  // end of the last segment written
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto found = trie.longest_at(text, pos);
    if (!found) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[found->first];
    std::size_t start = pos;
    std::size_t stop = pos + found->second;
    pos = stop;
    if (!match_special && token.special) continue;
    if (token.single_word) {
      bool word_before = start > 0 && is_word_char(char_before(text, start));
      bool word_after = stop < text.size() && is_word_char(char_at(text, stop));
      if (word_before || word_after) continue;
    }
    if (token.lstrip) {
      std::size_t new_start = start;
      while (new_start > 0 && is_whitespace(char_before(text, new_start))) new_start = previous_char_start(text, new_start);
      start = std::max(new_start, emitted);
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        std::size_t next = stop;
        if (!is_whitespace(next_code_point(text, next))) break;
        stop = next;
      }
      pos = stop;
    }
    emit_text(emitted, start);
    out.push_back({std::string(text.substr(start, stop - start)), token.id, segment.at_start && start == 0});
    emitted = stop;
  }
  emit_text(emitted, text.size());
}

std::optional<int32_t> AddedTokens::token_to_id(std::string_view content) const {
  auto it = ids_.find(content);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

const std::string* AddedTokens::decode_form(int32_t id) const {
  auto it = decode_forms_.find(id);
  return it == decode_forms_.end() ? nullptr : &it->second;
}

bool AddedTokens::is_special_content(std::string_view content) const { return special_contents_.contains(content); }

int32_t AddedTokens::id_limit() const {
  int32_t limit = 0;
  for (const auto& token : tokens_) limit = std::max(limit, token.id + 1);
  return limit;
}

std::vector<AddedToken> parse_added_tokens(const JsonField& list) {
  std::vector<AddedToken> tokens;
  for (std::size_t i = 0; i < list.size(); ++i) {
    JsonField entry = list.at(i);
    AddedToken token;
    token.content = entry.at("content").string();
    token.id = entry.at("id").token_id();
    token.special = entry.boolean_or("special", false);
    token.lstrip = entry.boolean_or("lstrip", false);
    token.rstrip = entry.boolean_or("rstrip", false);
    token.single_word = entry.boolean_or("single_word", false);
    token.normalized = entry.boolean_or("normalized", !token.special);
    tokens.push_back(std::move(token));
  }
  return tokens;
}

}  // namespace elephant::tokenizer
