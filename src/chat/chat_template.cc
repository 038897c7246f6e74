// Public chat-template API: parsing, rendering, and the context transformers builds.
//
// The context mirrors transformers 5's apply_chat_template + render_jinja_template: special tokens
// from the tokenizer config come first and kwargs override them; `tools` and `documents` are
// always defined (None when absent), so `tools is defined` is true and `if tools` is false, as in
// Python; a message's reasoning (reasoning_content, thinking or reasoning) is copied to both
// `thinking` and `reasoning_content`, which is how transformers feeds Qwen3/DeepSeek templates
// (they read reasoning_content) and gpt-oss (it reads thinking) from the same messages; and null
// message fields are dropped, so `content: null` reads as a missing key.
#include "chat/chat_template.h"

#include "chat/jinja_evaluator.h"
#include "chat/jinja_parser.h"
#include "core/error.h"

#include <ctime>

namespace elephant::chat {
namespace {

constexpr const char* kSpecialTokens[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                          "pad_token", "cls_token", "mask_token"};
constexpr const char* kReasoningFields[] = {"reasoning_content", "thinking", "reasoning"};

std::optional<std::string> special_token(const Json& tokenizer_config, const char* name) {
  const auto it = tokenizer_config.find(name);
  if (it == tokenizer_config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  fail("tokenizer_config.json: '{}' must be a string or an object with a string 'content', found {}", name,
       it->dump());
}

Json alias_reasoning(const Json& message) {
  if (!message.is_object()) return message;
  const Json* reasoning = nullptr;
  for (const char* field : kReasoningFields) {
    const auto it = message.find(field);
    if (it != message.end() && !it->is_null()) {
      reasoning = &*it;
      break;
    }
  }
  if (reasoning == nullptr) return message;
  // {"thinking": r, **message, "reasoning_content": r}: key order as Python builds it.
  Json aliased = Json::object();
  aliased["thinking"] = *reasoning;
  for (const auto& [key, value] : message.items()) aliased[key] = value;
  aliased["reasoning_content"] = *reasoning;
  return aliased;
}

std::tm local_now() {
  const std::time_t t = std::time(nullptr);
  std::tm now{};
  localtime_r(&t, &now);
  return now;
}

}  // namespace

ChatTemplate ChatTemplate::parse(std::string_view source) {
  return ChatTemplate(std::make_shared<const jinja::StmtList>(jinja::parse_template(source)));
}

std::string ChatTemplate::render(const Json& context, const RenderOptions& options) const {
  if (!context.is_object()) fail("chat template context must be a JSON object, found {}", context.type_name());
  jinja::ValueDict variables;
  for (const auto& [key, value] : context.items()) variables.set(key, jinja::Value::from_json(value));
  return jinja::render(*program_, variables, options.now ? *options.now : local_now());
}

std::string select_chat_template(const Json& tokenizer_config, bool has_tools) {
  const auto it = tokenizer_config.find("chat_template");
  if (it == tokenizer_config.end() || it->is_null()) {
    fail("tokenizer_config.json has no chat_template (newer models ship it as chat_template.jinja: parse that file "
         "with ChatTemplate::parse)");
  }
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) fail("tokenizer_config.json: chat_template must be a string or a list, found {}", it->type_name());
  const Json* fallback = nullptr;
  const Json* tool_use = nullptr;
  for (const Json& entry : *it) {
    if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") || !entry["template"].is_string()) {
      fail("tokenizer_config.json: chat_template list entries must be {{\"name\", \"template\"}} objects");
    }
    if (entry["name"] == "default") fallback = &entry["template"];
    if (entry["name"] == "tool_use") tool_use = &entry["template"];
  }
  if (has_tools && tool_use != nullptr) return tool_use->get<std::string>();
  if (fallback == nullptr) fail("tokenizer_config.json: chat_template list has no 'default' template");
  return fallback->get<std::string>();
}

Json chat_template_context(const Json& tokenizer_config, const Json& messages, bool add_generation_prompt,
                           const Json& extra) {
  if (!messages.is_array()) fail("chat messages must be a JSON array, found {}", messages.type_name());
  if (!extra.is_object() && !extra.is_null()) fail("chat template kwargs must be a JSON object, found {}", extra.type_name());
  Json context = Json::object();
  for (const char* name : kSpecialTokens) {
    if (auto token = special_token(tokenizer_config, name)) context[name] = *token;
  }
  if (messages.empty()) fail("cannot apply a chat template to an empty conversation");
  Json aliased = Json::array();
  for (const Json& message : messages) {
    if (!message.is_object()) fail("each chat message must be a JSON object, found {}", message.dump());
    // transformers drops null fields (OpenAI-style "content": null) so templates see them as missing.
    Json present = Json::object();
    for (const auto& [key, value] : message.items()) {
      if (!value.is_null()) present[key] = value;
    }
    aliased.push_back(alias_reasoning(present));
  }
  context["messages"] = std::move(aliased);
  context["tools"] = nullptr;
  context["documents"] = nullptr;
  context["add_generation_prompt"] = add_generation_prompt;
  if (extra.is_object()) {
    for (const auto& [key, value] : extra.items()) context[key] = value;
  }
  return context;
}

std::string apply_chat_template(const Json& tokenizer_config, const Json& messages, bool add_generation_prompt,
                                const Json& extra, const RenderOptions& options) {
  const bool has_tools = extra.is_object() && extra.contains("tools") && !extra["tools"].is_null();
  const ChatTemplate chat_template = ChatTemplate::parse(select_chat_template(tokenizer_config, has_tools));
  return chat_template.render(chat_template_context(tokenizer_config, messages, add_generation_prompt, extra), options);
}

}  // namespace elephant::chat
