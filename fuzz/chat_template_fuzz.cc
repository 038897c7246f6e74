// A chat_template of arbitrary text (tokenizer_config.json is user input): parsing and rendering
// a two-message conversation give a string or elephant::Error, never a crash, a hang or unbounded
// recursion.
#include <cstdint>
#include <string_view>

#include "chat/chat_template.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  static const elephant::chat::Json context = elephant::chat::Json::parse(R"({
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi <b>there</b>"}],
    "bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": true, "tools": null})");
  std::tm fixed{};
  fixed.tm_year = 126;
  try {
    const auto chat_template = elephant::chat::ChatTemplate::parse(source);
    chat_template.render(context, {.now = fixed});
  } catch (const elephant::Error&) {
  }
  return 0;
}
