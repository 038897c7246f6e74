// A tokenizer_config.json of arbitrary bytes next to the embedded LM's tokenizer.json: loading the
// tokenizer (bos/eos from the config) and applying the config's chat template to a conversation
// give a result or elephant::Error, never a crash or another exception type.
#include <cstdint>

#include "chat/chat_template.h"
#include "core/error.h"
#include "fuzz/fuzz_input.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  elephant::fuzz::write_scratch_file("tokenizer_config.json", data, size);
  const auto dir =
      elephant::fuzz::scratch_dir_with_link("tokenizer.json", ELEPHANT_MODELS_DIR "/elephant-tiny-lm/tokenizer.json");
  try {
    elephant::tokenizer::Tokenizer::load(dir);
  } catch (const elephant::Error&) {
  }
  const auto config = elephant::chat::Json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) return 0;
  static const elephant::chat::Json messages = elephant::chat::Json::parse(
      R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
          {"role": "assistant", "content": "Hello", "reasoning_content": "greet"}, {"role": "user", "content": "Bye"}])");
  std::tm fixed{};
  fixed.tm_year = 126;
  try {
    elephant::chat::apply_chat_template(config, messages, /*add_generation_prompt=*/true,
                                        elephant::chat::Json{{"enable_thinking", false}}, {.now = fixed});
  } catch (const elephant::Error&) {
  }
  return 0;
}
