#include "server/openai_request.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace elephant::server {
namespace {

constexpr size_t kMaxStopStrings = 4;  // OpenAI's limit

ApiError invalid(const std::string& param, const std::string& message) { return ApiError(400, message, param); }

ApiError unsupported(const std::string& param, const std::string& message) {
  return ApiError(400, message, param, "unsupported_parameter");
}

// The value of `key`, or null when the key is absent or JSON null (OpenAI treats both as unset).
const Json* field(const Json& body, const char* key) {
  const auto it = body.find(key);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

int64_t integer_in(const Json& value, const std::string& name, int64_t low, int64_t high) {
  const bool too_large =
      value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (!value.is_number_integer()) {
    throw invalid(name, fmt::format("'{}' must be an integer, got {}", name, value.type_name()));
  }
  if (too_large || value.get<int64_t>() < low || value.get<int64_t>() > high) {
    throw invalid(
        name, fmt::format("'{}' = {} is out of range: expected an integer in [{}, {}]", name, value.dump(), low, high));
  }
  return value.get<int64_t>();
}

double number(const Json& value, const std::string& name) {
  if (!value.is_number()) throw invalid(name, fmt::format("'{}' must be a number, got {}", name, value.type_name()));
  return value.get<double>();
}

double number_in(const Json& value, const std::string& name, double low, double high, bool low_open = false) {
  const double x = number(value, name);
  if (!std::isfinite(x) || x > high || (low_open ? x <= low : x < low)) {
    throw invalid(name, fmt::format("'{}' = {} is out of range: expected a number in {}{}, {}]", name, x,
                                    low_open ? "(" : "[", low, high));
  }
  return x;
}

bool boolean(const Json& value, const std::string& name) {
  if (!value.is_boolean()) throw invalid(name, fmt::format("'{}' must be a boolean, got {}", name, value.type_name()));
  return value.get<bool>();
}

std::string string(const Json& value, const std::string& name) {
  if (!value.is_string()) throw invalid(name, fmt::format("'{}' must be a string, got {}", name, value.type_name()));
  return value.get<std::string>();
}

std::vector<int32_t> token_ids(const Json& array, const std::string& name) {
  std::vector<int32_t> ids;
  ids.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    ids.push_back(static_cast<int32_t>(
        integer_in(array[i], fmt::format("{}[{}]", name, i), 0, std::numeric_limits<int32_t>::max())));
  }
  return ids;
}

// string | [string, ...] | [id, ...] | [[id, ...], ...]
std::vector<Prompt> parse_prompts(const Json& body) {
  const Json* value = field(body, "prompt");
  if (!value) throw invalid("prompt", "'prompt' is required");
  if (value->is_string()) return {value->get<std::string>()};
  if (!value->is_array()) {
    throw invalid("prompt", fmt::format("'prompt' must be a string, an array of strings or an array of token ids, "
                                        "got {}",
                                        value->type_name()));
  }
  if (value->empty()) throw invalid("prompt", "'prompt' is an empty array");
  std::vector<Prompt> prompts;
  if ((*value)[0].is_number()) {
    prompts.emplace_back(token_ids(*value, "prompt"));
    return prompts;
  }
  for (size_t i = 0; i < value->size(); ++i) {
    const Json& item = (*value)[i];
    const std::string name = fmt::format("prompt[{}]", i);
    if (item.is_string()) {
      prompts.emplace_back(item.get<std::string>());
    } else if (item.is_array()) {
      prompts.emplace_back(token_ids(item, name));
    } else {
      throw invalid(name,
                    fmt::format("'{}' must be a string or an array of token ids, got {}", name, item.type_name()));
    }
  }
  return prompts;
}

// A message's content as one string: text parts are joined with newlines; other parts (images,
// audio) are refused.
std::string message_content(const Json& content, const std::string& name) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) {
    throw invalid(name,
                  fmt::format("'{}' must be a string or an array of content parts, got {}", name, content.type_name()));
  }
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& part = content[i];
    const std::string part_name = fmt::format("{}[{}]", name, i);
    if (!part.is_object()) throw invalid(part_name, fmt::format("'{}' must be an object", part_name));
    const Json* type = field(part, "type");
    const std::string kind = type ? string(*type, part_name + ".type") : "";
    if (kind != "text") {
      throw unsupported(part_name,
                        fmt::format("'{}' has type '{}': only text content parts are supported", part_name, kind));
    }
    const Json* part_text = field(part, "text");
    if (!part_text) throw invalid(part_name + ".text", fmt::format("'{}.text' is required", part_name));
    if (i > 0) text += "\n";
    text += string(*part_text, part_name + ".text");
  }
  return text;
}

