// Parsing and validation of OpenAI-style request bodies (/v1/completions, /v1/chat/completions)
// into a typed GenerationRequest. Everything a client can get wrong is rejected here, before
// anything reaches the engine, as an ApiError that the server turns into an OpenAI error object
// {"error": {"message", "type", "param", "code"}} with the HTTP status it carries.
//
// Fields that change the output in ways the engine cannot honour (tools, logit_bias, non-zero
// presence/frequency penalties, echo, best_of, suffix, images) are refused, never ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "chat/chat_template.h"
#include "engine/sampler.h"

namespace elephant::server {

using Json = chat::Json;

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = {}, std::string code = {},
           std::string type = "invalid_request_error")
      : std::runtime_error(message),
        status(status),
        param(std::move(param)),
        code(std::move(code)),
        type(std::move(type)) {}

  int status;
  std::string param;  // the offending request field; empty: null
  std::string code;   // machine-readable reason; empty: null
  std::string type;
};

// {"error": {...}} for an ApiError.
Json error_body(const ApiError& error);

enum class Endpoint { kCompletions, kChatCompletions };

struct RequestLimits {
  int max_tokens = 4096;               // largest max_tokens a request may ask for
  int max_sequences = 8;               // largest n × number of prompts
  int max_logprobs = 20;               // largest top_logprobs / completions logprobs
  int default_completion_tokens = 16;  // /v1/completions without max_tokens (OpenAI's default)
};

// A completions prompt: text to tokenize, or token ids.
using Prompt = std::variant<std::string, std::vector<int32_t>>;

struct GenerationRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::optional<std::string> model;
  std::vector<Prompt> prompts;  // completions: one or more
  Json messages;                // chat: [{"role", "content": string}], content parts flattened
  int max_tokens = 0;
  int n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  engine::SamplingOptions sampling;
  bool seeded = false;  // `seed` was given; otherwise each request draws one
  std::vector<std::string> stop;
  int top_logprobs = -1;  // -1: no logprobs
};

// Throws ApiError (status 400) naming the field that is wrong.
GenerationRequest parse_generation_request(const Json& body, Endpoint endpoint, const RequestLimits& limits);

}  // namespace elephant::server
