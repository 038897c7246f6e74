// Normalizers: the first stage of the tokenizer.json pipeline, rewriting each piece of input text
// that is not an added token before it is pre-tokenized.
//
// Offsets back into the original text are not tracked: Elephant only needs ids, so a normalizer is
// a plain string -> string rewrite, which keeps each one a few lines long.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/json_fields.h"

namespace elephant::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// Builds the normalizer described by a tokenizer.json "normalizer" object; an unknown "type" is
// an error naming it.
std::unique_ptr<Normalizer> parse_normalizer(const JsonField& node);

}  // namespace elephant::tokenizer
