// Pre-tokenizers: split normalized text into the pieces that the model tokenizes independently.
//
// A piece remembers whether it starts the input text, because Metaspace's prepend_scheme "first"
// only adds the replacement character there; Hugging Face reads that from offsets, which Elephant
// does not track. Empty pieces are dropped after every split, as in Hugging Face.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/json_fields.h"

namespace elephant::tokenizer {

struct Piece {
  std::string text;
  bool at_start = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const JsonField& node);

// GPT-2's reversible byte -> printable character table used by ByteLevel components: the UTF-8 of
// the character that stands for each byte, and the inverse lookup.
const std::array<std::string, 256>& byte_level_chars();
std::optional<unsigned char> byte_level_byte(char32_t c);

}  // namespace elephant::tokenizer
