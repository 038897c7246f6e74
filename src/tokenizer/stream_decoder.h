// Incremental detokenization for generation: ids arrive one at a time and text comes out as soon
// as it is final.
//
// A piece is emitted only when it is complete text: never part of a UTF-8 sequence (a byte-level
// or <0xXX> token may carry half a character), and with the leading-space rules of the decoder
// applied as they would be in a full decode. The concatenation of everything step() and finish()
// return equals tokenizer.decode(all ids).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace elephant::tokenizer {

class StreamDecoder {
 public:
  // `tokenizer` must outlive the decoder.
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);

  // Returns the text that `id` completes (possibly empty).
  std::string step(int32_t id);
  // Returns whatever is still held back (an incomplete sequence decodes to U+FFFD here, exactly as
  // in the full decode) and resets the decoder for a new sequence.
  std::string finish();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  bool hold_byte_runs_;            // the decoder turns a whole <0xXX> run into U+FFFDs if any byte is invalid
  std::vector<int32_t> ids_;      // window: ids from prefix_start_ on are still needed for context
  std::size_t read_start_ = 0;    // ids_[read_start_..] have not been emitted yet
  std::string emitted_prefix_;    // decode(ids_[0..read_start_)), already returned to the caller
};

}  // namespace elephant::tokenizer
