// Chat templates: render a model's `chat_template` (Jinja) into the prompt string, exactly as
// transformers' `tokenizer.apply_chat_template(messages, tokenize=False, ...)` does.
//
// Templates are parsed once (ChatTemplate::parse) and rendered per conversation. Variables are
// JSON; nlohmann::ordered_json is used rather than nlohmann::json because templates print dicts
// with `tojson` and iterate them, and transformers keeps the caller's key order (a std::map-backed
// json would reorder tool schemas alphabetically and change the prompt).
//
// Errors are elephant::Error. Template problems read "chat template line N: ..." (syntax errors and
// unsupported constructs at parse time, type errors at render time); a template's own
// raise_exception("...") gives an Error whose message is exactly the template's text, as
// transformers reports it.
#pragma once

#include <nlohmann/json.hpp>

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace elephant::chat {

using Json = nlohmann::ordered_json;

namespace jinja {
struct Stmt;
}

struct RenderOptions {
  // The moment strftime_now() formats (templates print "Current date: ..."); unset means the local
  // time when render() runs, as in transformers. Tests pin it for reproducible output.
  std::optional<std::tm> now;
};

class ChatTemplate {
 public:
  // Throws elephant::Error naming the line of the first syntax error or unsupported construct.
  static ChatTemplate parse(std::string_view source);

  // Renders with `context` (a JSON object) as the template's variables.
  std::string render(const Json& context, const RenderOptions& options = {}) const;

 private:
  explicit ChatTemplate(std::shared_ptr<const std::vector<std::unique_ptr<jinja::Stmt>>> program)
      : program_(std::move(program)) {}
  std::shared_ptr<const std::vector<std::unique_ptr<jinja::Stmt>>> program_;
};

// The chat_template of a tokenizer_config.json: a string, or a list of {"name", "template"} from
// which transformers picks "tool_use" when tools are given and "default" otherwise.
std::string select_chat_template(const Json& tokenizer_config, bool has_tools);

// The variables transformers passes to a chat template: the tokenizer's special tokens (bos_token,
// eos_token, ... as strings, whether the config stores them as strings or {"content": ...}),
// `messages` (with the reasoning field aliased to both `reasoning_content` and `thinking`, as
// transformers does), `tools` and `documents` (None unless given in `extra`),
// `add_generation_prompt`, and every other key of `extra` (e.g. enable_thinking).
Json chat_template_context(const Json& tokenizer_config, const Json& messages, bool add_generation_prompt,
                           const Json& extra = Json::object());

// tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=...,
// tools=extra["tools"], **rest_of_extra) for the template in tokenizer_config.json.
std::string apply_chat_template(const Json& tokenizer_config, const Json& messages, bool add_generation_prompt,
                                const Json& extra = Json::object(), const RenderOptions& options = {});

}  // namespace elephant::chat
