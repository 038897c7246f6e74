#include "server/server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <sys/socket.h>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <random>
#include <thread>

#include "core/error.h"
#include "server/choice_text.h"
#include "server/engine_loop.h"
#include "server/metrics.h"
#include "server/openai_request.h"

namespace elephant::server {
namespace {

using Clock = std::chrono::steady_clock;

// What the access log needs beyond httplib's Request and Response. httplib runs routing, the
// content provider and the logger of one request on the same pool thread, so a thread_local
// carries it from the handler to the log line.
struct RequestLog {
  std::optional<Clock::time_point> start;
  int64_t prompt_tokens = -1;
  int64_t completion_tokens = -1;
  std::string note;
};
thread_local RequestLog current_log;

constexpr const char* kEndpoints[] = {"/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/metrics"};

std::string endpoint_label(const std::string& path) {
  for (const char* known : kEndpoints) {
    if (path == known) return path;
  }
  return "other";
}

// Generated text is valid UTF-8 (the tokenizer repairs it), but a client's strings echoed in
// errors may not be: replace rather than throw.
std::string dump(const Json& json) { return json.dump(-1, ' ', false, Json::error_handler_t::replace); }

void send_json(httplib::Response& response, int status, const Json& body) {
  response.status = status;
  response.set_content(dump(body), "application/json");
}

void send_error(httplib::Response& response, const ApiError& error) {
  send_json(response, error.status, error_body(error));
  if (error.status == 429) response.set_header("Retry-After", "1");
  if (error.status == 401) response.set_header("WWW-Authenticate", "Bearer");
}

ApiError server_error(int status, std::string message) {
  return ApiError(status, std::move(message), "", "", "server_error");
}

std::string finish_reason(engine::StopReason reason) {
  switch (reason) {
    case engine::StopReason::kEos:
    case engine::StopReason::kStopString:
      return "stop";
    case engine::StopReason::kMaxTokens:
    case engine::StopReason::kContextFull:
      return "length";
    case engine::StopReason::kCallback:
    case engine::StopReason::kCancelled:
      break;
  }
  return "cancelled";
}

std::string random_id(const char* prefix) {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return fmt::format("{}{:016x}{:08x}", prefix, generator(), static_cast<uint32_t>(generator()));
}

// Compares every byte whatever the first difference, so response time does not leak the key.
bool same_secret(std::string_view given, std::string_view key) {
  unsigned char difference = given.size() == key.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i) {
    difference |= static_cast<unsigned char>(given[i] ^ (i < key.size() ? key[i] : 0));
  }
  return difference == 0;
}

// httplib adds these to every request's headers itself; they are not the client's.
bool is_injected_header(const std::string& name) {
  return name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" || name == "LOCAL_PORT";
}

Json usage_json(int64_t prompt_tokens, int64_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}};
}

Json utf8_bytes(const std::string& text) {
  Json bytes = Json::array();
  for (unsigned char c : text) bytes.push_back(static_cast<int>(c));
  return bytes;
}

// One token as text: special tokens included, so every id has a visible string.
std::string token_text(const tokenizer::Tokenizer& tokenizer, int32_t id) {
  return tokenizer.decode(std::span<const int32_t>(&id, 1), false);
}

// Chat format: {"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}.
Json chat_logprob(const tokenizer::Tokenizer& tokenizer, const engine::TokenLogprobs& logprobs) {
  const auto entry = [&](const engine::TokenLogprob& token) {
    const std::string text = token_text(tokenizer, token.token);
    return Json{{"token", text}, {"logprob", token.logprob}, {"bytes", utf8_bytes(text)}};
  };
  Json result = entry(logprobs.chosen);
  result["top_logprobs"] = Json::array();
  for (const auto& top : logprobs.top) result["top_logprobs"].push_back(entry(top));
  return result;
}