Json parse_messages(const Json& body) {
  const Json* value = field(body, "messages");
  if (!value) throw invalid("messages", "'messages' is required");
  if (!value->is_array())
    throw invalid("messages", fmt::format("'messages' must be an array, got {}", value->type_name()));
  if (value->empty()) throw invalid("messages", "'messages' is empty: give at least one message");
  Json messages = Json::array();
  for (size_t i = 0; i < value->size(); ++i) {
    const Json& message = (*value)[i];
    const std::string name = fmt::format("messages[{}]", i);
    if (!message.is_object()) {
      throw invalid(name, fmt::format("'{}' must be an object, got {}", name, message.type_name()));
    }
    const Json* role_value = field(message, "role");
    if (!role_value) throw invalid(name + ".role", fmt::format("'{}.role' is required", name));
    std::string role = string(*role_value, name + ".role");
    if (role == "tool" || role == "function" || field(message, "tool_calls") || field(message, "function_call")) {
      throw unsupported(name, fmt::format("'{}': tool and function calling are not supported", name));
    }
    // OpenAI's newer name for the system role; chat templates know only "system".
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant") {
      throw invalid(name + ".role",
                    fmt::format("'{}.role' = '{}': expected system, developer, user or assistant", name, role));
    }
    const Json* content = field(message, "content");
    if (!content && role != "assistant")
      throw invalid(name + ".content", fmt::format("'{}.content' is required", name));
    messages.push_back({{"role", role}, {"content", content ? message_content(*content, name + ".content") : ""}});
  }
  return messages;
}

void refuse_unsupported(const Json& body, Endpoint endpoint) {
  for (const char* key : {"presence_penalty", "frequency_penalty"}) {
    if (const Json* value = field(body, key); value && number_in(*value, key, -2.0, 2.0) != 0.0) {
      throw unsupported(key, fmt::format("'{}' is not supported (only 0): use 'repetition_penalty'", key));
    }
  }
  if (const Json* value = field(body, "logit_bias")) {
    if (!value->is_object()) throw invalid("logit_bias", "'logit_bias' must be an object");
    if (!value->empty()) throw unsupported("logit_bias", "'logit_bias' is not supported");
  }
  if (endpoint == Endpoint::kCompletions) {
    if (const Json* value = field(body, "echo"); value && boolean(*value, "echo")) {
      throw unsupported("echo", "'echo' is not supported");
    }
    if (const Json* value = field(body, "best_of"); value && integer_in(*value, "best_of", 1, 1024) != 1) {
      throw unsupported("best_of", "'best_of' is not supported (only 1)");
    }
    if (const Json* value = field(body, "suffix"); value && !string(*value, "suffix").empty()) {
      throw unsupported("suffix", "'suffix' is not supported");
    }
    return;
  }
  for (const char* key : {"tools", "functions"}) {
    if (const Json* value = field(body, key); value && !(value->is_array() && value->empty())) {
      throw unsupported(key, fmt::format("'{}': tool and function calling are not supported", key));
    }
  }
  for (const char* key : {"tool_choice", "function_call"}) {
    if (const Json* value = field(body, key); value && *value != "none") {
      throw unsupported(key, fmt::format("'{}': tool and function calling are not supported", key));
    }
  }
  if (const Json* value = field(body, "response_format")) {
    const Json* type = value->is_object() ? field(*value, "type") : nullptr;
    if (!type || *type != "text") {
      throw unsupported("response_format", "'response_format': only {\"type\": \"text\"} is supported");
    }
  }
}

std::vector<std::string> parse_stop(const Json& value) {
  std::vector<std::string> stop;
  if (value.is_string()) {
    stop.push_back(value.get<std::string>());
  } else if (value.is_array()) {
    if (value.size() > kMaxStopStrings) {
      throw invalid("stop",
                    fmt::format("'stop' has {} strings: at most {} are allowed", value.size(), kMaxStopStrings));
    }
    for (size_t i = 0; i < value.size(); ++i) stop.push_back(string(value[i], fmt::format("stop[{}]", i)));
  } else {
    throw invalid("stop", fmt::format("'stop' must be a string or an array of strings, got {}", value.type_name()));
  }
  for (const auto& s : stop) {
    if (s.empty()) throw invalid("stop", "'stop' contains an empty string (it would match before any text)");
  }
  return stop;
}

}  // namespace

