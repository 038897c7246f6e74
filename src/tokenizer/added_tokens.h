// Added tokens of a tokenizer.json: special tokens (<|im_start|>, <s>, ...) and extra vocabulary
// that is matched in the text before the normalizer/pre-tokenizer/model pipeline runs.
//
// Matching follows Hugging Face: leftmost-longest over all candidate contents, non-overlapping;
// a match that fails its single_word check is dropped (not retried shorter); lstrip/rstrip widen
// the match over neighbouring whitespace. Tokens with normalized=false are matched in the raw
// text, those with normalized=true in the normalized text, against their normalized content.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/json_fields.h"

namespace elephant::tokenizer {

class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = false;
};

// A stretch of input: either text still to tokenize or one matched added token.
struct Segment {
  std::string text;
  std::optional<int32_t> token_id;
  bool at_start = false;  // the segment begins the input text
};

class AddedTokens {
 public:
  // `normalizer` (may be null) gives the matched form of normalized tokens.
  AddedTokens(std::vector<AddedToken> tokens, const Normalizer* normalizer);
  AddedTokens(AddedTokens&&) noexcept;
  ~AddedTokens();

  // Splits `text` around the tokens with the given `normalized` flag. Special tokens are left as
  // text when `match_special` is false.
  void split(const Segment& text, bool normalized, bool match_special, std::vector<Segment>& out) const;

  std::optional<int32_t> token_to_id(std::string_view content) const;
  // The string an added token contributes to decoding (its normalized form when it has one).
  const std::string* decode_form(int32_t id) const;
  bool is_special_content(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  int32_t id_limit() const;

 private:
  struct Trie;
  std::vector<AddedToken> tokens_;
  std::map<int32_t, std::string> decode_forms_;  // id -> string used when decoding
  std::map<std::string, int32_t, std::less<>> ids_;
  std::set<std::string, std::less<>> special_contents_;
  std::unique_ptr<Trie> raw_trie_;
  std::unique_ptr<Trie> normalized_trie_;
};

// Reads the "added_tokens" array; a token whose content is in the model vocabulary takes that id.
std::vector<AddedToken> parse_added_tokens(const JsonField& list);

}  // namespace elephant::tokenizer