// Legacy completions format: parallel arrays; top_logprobs entries are {text: logprob} objects, so
// tokens that decode to the same text keep the most likely one. text_offset counts bytes.
Json completion_logprobs(const tokenizer::Tokenizer& tokenizer, const std::vector<engine::TokenLogprobs>& tokens,
                         size_t& offset) {
  Json result = {{"tokens", Json::array()},
                 {"token_logprobs", Json::array()},
                 {"top_logprobs", Json::array()},
                 {"text_offset", Json::array()}};
  for (const auto& token : tokens) {
    const std::string text = token_text(tokenizer, token.chosen.token);
    result["tokens"].push_back(text);
    result["token_logprobs"].push_back(token.chosen.logprob);
    Json top = Json::object();
    for (const auto& candidate : token.top) {
      const std::string candidate_text = token_text(tokenizer, candidate.token);
      if (!top.contains(candidate_text)) top[candidate_text] = candidate.logprob;
    }
    result["top_logprobs"].push_back(std::move(top));
    result["text_offset"].push_back(offset);
    offset += text.size();
  }
  return result;
}

// httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, fixed when the shared library
// was built): a burst of clients overflows it, and with SYN cookies the kernel then drops
// connections the client already believes open. Linux resizes the queue when listen() is called
// again on a listening socket.
class HttpServer : public httplib::Server {
 public:
  void widen_listen_queue() { ::listen(svr_sock_, SOMAXCONN); }
};

struct Choice {
  engine::RequestId id = -1;
  bool finished = false;
  engine::GenerateResult result;
  std::vector<engine::TokenLogprobs> logprobs;  // non-streaming: every token's
  std::unique_ptr<ChoiceText> text;             // streaming
  size_t text_offset = 0;                       // streaming completions logprobs
};

// Engine-thread state of one sequence between callbacks.
struct SequenceTiming {
  Clock::time_point submitted;
  std::optional<Clock::time_point> last_token;
  std::optional<engine::TokenLogprobs> pending_logprobs;  // from on_logprobs, sent with on_token
};

// One generation request from admission to its last event.
struct Generation {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string id;
  int64_t created = 0;
  std::string model;
  int top_logprobs = -1;
  bool include_usage = false;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::shared_ptr<EventQueue> events = std::make_shared<EventQueue>();
  std::vector<Choice> choices;
  int unfinished = 0;
  bool cancelled = false;  // a sequence ended by cancellation (shutdown or engine failure)

  bool chat() const { return endpoint == Endpoint::kChatCompletions; }

  Json chunk(Json choice) const {
    Json chunk = {{"id", id},
                  {"object", chat() ? "chat.completion.chunk" : "text_completion"},
                  {"created", created},
                  {"model", model},
                  {"choices", Json::array({std::move(choice)})}};
    if (include_usage) chunk["usage"] = nullptr;
    return chunk;
  }

  Json chunk_choice(int index, const std::string& text, Json logprobs, Json finish) const {
    if (chat()) {
      Json delta = Json::object();
      if (!text.empty()) delta["content"] = text;
      return {{"index", index},
              {"delta", std::move(delta)},
              {"logprobs", std::move(logprobs)},
              {"finish_reason", std::move(finish)}};
    }
    return {{"index", index}, {"text", text}, {"logprobs", std::move(logprobs)}, {"finish_reason", std::move(finish)}};
  }
};

}  // namespace

