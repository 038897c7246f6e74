// Decoders: turn the token strings of a list of ids back into text.
//
// As in Hugging Face, each decoder maps the list of token strings to a new list (decode_chain),
// so that per-token rules (Metaspace drops the leading space of the first token only, Strip trims
// each token) compose in a Sequence; the final text is the concatenation.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/json_fields.h"

namespace elephant::tokenizer {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

std::unique_ptr<Decoder> parse_decoder(const JsonField& node);

// The byte of a byte-fallback token "<0xXX>", or nullopt for any other token.
std::optional<unsigned char> byte_token_value(std::string_view token);

}  // namespace elephant::tokenizer
