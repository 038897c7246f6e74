// A bounded load test of the in-process server on the shipped model (models/elephant-tiny-lm):
// 32 client threads send 8 requests each over loopback, a mix of completions and chat, streamed
// and not, greedy and seeded sampling, n = 1 and 2, some with stop strings or logprobs, different
// prompts and max_tokens. Each of the 64 distinct requests first runs alone; under load every
// response must equal its lone run (the engine's batch invariance, seen through the whole server:
// text, finish reasons, usage and logprobs), no request may fail, and the server must be healthy
// afterwards with every KV block back in the pool. Throughput and latency are printed, never
// asserted (docs/performance.md quotes them).
//
// C++ rather than a Python client: it runs in-process, so it also runs in the AddressSanitizer
// build and catches races between handler threads and the engine thread there; requests are kept
// short (max_tokens 4..16) so that the sanitized run stays within a couple of minutes on 2 cores.
#include <algorithm>
#include <cstdio>

#include "core/parallel.h"
#include "server/test_server.h"

namespace elephant {
namespace {

using testing::Json;
using Clock = std::chrono::steady_clock;

constexpr int kClients = 32;
constexpr int kRequestsPerClient = 8;
constexpr int kDistinct = 64;

double milliseconds_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The server on the shipped tiny LM (TestServer serves the text fixture, whose forward pass is too
// cheap to load the scheduler with anything but HTTP).
class TinyLmServer {
 public:
  explicit TinyLmServer(server::ServerOptions options) {
    const auto dir = testing::shipped_model_dir("elephant-tiny-lm");
    model_ = models::Model::load(dir);
    tokenizer_ = tokenizer::Tokenizer::load(dir);
    options.port = 0;
    options.model_name = "tiny";
    options.log_requests = false;
    server_ = std::make_unique<server::Server>(
        server::ServedModel{*model_, *tokenizer_, testing::read_ordered_json(dir / "tokenizer_config.json"), ""},
        options);
    thread_ = std::thread([this] { server_->run(); });
  }
  ~TinyLmServer() {
    server_->shutdown(std::chrono::milliseconds(0));
    thread_.join();
  }
  int port() const { return server_->port(); }

 private:
  std::unique_ptr<models::Model> model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::unique_ptr<server::Server> server_;
  std::thread thread_;
};

struct LoadRequest {
  std::string path;
  Json body;
  bool stream = false;
};

// Request d of the 64: its bits pick the endpoint, streaming and sampling, so every combination
// occurs with several prompts and lengths.
LoadRequest distinct_request(int d) {
  static const char* const kPrompts[] = {
      "In the beginning",
      "And God said, Let there be light",
      "The Lord is my shepherd",
      "Blessed are the poor in spirit: for theirs is the kingdom of heaven.",
      "And it came to pass",
      "Now the serpent was more subtil than any beast of the field which the LORD God had made.",
      "Love",
      "Then said Jesus unto his disciples,",
  };
  const bool chat = d % 2 == 1;
  const bool stream = (d / 2) % 2 == 1;
  const bool greedy = (d / 4) % 2 == 0;
  const std::string prompt = kPrompts[(d / 8 + d) % 8];
  LoadRequest request;
  request.stream = stream;
  Json& body = request.body;
  if (chat) {
    request.path = "/v1/chat/completions";
    body["messages"] = Json::array();
    if (d % 3 == 0) body["messages"].push_back({{"role", "system"}, {"content", "Answer briefly."}});
    body["messages"].push_back({{"role", "user"}, {"content", prompt}});
  } else {
    request.path = "/v1/completions";
    body["prompt"] = prompt;
  }
  body["max_tokens"] = 4 + (d * 5) % 13;
  if (greedy) {
    body["temperature"] = 0;
  } else {
    body["temperature"] = 0.9;
    body["top_p"] = 0.95;
    body["seed"] = 1000 + d;
  }
  if (d % 16 == 15 || d % 16 == 4) body["n"] = 2;
  if (d % 7 == 3) body["stop"] = Json::array({",", ";"});
  if (d % 5 == 0) {
    if (chat) {
      body["logprobs"] = true;
      body["top_logprobs"] = 2;
    } else {
      body["logprobs"] = 2;
    }
  }
  if (stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  return request;
}

struct Outcome {
  std::string failure;  // empty: a complete 200 response
  Json output;          // what must not depend on the batch: choices (text, finish, logprobs) and usage
  int64_t completion_tokens = 0;
  double latency_ms = 0;
  double first_token_ms = -1;  // streams: request sent -> first event carrying a token
};

// A chunk that carries generated output (not the chat stream's opening role delta, not usage).
bool carries_token(const Json& chunk) {
  for (const auto& choice : chunk["choices"]) {
    if (!choice["logprobs"].is_null() || !choice["finish_reason"].is_null()) return true;
    if (choice.contains("text") && !choice["text"].get<std::string>().empty()) return true;
    if (choice.contains("delta") && choice["delta"].contains("content") &&
        !choice["delta"]["content"].get<std::string>().empty()) {
      return true;
    }
  }
  return false;
}

// One stream's events folded into the shape of a non-streamed response's choices and usage.
Json fold_stream(const std::vector<std::string>& events, std::string& failure) {
  if (events.empty() || events.back() != "[DONE]") {
    failure = "the stream did not end with [DONE]";
    return nullptr;
  }
  std::map<int, Json> choices;
  Json usage;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const Json chunk = Json::parse(events[i]);
    if (chunk.contains("error")) {
      failure = "error event: " + events[i];
      return nullptr;
    }
    if (!chunk["usage"].is_null()) usage = chunk["usage"];
    for (const auto& choice : chunk["choices"]) {
      Json& folded = choices[choice["index"].get<int>()];
      if (folded.is_null()) folded = {{"text", ""}, {"finish_reason", nullptr}, {"logprobs", Json::array()}};
      if (choice.contains("text")) folded["text"] = folded["text"].get<std::string>() + choice["text"].get<std::string>();
      if (choice.contains("delta") && choice["delta"].contains("content")) {
        folded["text"] = folded["text"].get<std::string>() + choice["delta"]["content"].get<std::string>();
      }
      if (!choice["finish_reason"].is_null()) folded["finish_reason"] = choice["finish_reason"];
      if (!choice["logprobs"].is_null()) folded["logprobs"].push_back(choice["logprobs"]);
    }
  }
  Json output = {{"choices", Json::array()}, {"usage", usage}};
  for (auto& [index, choice] : choices) output["choices"].push_back(std::move(choice));
  return output;
}

Outcome send(int port, const LoadRequest& load_request) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(300, 0);
  Outcome outcome;
  const auto start = Clock::now();
  if (!load_request.stream) {
    auto result = client.Post(load_request.path.c_str(), load_request.body.dump(), "application/json");
    outcome.latency_ms = milliseconds_since(start);
    if (!result || result->status != 200) {
      outcome.failure = result ? std::to_string(result->status) + " " + result->body : "no response";
      return outcome;
    }
    const Json body = Json::parse(result->body);
    outcome.output = {{"choices", body["choices"]}, {"usage", body["usage"]}};
  } else {
    httplib::Request request;
    request.method = "POST";
    request.path = load_request.path;
    request.headers = {{"Content-Type", "application/json"}};
    request.body = load_request.body.dump();
    std::string received;
    request.content_receiver = [&](const char* data, size_t length, uint64_t, uint64_t) {
      received.append(data, length);
      if (outcome.first_token_ms < 0) {
        for (const auto& event : testing::sse_data(received)) {
          if (event != "[DONE]" && carries_token(Json::parse(event))) {
            outcome.first_token_ms = milliseconds_since(start);
            break;
          }
        }
      }
      return true;
    };
    httplib::Response response;
    httplib::Error error = httplib::Error::Success;
    const bool sent = client.send(request, response, error);
    outcome.latency_ms = milliseconds_since(start);
    if (!sent || response.status != 200) {
      outcome.failure = sent ? std::to_string(response.status) + " " + received : httplib::to_string(error);
      return outcome;
    }
    outcome.output = fold_stream(testing::sse_data(received), outcome.failure);
    if (!outcome.failure.empty()) return outcome;
  }
  outcome.completion_tokens = outcome.output["usage"]["completion_tokens"].get<int64_t>();
  return outcome;
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const auto index = static_cast<size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

std::map<std::string, double> metrics(int port) {
  httplib::Client client("127.0.0.1", port);
  auto result = client.Get("/metrics");
  return result ? testing::parse_metrics(result->body) : std::map<std::string, double>{};
}

TEST(ServerLoad, ConcurrentMixedRequestsMatchTheirLoneRuns) {
  // One engine thread, as `elephant serve --threads 1`: the other core runs the HTTP handlers and
  // the 32 clients, and an OpenMP team would stall at every barrier while they preempt it.
  set_thread_count(1);
  server::ServerOptions options;
  options.parallel = kClients;
  TinyLmServer server(options);

  std::vector<LoadRequest> requests;
  std::vector<Outcome> alone;
  for (int d = 0; d < kDistinct; ++d) {
    requests.push_back(distinct_request(d));
    alone.push_back(send(server.port(), requests.back()));
    ASSERT_EQ(alone.back().failure, "") << requests.back().body.dump();
  }
  const double tokens_before = metrics(server.port()).at("elephant_generation_tokens_total");

  // Client c's request j is (8c + 9j) mod 64: every distinct request runs 4 times, in different
  // company each time.
  std::vector<std::vector<Outcome>> outcomes(kClients, std::vector<Outcome>(kRequestsPerClient));
  std::vector<std::thread> clients;
  const auto start = Clock::now();
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int j = 0; j < kRequestsPerClient; ++j) {
        outcomes[c][j] = send(server.port(), requests[(8 * c + 9 * j) % kDistinct]);
      }
    });
  }
  for (auto& client : clients) client.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  int failed = 0;
  int64_t generated = 0;
  std::vector<double> latencies;
  std::vector<double> first_tokens;
  for (int c = 0; c < kClients; ++c) {
    for (int j = 0; j < kRequestsPerClient; ++j) {
      const int d = (8 * c + 9 * j) % kDistinct;
      const Outcome& outcome = outcomes[c][j];
      if (!outcome.failure.empty()) {
        ++failed;
        ADD_FAILURE() << "request " << d << " failed under load: " << outcome.failure;
        continue;
      }
      EXPECT_EQ(outcome.output, alone[d].output) << "request " << d << " differs from its lone run: "
                                                 << requests[d].body.dump();
      generated += outcome.completion_tokens;
      latencies.push_back(outcome.latency_ms);
      if (outcome.first_token_ms >= 0) first_tokens.push_back(outcome.first_token_ms);
    }
  }
  EXPECT_EQ(failed, 0);

  httplib::Client client("127.0.0.1", server.port());
  auto health = client.Get("/health");
  ASSERT_TRUE(health) << "the server is still up";
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(send(server.port(), requests[0]).output, alone[0].output) << "and still serves";
  EXPECT_TRUE(testing::eventually([&] {
    auto m = metrics(server.port());
    return m["elephant_kv_cache_blocks_used"] == 0 && m["elephant_running_sequences"] == 0;
  })) << "every KV block returns to the pool";
  auto m = metrics(server.port());
  EXPECT_EQ(m["elephant_generation_tokens_total"] - tokens_before,
            static_cast<double>(generated + alone[0].completion_tokens));
  EXPECT_EQ(m["elephant_requests_total{endpoint=\"/v1/completions\",status=\"429\"}"], 0);

  if (latencies.empty() || first_tokens.empty()) return;
  std::printf(
      "ServerLoad: %d clients x %d requests (%d distinct, mixed) on elephant-tiny-lm, --parallel %d: %.2f s, "
      "%.1f requests/s, %.0f generated tokens/s; latency p50 %.1f ms p99 %.1f ms; "
      "time to first token (streams) p50 %.1f ms p99 %.1f ms\n",
      kClients, kRequestsPerClient, kDistinct, options.parallel, seconds,
      static_cast<double>(kClients * kRequestsPerClient) / seconds, static_cast<double>(generated) / seconds,
      percentile(latencies, 0.5), percentile(latencies, 0.99), percentile(first_tokens, 0.5),
      percentile(first_tokens, 0.99));
}

}  // namespace
}  // namespace elephant
