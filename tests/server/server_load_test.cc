// A small load test: 16 concurrent streaming completions against the in-process server. It checks
// that every stream completes and prints throughput and client-side time to first token
// (docs/server.md quotes it); the numbers are reported, never asserted.
#include <algorithm>
#include <cstdio>

#include "server/test_server.h"

namespace elephant {
namespace {

using testing::Json;
using Clock = std::chrono::steady_clock;

struct StreamResult {
  int status = 0;
  bool done = false;
  double first_chunk_ms = -1.0;  // request sent -> first SSE event
};

StreamResult run_stream(int port, const Json& body) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(120, 0);
  httplib::Request request;
  request.method = "POST";
  request.path = "/v1/completions";
  request.headers = {{"Content-Type", "application/json"}};
  request.body = body.dump();
  std::string received;
  StreamResult result;
  const auto start = Clock::now();
  request.content_receiver = [&](const char* data, size_t length, uint64_t, uint64_t) {
    if (result.first_chunk_ms < 0) {
      result.first_chunk_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    }
    received.append(data, length);
    return true;
  };
  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  if (client.send(request, response, error)) result.status = response.status;
  const auto events = testing::sse_data(received);
  result.done = !events.empty() && events.back() == "[DONE]";
  return result;
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const auto index = static_cast<size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

TEST(ServerLoad, SixteenConcurrentStreams) {
  constexpr int kStreams = 16;
  constexpr int kTokens = 32;
  server::ServerOptions options;
  options.parallel = kStreams;
  testing::TestServer server(options);
  std::vector<StreamResult> results(kStreams);
  std::vector<std::thread> clients;
  const auto start = Clock::now();
  for (int i = 0; i < kStreams; ++i) {
    clients.emplace_back([&, i] {
      const Json body = {{"prompt", "The quick brown fox " + std::string(static_cast<size_t>(i), 'a')},
                         {"max_tokens", kTokens},
                         {"temperature", 0.8},
                         {"seed", i},
                         {"stream", true}};
      results[static_cast<size_t>(i)] = run_stream(server.port(), body);
    });
  }
  for (auto& client : clients) client.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<double> first_chunk_ms;
  for (const auto& result : results) {
    EXPECT_EQ(result.status, 200);
    EXPECT_TRUE(result.done) << "every stream ends with [DONE]";
    first_chunk_ms.push_back(result.first_chunk_ms);
  }
  const auto m = testing::metrics(server);
  const double tokens = m.at("elephant_generation_tokens_total");
  EXPECT_GT(tokens, 0);
  EXPECT_LE(tokens, kStreams * kTokens);
  EXPECT_TRUE(testing::eventually([&] { return testing::metrics(server)["elephant_kv_cache_blocks_used"] == 0; }))
      << "every KV block returns to the pool";
  std::printf(
      "ServerLoad: %d concurrent streams x %d tokens: %.2f s, %.1f requests/s, %.0f generated tokens/s, "
      "time to first token p50 %.1f ms p95 %.1f ms\n",
      kStreams, kTokens, seconds, kStreams / seconds, tokens / seconds, percentile(first_chunk_ms, 0.5),
      percentile(first_chunk_ms, 0.95));
}

}  // namespace
}  // namespace elephant