Server::Server(ServedModel model, ServerOptions options) : served_(std::move(model)), options_(std::move(options)) {
  if (options_.model_name.empty()) fail("--model-name: the served model needs a non-empty name");
  if (options_.parallel < 1) fail("--parallel {}: expected at least 1", options_.parallel);
  if (options_.max_queue < 0) fail("--max-queue {}: expected at least 0", options_.max_queue);
  if (options_.max_tokens < 1) fail("--max-tokens-limit {}: expected at least 1", options_.max_tokens);
  if (options_.max_sequences_per_request < 1 ||
      options_.max_sequences_per_request > options_.parallel + options_.max_queue) {
    fail("--max-n {}: expected 1..{} (--parallel + --max-queue)", options_.max_sequences_per_request,
         options_.parallel + options_.max_queue);
  }
  if (options_.max_logprobs < 0) fail("--max-logprobs {}: expected at least 0", options_.max_logprobs);
  if (options_.http_threads < 1) fail("--http-threads {}: expected at least 1", options_.http_threads);
  if (options_.max_body_bytes < 1) fail("--max-body-bytes {}: expected at least 1", options_.max_body_bytes);
  if (options_.max_header_bytes < 1) fail("--max-header-bytes {}: expected at least 1", options_.max_header_bytes);
  if (served_.tokenizer.vocab_size() > served_.model.config().vocab_size) {
    fail("the tokenizer has {} ids but the model's vocabulary is {}", served_.tokenizer.vocab_size(),
         served_.model.config().vocab_size);
  }
  // A client that disconnects makes the next send() raise SIGPIPE, whose default action ends the
  // process; ignored, the send fails with EPIPE and the stream is cancelled instead.
  std::signal(SIGPIPE, SIG_IGN);

  metrics_ = std::make_unique<Metrics>();
  engine::EngineOptions engine_options;
  engine_options.max_sequences = options_.parallel;
  engine_options.max_step_rows = options_.max_step_rows;
  engine_options.kv_budget_bytes = options_.kv_budget_bytes;
  engine_options.forward = options_.forward;
  engine_ = std::make_unique<EngineLoop>(served_.model, engine_options, options_.before_step);

  auto http = std::make_unique<HttpServer>();
  HttpServer& listener = *http;
  http_ = std::move(http);
  const int threads = options_.http_threads;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http_->set_payload_max_length(static_cast<size_t>(options_.max_body_bytes));
  http_->set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    current_log = {};
    current_log.start = Clock::now();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http_->set_logger([this](const httplib::Request& request, const httplib::Response& response) {
    metrics_->count_request(endpoint_label(request.path), response.status);
    if (options_.log_requests) {
      std::string line = fmt::format("{} {} {}", request.method, request.path, response.status);
      if (current_log.prompt_tokens >= 0) line += fmt::format(" prompt_tokens={}", current_log.prompt_tokens);
      if (current_log.completion_tokens >= 0) {
        line += fmt::format(" completion_tokens={}", current_log.completion_tokens);
      }
      if (current_log.start) {
        line += fmt::format(" {:.1f}ms",
                            std::chrono::duration<double, std::milli>(Clock::now() - *current_log.start).count());
      }
      if (!current_log.note.empty()) line += " (" + current_log.note + ")";
      std::fprintf(stderr, "%s\n", line.c_str());
    }
    current_log = {};
  });
  // httplib's own rejections (unknown route, oversized body, unparsable request) get OpenAI error
  // bodies too; responses that already have one are left alone.
  http_->set_error_handler([this](const httplib::Request& request, httplib::Response& response) {
    if (!response.body.empty()) return;
    std::string message;
    if (response.status == 404) {
      message = fmt::format(
          "no endpoint {} {}: the endpoints are GET /v1/models, POST /v1/completions, "
          "POST /v1/chat/completions, GET /health, GET /metrics",
          request.method, request.path);
    } else if (response.status == 413) {
      message = fmt::format("the request body is larger than {} bytes (--max-body-bytes)", options_.max_body_bytes);
    } else {
      message = fmt::format("the HTTP request was rejected with status {} (malformed request line or headers?)",
                            response.status);
    }
    response.set_content(dump(error_body(ApiError(response.status, message))), "application/json");
  });

  // Every handler: header limit, then the API key (except /health), then the handler, with
  // ApiError and anything unexpected turned into an error object.
  const auto route = [this](bool needs_key, std::function<void(const httplib::Request&, httplib::Response&)> handler) {
    return
        [this, needs_key, handler = std::move(handler)](const httplib::Request& request, httplib::Response& response) {
          try {
            size_t header_bytes = 0;
            for (const auto& [name, value] : request.headers) {
              if (!is_injected_header(name)) header_bytes += name.size() + value.size() + 4;
            }
            if (header_bytes > static_cast<size_t>(options_.max_header_bytes)) {
              throw ApiError(431, fmt::format("the request headers take {} bytes: at most {} (--max-header-bytes)",
                                              header_bytes, options_.max_header_bytes));
            }
            if (needs_key && !options_.api_key.empty()) {
              const std::string authorization = request.get_header_value("Authorization");
              const std::string prefix = "Bearer ";
              if (authorization.rfind(prefix, 0) != 0 ||
                  !same_secret(authorization.substr(prefix.size()), options_.api_key)) {
                throw ApiError(401,
                               authorization.empty() ? "missing API key: send the header 'Authorization: Bearer <key>'"
                                                     : "invalid API key in the Authorization header",
                               "", "invalid_api_key");
              }
            }
            handler(request, response);
          } catch (const ApiError& error) {
            send_error(response, error);
          } catch (const std::exception& error) {
            send_error(response, server_error(500, fmt::format("internal error: {}", error.what())));
          }
        };
  };
  http_->Get("/health", route(false, [this](const httplib::Request&, httplib::Response& response) {
               std::lock_guard lock(flight_mutex_);
               const std::string failure = engine_->failure();
               if (!failure.empty()) {
                 send_json(response, 503, {{"status", "error"}, {"message", failure}});
               } else {
                 send_json(response, draining_ ? 503 : 200, {{"status", draining_ ? "shutting down" : "ok"}});
               }
             }));
  http_->Get("/metrics", route(true, [this](const httplib::Request&, httplib::Response& response) {
               response.set_content(metrics_->render(engine_->snapshot()), "text/plain; version=0.0.4; charset=utf-8");
             }));
  http_->Get("/v1/models",
             route(true, [this](const httplib::Request&, httplib::Response& response) { handle_models(response); }));
  http_->Post("/v1/completions", route(true, [this](const httplib::Request& request, httplib::Response& response) {
                handle_generation(request, response, Endpoint::kCompletions);
              }));
  http_->Post("/v1/chat/completions", route(true, [this](const httplib::Request& request, httplib::Response& response) {
                handle_generation(request, response, Endpoint::kChatCompletions);
              }));

  port_ = options_.port == 0 ? http_->bind_to_any_port(options_.host)
                             : (http_->bind_to_port(options_.host, options_.port) ? options_.port : -1);
  if (port_ < 0) {
    fail("cannot listen on {}:{} (port in use, or not an address of this machine?)", options_.host, options_.port);
  }
  listener.widen_listen_queue();
  created_ = static_cast<int64_t>(std::time(nullptr));
}

