// Post-processors: add the special tokens of a model's template (BOS, EOS, CLS/SEP) around the
// ids of one encoded sequence. They run only when encode is asked to add special tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "tokenizer/json_fields.h"

namespace elephant::tokenizer {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void process(std::vector<int32_t>& ids) const = 0;
};

// Returns null for post-processors that never change ids (ByteLevel only adjusts offsets).
std::unique_ptr<PostProcessor> parse_post_processor(const JsonField& node);

}  // namespace elephant::tokenizer
