// `elephant serve`: an OpenAI-compatible HTTP server (cpp-httplib) on the batching engine.
//
// Threads: httplib's pool (ServerOptions::http_threads) runs the handlers: they validate the
// request, tokenize it, submit one engine sequence per choice and wait on the request's
// EventQueue; one EngineLoop thread owns the Engine and steps it. Nothing else runs inference.
//
// Admission: a request needing k sequences (n × prompts) is accepted only while the sequences in
// flight plus k stay within parallel + max_queue; otherwise 429 with Retry-After. A streaming
// client that disconnects has its sequences cancelled at once (their KV blocks return to the
// pool at the next step). shutdown() answers new generation requests (and /health) with 503,
// lets running requests finish for the grace period, cancels the rest, and only then closes the
// listening socket: httplib ends every streaming response the moment it stops listening.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "chat/chat_template.h"
#include "engine/engine.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace elephant::server {

class EngineLoop;
class Metrics;
struct GenerationRequest;
enum class Endpoint;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                    // 0: any free port (see Server::port)
  std::string model_name;             // the id /v1/models lists and requests may name; required
  std::string api_key;                // non-empty: every endpoint but /health needs "Authorization: Bearer <key>"
  int parallel = 8;                   // sequences decoded together (the engine's max_sequences)
  int max_step_rows = 512;            // rows per engine step (prompt chunks and decode tokens)
  int64_t kv_budget_bytes = 0;        // KV-cache pool; 0: engine::default_kv_budget_bytes
  int max_queue = 64;                 // sequences that may wait for admission beyond `parallel`
  int max_tokens = 4096;              // largest max_tokens per request (and the chat default)
  int max_sequences_per_request = 8;  // n × prompts
  int max_logprobs = 20;              // largest top_logprobs
  int http_threads = 32;              // concurrent connections served; more wait in the accept queue
  int64_t max_body_bytes = 1 << 20;
  int64_t max_header_bytes = 16 << 10;  // all request headers together (httplib caps one line at 8 KiB)
  bool log_requests = true;             // one line per request on stderr
  // Runs on the engine thread before each step that has work; tests use it to hold the engine.
  std::function<void()> before_step;
  // Where the engine's steps run (engine::EngineOptions::forward); empty: the CPU model.
  engine::ForwardFn forward;
};

// What the server serves; everything must outlive the Server.
struct ServedModel {
  models::Model& model;
  const tokenizer::Tokenizer& tokenizer;
  std::optional<chat::Json> chat_config;  // tokenizer_config.json with a chat_template; none: no chat endpoint
  std::string chat_unavailable;           // why chat_config is missing (for the 400 message)
};

class Server {
 public:
  // Binds the port (throws Error naming host and port when it cannot) and starts the engine thread.
  Server(ServedModel model, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const { return port_; }
  int64_t kv_pool_bytes() const;
  // Serves until shutdown() has finished; call once.
  void run();
  // Thread-safe and idempotent; returns once every sequence has finished or been cancelled.
  void shutdown(std::chrono::milliseconds grace);

 private:
  void handle_models(httplib::Response& response) const;
  void handle_generation(const httplib::Request& request, httplib::Response& response, Endpoint endpoint);
  // Checks headers size, API key and draining; throws ApiError.
  void admit_http(const httplib::Request& request) const;
  std::vector<std::vector<int32_t>> tokenize(const GenerationRequest& parsed) const;
  // Admits a request of k sequences or throws ApiError (429 when full, 503 when draining). The
  // request counts as open until the returned token and all its copies are gone.
  std::shared_ptr<void> reserve(int k);
  void release_one();

  ServedModel served_;
  ServerOptions options_;
  int port_ = 0;
  int64_t created_ = 0;  // unix seconds, for /v1/models
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<EngineLoop> engine_;
  std::unique_ptr<httplib::Server> http_;

  mutable std::mutex flight_mutex_;
  std::condition_variable flight_changed_;
  int in_flight_ = 0;             // sequences submitted and not finished
  int open_requests_ = 0;         // generation requests admitted whose response is not complete
  bool running_ = false;          // run() has been called
  bool listen_returned_ = false;  // and httplib's listen has returned
  bool draining_ = false;
  bool shut_down_ = false;
};

}  // namespace elephant::server