Server::~Server() {
  shutdown(std::chrono::milliseconds(0));
  // The engine's last callbacks use the metrics and the flight counter: stop it first.
  http_.reset();
  engine_.reset();
}

void Server::run() {
  {
    std::lock_guard lock(flight_mutex_);
    if (draining_ || running_) return;
    running_ = true;
  }
  http_->listen_after_bind();
  std::lock_guard lock(flight_mutex_);
  listen_returned_ = true;
}

void Server::shutdown(std::chrono::milliseconds grace) {
  std::unique_lock lock(flight_mutex_);
  if (draining_) {
    flight_changed_.wait(lock, [&] { return shut_down_; });
    return;
  }
  draining_ = true;
  flight_changed_.wait_for(lock, grace, [&] { return open_requests_ == 0; });
  // A request admitted just before draining may submit after a cancel_all: cancel until none is left.
  while (open_requests_ > 0) {
    lock.unlock();
    engine_->cancel_all();
    lock.lock();
    flight_changed_.wait_for(lock, std::chrono::milliseconds(100), [&] { return open_requests_ == 0; });
  }
  if (running_) {
    // stop() only closes a socket that listen has opened; run() may not have got there yet.
    while (!http_->is_running() && !listen_returned_) {
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      lock.lock();
    }
    http_->stop();
  }
  shut_down_ = true;
  flight_changed_.notify_all();
}

std::shared_ptr<void> Server::reserve(int k) {
  std::lock_guard lock(flight_mutex_);
  if (draining_) throw server_error(503, "the server is shutting down");
  const int capacity = options_.parallel + options_.max_queue;
  if (in_flight_ + k > capacity) {
    throw ApiError(429,
                   fmt::format("the server is busy: {} sequences are running or queued and this request needs {} "
                               "(limit {} = --parallel + --max-queue); retry later",
                               in_flight_, k, capacity),
                   "", "rate_limit_exceeded", "rate_limit_error");
  }
  in_flight_ += k;
  ++open_requests_;
  return std::shared_ptr<void>(nullptr, [this](void*) {
    std::lock_guard inner(flight_mutex_);
    --open_requests_;
    flight_changed_.notify_all();
  });
}

void Server::release_one() {
  std::lock_guard lock(flight_mutex_);
  --in_flight_;
  flight_changed_.notify_all();
}

void Server::handle_models(httplib::Response& response) const {
  send_json(response, 200,
            {{"object", "list"},
             {"data", Json::array({{{"id", options_.model_name},
                                    {"object", "model"},
                                    {"created", created_},
                                    {"owned_by", "elephant"},
                                    {"max_model_len", served_.model.context_length()}}})}});
}