Json error_body(const ApiError& error) {
  return {{"error",
           {{"message", error.what()},
            {"type", error.type},
            {"param", error.param.empty() ? Json(nullptr) : Json(error.param)},
            {"code", error.code.empty() ? Json(nullptr) : Json(error.code)}}}};
}

GenerationRequest parse_generation_request(const Json& body, Endpoint endpoint, const RequestLimits& limits) {
  if (!body.is_object()) {
    throw invalid("", fmt::format("the request body must be a JSON object, got {}", body.type_name()));
  }
  refuse_unsupported(body, endpoint);
  GenerationRequest request;
  request.endpoint = endpoint;
  if (const Json* value = field(body, "model")) request.model = string(*value, "model");
  const bool chat = endpoint == Endpoint::kChatCompletions;
  if (chat) {
    request.messages = parse_messages(body);
  } else {
    request.prompts = parse_prompts(body);
  }

  request.max_tokens = chat ? limits.max_tokens : std::min(limits.default_completion_tokens, limits.max_tokens);
  const char* length_key = chat && field(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (const Json* value = field(body, length_key)) {
    request.max_tokens = static_cast<int>(integer_in(*value, length_key, 1, limits.max_tokens));
  }
  if (const Json* value = field(body, "n")) {
    request.n = static_cast<int>(integer_in(*value, "n", 1, limits.max_sequences));
  }
  const size_t n_prompts = chat ? 1 : request.prompts.size();
  if (n_prompts * static_cast<size_t>(request.n) > static_cast<size_t>(limits.max_sequences)) {
    throw invalid("n", fmt::format("{} prompts × n = {} asks for {} sequences: at most {} per request", n_prompts,
                                   request.n, n_prompts * static_cast<size_t>(request.n), limits.max_sequences));
  }
  if (const Json* value = field(body, "stream")) request.stream = boolean(*value, "stream");
  if (const Json* value = field(body, "stream_options")) {
    if (!request.stream) throw invalid("stream_options", "'stream_options' is only allowed when 'stream' is true");
    if (!value->is_object()) throw invalid("stream_options", "'stream_options' must be an object");
    if (const Json* usage = field(*value, "include_usage")) {
      request.include_usage = boolean(*usage, "stream_options.include_usage");
    }
  }

  // OpenAI's defaults: temperature 1, top_p 1.
  auto& sampling = request.sampling;
  sampling.temperature = 1.0f;
  if (const Json* value = field(body, "temperature")) {
    sampling.temperature = static_cast<float>(number_in(*value, "temperature", 0.0, 2.0));
  }
  if (const Json* value = field(body, "top_p")) {
    sampling.top_p = static_cast<float>(number_in(*value, "top_p", 0.0, 1.0, true));
  }
  if (const Json* value = field(body, "top_k")) {
    // -1 is how vLLM spells "off"; the engine's spelling is 0.
    sampling.top_k =
        std::max(0, static_cast<int>(integer_in(*value, "top_k", -1, std::numeric_limits<int32_t>::max())));
  }
  if (const Json* value = field(body, "min_p")) {
    sampling.min_p = static_cast<float>(number_in(*value, "min_p", 0.0, 1.0));
  }
  if (const Json* value = field(body, "repetition_penalty")) {
    sampling.repetition_penalty = static_cast<float>(number_in(*value, "repetition_penalty", 0.0, 10.0, true));
  }
  if (const Json* value = field(body, "seed")) {
    const auto seed =
        integer_in(*value, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
    sampling.seed = static_cast<uint64_t>(seed);
    request.seeded = true;
  }
  if (const Json* value = field(body, "stop")) request.stop = parse_stop(*value);

  if (chat) {
    const Json* logprobs = field(body, "logprobs");
    const bool wanted = logprobs && boolean(*logprobs, "logprobs");
    if (const Json* top = field(body, "top_logprobs")) {
      if (!wanted) throw invalid("top_logprobs", "'top_logprobs' needs 'logprobs': true");
      request.top_logprobs = static_cast<int>(integer_in(*top, "top_logprobs", 0, limits.max_logprobs));
    } else if (wanted) {
      request.top_logprobs = 0;
    }
  } else if (const Json* value = field(body, "logprobs")) {
    request.top_logprobs = static_cast<int>(integer_in(*value, "logprobs", 0, limits.max_logprobs));
  }
  return request;
}

}  // namespace elephant::server
