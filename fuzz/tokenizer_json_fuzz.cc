// tokenizer.json of arbitrary bytes: loading throws elephant::Error or gives a tokenizer that
// encodes and decodes text without crashing.
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "fuzz/fuzz_input.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = elephant::fuzz::write_scratch_file("tokenizer.json", data, size);
  try {
    const auto tokenizer = elephant::tokenizer::Tokenizer::load(path);
    for (const char* text : {"Hello, world! 123", " <s>caf\xc3\xa9  \xe4\xb8\xad\xe6\x96\x87\n\t", "\xff\xfe"}) {
      const std::vector<int32_t> ids = tokenizer->encode(text);
      tokenizer->decode(ids);
      tokenizer->decode(ids, /*skip_special_tokens=*/true);
    }
    const std::vector<int32_t> out_of_range = {-1, 0, tokenizer->vocab_size(), 1 << 30};
    tokenizer->decode(out_of_range);
  } catch (const elephant::Error&) {
  }
  return 0;
}