std::vector<std::vector<int32_t>> Server::tokenize(const GenerationRequest& parsed) const {
  const tokenizer::Tokenizer& tokenizer = served_.tokenizer;
  std::vector<std::vector<int32_t>> prompts;
  if (parsed.endpoint == Endpoint::kChatCompletions) {
    if (!served_.chat_config) {
      throw ApiError(400,
                     fmt::format("this model has no chat template ({}): use /v1/completions", served_.chat_unavailable),
                     "messages", "chat_template_missing");
    }
    std::string text;
    try {
      text = chat::apply_chat_template(*served_.chat_config, parsed.messages, true);
    } catch (const Error& error) {
      throw ApiError(400, fmt::format("the model's chat template rejected the messages: {}", error.what()), "messages");
    }
    // The template writes the special tokens itself.
    prompts.push_back(tokenizer.encode(text, false));
  } else {
    for (const auto& prompt : parsed.prompts) {
      if (const auto* text = std::get_if<std::string>(&prompt)) {
        prompts.push_back(tokenizer.encode(*text, true));
      } else {
        const auto& ids = std::get<std::vector<int32_t>>(prompt);
        const int vocab = served_.model.config().vocab_size;
        for (int32_t id : ids) {
          if (id >= vocab) {
            throw ApiError(400, fmt::format("'prompt' has token id {}, outside the vocabulary [0, {})", id, vocab),
                           "prompt");
          }
        }
        prompts.push_back(ids);
      }
    }
  }
  const char* param = parsed.endpoint == Endpoint::kChatCompletions ? "messages" : "prompt";
  for (const auto& ids : prompts) {
    if (ids.empty()) throw ApiError(400, "the prompt is empty (no tokens after tokenization)", param);
    if (static_cast<int64_t>(ids.size()) > served_.model.context_length()) {
      throw ApiError(400,
                     fmt::format("the prompt has {} tokens but the model's context holds {}", ids.size(),
                                 served_.model.context_length()),
                     param, "context_length_exceeded");
    }
  }
  return prompts;
}

