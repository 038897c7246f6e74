// An in-process `elephant serve` on the text_mixtral fixture (ephemeral port, request log off),
// with httplib's client, a gate that holds the engine thread between steps so tests can stop it
// at a known point instead of racing it, and parsers for SSE bodies and Prometheus text.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "server/server.h"
#include "support/fixtures.h"

namespace elephant::testing {

using Json = chat::Json;

inline const char* kServedName = "text-mixtral";

// Holds the engine thread in ServerOptions::before_step: closed, each step needs a permit.
class StepGate {
 public:
  void pass() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return open_ || permits_ > 0; });
    if (!open_) --permits_;
  }
  void allow(int steps) {
    std::lock_guard lock(mutex_);
    permits_ += steps;
    changed_.notify_all();
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
  int permits_ = 0;
};

inline Json read_ordered_json(const std::filesystem::path& path) {
  std::ifstream stream(path);
  return Json::parse(stream);
}

class TestServer {
 public:
  // With a gate, the engine steps only as the gate allows (open it before the server ends).
  explicit TestServer(server::ServerOptions options = {}, StepGate* gate = nullptr) {
    const auto dir = fixture_dir("text_mixtral");
    model_ = models::Model::load(dir);
    tokenizer_ = tokenizer::Tokenizer::load(dir);
    options.port = 0;
    options.model_name = kServedName;
    options.log_requests = false;
    if (gate) options.before_step = [gate] { gate->pass(); };
    server_ = std::make_unique<server::Server>(
        server::ServedModel{*model_, *tokenizer_, read_ordered_json(dir / "tokenizer_config.json"), ""}, options);
    thread_ = std::thread([this] { server_->run(); });
  }
  ~TestServer() { stop(std::chrono::milliseconds(0)); }

  void stop(std::chrono::milliseconds grace) {
    if (!thread_.joinable()) return;
    server_->shutdown(grace);
    thread_.join();
  }

  server::Server& server() { return *server_; }
  int port() const { return server_->port(); }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }

  httplib::Client client() const {
    httplib::Client client("127.0.0.1", port());
    client.set_read_timeout(60, 0);
    return client;
  }

 private:
  std::unique_ptr<models::Model> model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::unique_ptr<server::Server> server_;
  std::thread thread_;
};

struct HttpReply {
  int status = 0;  // 0: no response (connection failed)
  std::string body;
  httplib::Headers headers;
  Json json() const { return Json::parse(body); }
};

inline HttpReply post(const TestServer& server, const std::string& path, const std::string& body,
                      const httplib::Headers& headers = {}) {
  auto client = server.client();
  auto result = client.Post(path.c_str(), headers, body, "application/json");
  if (!result) return {};
  return {result->status, result->body, result->headers};
}

inline HttpReply post(const TestServer& server, const std::string& path, const Json& body,
                      const httplib::Headers& headers = {}) {
  return post(server, path, body.dump(), headers);
}

inline HttpReply get(const TestServer& server, const std::string& path, const httplib::Headers& headers = {}) {
  auto client = server.client();
  auto result = client.Get(path.c_str(), headers);
  if (!result) return {};
  return {result->status, result->body, result->headers};
}

// The payloads of "data: ..." events, in order.
inline std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> events;
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find("\n\n", start);
    if (end == std::string::npos) end = body.size();
    const std::string event = body.substr(start, end - start);
    if (event.rfind("data: ", 0) == 0) events.push_back(event.substr(6));
    start = end + 2;
  }
  return events;
}

// Prometheus text: "name{labels}" -> value, for every sample line.
inline std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> samples;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

inline std::map<std::string, double> metrics(const TestServer& server) {
  return parse_metrics(get(server, "/metrics").body);
}

// Polls until `condition` holds; fails the test after 20 s instead of hanging it.
template <typename Condition>
bool eventually(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

inline const Json& text_reference() {
  static const Json reference = read_ordered_json(fixture_dir("text_mixtral") / "text_reference.json");
  return reference;
}

inline const Json& reference_case(const std::string& name) {
  for (const auto& c : text_reference()["cases"]) {
    if (c["name"] == name) return c;
  }
  throw std::runtime_error("text_reference.json has no case " + name);
}

}  // namespace elephant::testing