void Server::handle_generation(const httplib::Request& http_request, httplib::Response& response, Endpoint endpoint) {
  Json body;
  try {
    body = Json::parse(http_request.body);
  } catch (const Json::exception& error) {  // parse_error, or out_of_range for a number past double
    throw ApiError(400, fmt::format("the request body is not valid JSON: {}", error.what()));
  }
  RequestLimits limits;
  limits.max_tokens = options_.max_tokens;
  limits.max_sequences = options_.max_sequences_per_request;
  limits.max_logprobs = options_.max_logprobs;
  const GenerationRequest parsed = parse_generation_request(body, endpoint, limits);
  if (parsed.model && *parsed.model != options_.model_name) {
    throw ApiError(400,
                   fmt::format("model '{}' is not served here: this server serves '{}' (GET /v1/models)", *parsed.model,
                               options_.model_name),
                   "model", "model_not_found");
  }
  const std::vector<std::vector<int32_t>> prompts = tokenize(parsed);

  auto generation = std::make_shared<Generation>();
  generation->endpoint = endpoint;
  generation->id = random_id(endpoint == Endpoint::kChatCompletions ? "chatcmpl-" : "cmpl-");
  generation->created = static_cast<int64_t>(std::time(nullptr));
  generation->model = options_.model_name;
  generation->top_logprobs = parsed.top_logprobs;
  generation->include_usage = parsed.include_usage;
  for (const auto& ids : prompts) generation->prompt_tokens += static_cast<int64_t>(ids.size());
  const int k = static_cast<int>(prompts.size()) * parsed.n;
  generation->choices.resize(static_cast<size_t>(k));
  generation->unfinished = k;
  current_log.prompt_tokens = generation->prompt_tokens;

  // Held by this handler and, when streaming, by the content provider: the request stays open
  // until its response has been written.
  const std::shared_ptr<void> open_request = reserve(k);
  metrics_->count_tokens(generation->prompt_tokens, 0);
  const uint64_t seed = parsed.seeded ? parsed.sampling.seed : std::random_device{}();
  int submitted = 0;
  try {
    for (int choice = 0; choice < k; ++choice) {
      engine::Request request;
      request.prompt = prompts[static_cast<size_t>(choice / parsed.n)];
      request.options.sampling = parsed.sampling;
      // Choice i of a prompt draws from seed + i: n = 1 with a seed reproduces, n > 1 differs.
      request.options.sampling.seed = seed + static_cast<uint64_t>(choice % parsed.n);
      request.options.max_new_tokens = parsed.max_tokens;
      request.options.stop_strings = parsed.stop;
      request.options.top_logprobs = parsed.top_logprobs;
      const tokenizer::Tokenizer& tokenizer = served_.tokenizer;
      request.callbacks.detokenize = [&tokenizer](std::span<const int32_t> ids) { return tokenizer.decode(ids, true); };
      auto timing = std::make_shared<SequenceTiming>();
      timing->submitted = Clock::now();
      auto events = generation->events;
      Metrics* metrics = metrics_.get();
      request.callbacks.on_logprobs = [timing](const engine::TokenLogprobs& logprobs) {
        timing->pending_logprobs = logprobs;
      };
      request.callbacks.on_token = [timing, events, metrics, choice](int32_t token) {
        const auto now = Clock::now();
        if (timing->last_token) {
          metrics->inter_token_latency_seconds.observe(
              std::chrono::duration<double>(now - *timing->last_token).count());
        } else {
          metrics->time_to_first_token_seconds.observe(std::chrono::duration<double>(now - timing->submitted).count());
        }
        timing->last_token = now;
        SequenceEvent event;
        event.choice = choice;
        event.token = token;
        event.logprobs = std::move(timing->pending_logprobs);
        timing->pending_logprobs.reset();
        events->push(std::move(event));
        return true;
      };
      request.callbacks.on_finish = [this, events, metrics, choice](const engine::GenerateResult& result) {
        metrics->count_finished(finish_reason(result.stop_reason));
        metrics->count_tokens(0, static_cast<int64_t>(result.tokens.size()));
        SequenceEvent event;
        event.kind = SequenceEvent::Kind::kFinish;
        event.choice = choice;
        event.result = result;
        events->push(std::move(event));
        release_one();
      };
      generation->choices[static_cast<size_t>(choice)].id = engine_->submit(std::move(request));
      ++submitted;
    }
  } catch (const Error& error) {
    for (int choice = 0; choice < submitted; ++choice)
      engine_->cancel(generation->choices[static_cast<size_t>(choice)].id);
    for (int left = submitted; left < k; ++left) release_one();
    const std::string failure = engine_->failure();
    if (!failure.empty()) throw server_error(500, fmt::format("the engine stopped after an error: {}", failure));
    throw ApiError(400, error.what());
  }

  // Applies one event to its choice; returns the SSE text it produces when streaming.
  const auto apply = [this, generation](SequenceEvent& event, bool streaming) -> std::string {
    Choice& choice = generation->choices[static_cast<size_t>(event.choice)];
    const tokenizer::Tokenizer& tokenizer = served_.tokenizer;
    if (event.kind == SequenceEvent::Kind::kToken) {
      if (!streaming) {
        if (event.logprobs) choice.logprobs.push_back(std::move(*event.logprobs));
        return {};
      }
      const std::string piece = choice.text->add(event.token);
      Json logprobs = nullptr;
      if (event.logprobs) {
        logprobs = generation->chat() ? Json{{"content", Json::array({chat_logprob(tokenizer, *event.logprobs)})}}
                                      : completion_logprobs(tokenizer, {*event.logprobs}, choice.text_offset);
      }
      if (piece.empty() && logprobs.is_null()) return {};
      return "data: " +
             dump(generation->chunk(generation->chunk_choice(event.choice, piece, std::move(logprobs), nullptr))) +
             "\n\n";
    }
    choice.finished = true;
    choice.result = std::move(event.result);
    --generation->unfinished;
    generation->completion_tokens += static_cast<int64_t>(choice.result.tokens.size());
    current_log.completion_tokens = generation->completion_tokens;
    if (choice.result.stop_reason == engine::StopReason::kCancelled) {
      if (!streaming || generation->cancelled) return {};
      generation->cancelled = true;
      const std::string failure = engine_->failure();
      const ApiError error = failure.empty() ? server_error(503, "the server shut down before the request finished")
                                             : server_error(500, "the engine stopped after an error: " + failure);
      return "data: " + dump(error_body(error)) + "\n\n";
    }
    if (!streaming) return {};
    const std::string rest = choice.text->finish(choice.result);
    return "data: " +
           dump(generation->chunk(
               generation->chunk_choice(event.choice, rest, nullptr, finish_reason(choice.result.stop_reason)))) +
           "\n\n";
  };

  if (!parsed.stream) {
    while (generation->unfinished > 0) {
      for (auto& event : generation->events->pop_all(std::chrono::milliseconds(200))) apply(event, false);
    }
    if (generation->cancelled ||
        std::any_of(generation->choices.begin(), generation->choices.end(),
                    [](const Choice& c) { return c.result.stop_reason == engine::StopReason::kCancelled; })) {
      const std::string failure = engine_->failure();
      throw failure.empty() ? server_error(503, "the server shut down before the request finished")
                            : server_error(500, "the engine stopped after an error: " + failure);
    }
    Json choices = Json::array();
    for (size_t index = 0; index < generation->choices.size(); ++index) {
      const Choice& choice = generation->choices[index];
      Json logprobs = nullptr;
      if (generation->top_logprobs >= 0) {
        if (generation->chat()) {
          logprobs = {{"content", Json::array()}};
          for (const auto& token : choice.logprobs)
            logprobs["content"].push_back(chat_logprob(served_.tokenizer, token));
        } else {
          size_t offset = 0;
          logprobs = completion_logprobs(served_.tokenizer, choice.logprobs, offset);
        }
      }
      Json entry = {{"index", index}};
      if (generation->chat()) {
        entry["message"] = {{"role", "assistant"}, {"content", choice.result.text}};
      } else {
        entry["text"] = choice.result.text;
      }
      entry["logprobs"] = std::move(logprobs);
      entry["finish_reason"] = finish_reason(choice.result.stop_reason);
      choices.push_back(std::move(entry));
    }
    send_json(response, 200,
              {{"id", generation->id},
               {"object", generation->chat() ? "chat.completion" : "text_completion"},
               {"created", generation->created},
               {"model", generation->model},
               {"choices", std::move(choices)},
               {"usage", usage_json(generation->prompt_tokens, generation->completion_tokens)}});
    return;
  }

  for (auto& choice : generation->choices) choice.text = std::make_unique<ChoiceText>(served_.tokenizer, parsed.stop);
  response.set_header("Cache-Control", "no-cache");
  const auto cancel_unfinished = [this, generation] {
    for (const auto& choice : generation->choices) {
      if (!choice.finished) engine_->cancel(choice.id);
    }
  };
  auto started = std::make_shared<bool>(false);
  response.set_chunked_content_provider(
      "text/event-stream",
      [this, generation, apply, cancel_unfinished, started, open_request](size_t, httplib::DataSink& sink) {
        std::string out;
        if (!*started) {
          *started = true;
          // OpenAI opens a chat stream with the assistant role, before any content.
          if (generation->chat()) {
            for (size_t index = 0; index < generation->choices.size(); ++index) {
              Json choice = generation->chunk_choice(static_cast<int>(index), "", nullptr, nullptr);
              choice["delta"] = {{"role", "assistant"}, {"content", ""}};
              out += "data: " + dump(generation->chunk(std::move(choice))) + "\n\n";
            }
          }
        } else {
          auto events = generation->events->pop_all(std::chrono::milliseconds(50));
          // Waiting is the moment to notice a client that went away: is_writable() peeks at
          // the socket, which reads end-of-file once the peer has closed it.
          if (events.empty() && !sink.is_writable()) {
            cancel_unfinished();
            metrics_->count_disconnect();
            current_log.note = "client disconnected";
            return false;
          }
          for (auto& event : events) out += apply(event, true);
        }
        if (generation->unfinished == 0) {
          if (generation->include_usage) {
            Json usage_chunk = generation->chunk(nullptr);
            usage_chunk["choices"] = Json::array();
            usage_chunk["usage"] = usage_json(generation->prompt_tokens, generation->completion_tokens);
            out += "data: " + dump(usage_chunk) + "\n\n";
          }
          out += "data: [DONE]\n\n";
        }
        if (!out.empty() && !sink.write(out.data(), out.size())) {
          cancel_unfinished();
          metrics_->count_disconnect();
          current_log.note = "client disconnected";
          return false;
        }
        if (generation->unfinished == 0) sink.done();
        return true;
      },
      // Runs however the response ends; a stream cut short leaves no sequence behind.
      [cancel_unfinished](bool) { cancel_unfinished(); });
}

int64_t Server::kv_pool_bytes() const { return engine_->kv_pool_bytes(); }

}  // namespace elephant::server
