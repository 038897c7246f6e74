// The HTTP server end to end, in process: greedy output equals transformers' (the text fixture's
// reference), streaming, n, logprobs against an independent forward pass, every 400, 401, 429,
// a disconnect that frees KV blocks, graceful shutdown and the metrics text. Nothing here depends
// on timing: where a test needs the engine at a known point it holds it with a StepGate.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <future>
#include <set>
#include <sstream>

#include "engine/sampler.h"
#include "server/test_server.h"

namespace elephant {
namespace {

using testing::Json;
using testing::TestServer;

Json completion_body(const Json& reference_case, int max_tokens) {
  return {{"model", testing::kServedName},
          {"prompt", reference_case["prompt"]},
          {"max_tokens", max_tokens},
          {"temperature", 0}};
}

Json chat_body(const Json& reference_case, int max_tokens) {
  return {{"model", testing::kServedName},
          {"messages", reference_case["messages"]},
          {"max_tokens", max_tokens},
          {"temperature", 0}};
}

int reference_tokens(const Json& reference_case) { return static_cast<int>(reference_case["new_ids"].size()); }

// Concatenated text of a stream's chunks (completions "text" or chat "delta.content") per choice.
std::map<int, std::string> stream_texts(const std::vector<std::string>& events) {
  std::map<int, std::string> texts;
  for (const auto& data : events) {
    if (data == "[DONE]") continue;
    const Json chunk = Json::parse(data);
    for (const auto& choice : chunk["choices"]) {
      const int index = choice["index"].get<int>();
      if (choice.contains("text")) texts[index] += choice["text"].get<std::string>();
      if (choice.contains("delta") && choice["delta"].contains("content")) {
        texts[index] += choice["delta"]["content"].get<std::string>();
      }
    }
  }
  return texts;
}

TEST(ServerApi, ModelsAndHealth) {
  TestServer server;
  const auto models = testing::get(server, "/v1/models");
  ASSERT_EQ(models.status, 200) << models.body;
  EXPECT_EQ(models.json()["object"], "list");
  EXPECT_EQ(models.json()["data"][0]["id"], testing::kServedName);
  EXPECT_EQ(models.json()["data"][0]["max_model_len"], 256);
  const auto health = testing::get(server, "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.json()["status"], "ok");
}

TEST(ServerApi, CompletionGreedyEqualsTransformers) {
  TestServer server;
  const Json& plain = testing::reference_case("plain");
  const auto reply = testing::post(server, "/v1/completions", completion_body(plain, reference_tokens(plain)));
  ASSERT_EQ(reply.status, 200) << reply.body;
  const Json body = reply.json();
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["model"], testing::kServedName);
  ASSERT_EQ(body["choices"].size(), 1u);
  EXPECT_EQ(body["choices"][0]["text"], plain["text"]);
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(body["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(body["usage"]["prompt_tokens"], plain["prompt_ids"].size());
  EXPECT_EQ(body["usage"]["completion_tokens"], plain["new_ids"].size());
  EXPECT_EQ(body["usage"]["total_tokens"], plain["prompt_ids"].size() + plain["new_ids"].size());

  // The same prompt as token ids.
  Json by_ids = completion_body(plain, reference_tokens(plain));
  by_ids["prompt"] = plain["prompt_ids"];
  const auto ids_reply = testing::post(server, "/v1/completions", by_ids);
  ASSERT_EQ(ids_reply.status, 200) << ids_reply.body;
  EXPECT_EQ(ids_reply.json()["choices"][0]["text"], plain["text"]);
}

TEST(ServerApi, ChatGreedyEqualsTransformers) {
  TestServer server;
  for (const auto& reference : testing::text_reference()["cases"]) {
    if (!reference["chat"].get<bool>()) continue;
    SCOPED_TRACE(reference["name"].get<std::string>());
    const auto reply = testing::post(server, "/v1/chat/completions", chat_body(reference, reference_tokens(reference)));
    ASSERT_EQ(reply.status, 200) << reply.body;
    const Json body = reply.json();
    EXPECT_EQ(body["object"], "chat.completion");
    EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
    EXPECT_EQ(body["choices"][0]["message"]["content"], reference["text"]);
    EXPECT_EQ(body["usage"]["prompt_tokens"], reference["prompt_ids"].size()) << "the server's chat template";
    EXPECT_EQ(body["usage"]["completion_tokens"], reference["new_ids"].size());
  }
}

TEST(ServerStream, CompletionStreamWithUsage) {
  TestServer server;
  const Json& plain = testing::reference_case("plain");
  Json body = completion_body(plain, reference_tokens(plain));
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  const auto reply = testing::post(server, "/v1/completions", body);
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.headers.find("Content-Type")->second, "text/event-stream");
  const auto events = testing::sse_data(reply.body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(stream_texts(events)[0], plain["text"]);
  const Json usage_chunk = Json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage_chunk["choices"].empty());
  EXPECT_EQ(usage_chunk["usage"]["prompt_tokens"], plain["prompt_ids"].size());
  EXPECT_EQ(usage_chunk["usage"]["completion_tokens"], plain["new_ids"].size());
  const Json last_choice_chunk = Json::parse(events[events.size() - 3]);
  EXPECT_EQ(last_choice_chunk["choices"][0]["finish_reason"], "length");
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    const Json chunk = Json::parse(events[i]);
    EXPECT_EQ(chunk["object"], "text_completion");
    EXPECT_TRUE(chunk.contains("usage") && chunk["usage"].is_null()) << "include_usage: usage is null until the end";
  }
}

TEST(ServerStream, ChatStreamOpensWithRoleAndEndsWithDone) {
  TestServer server;
  const Json& chat = testing::reference_case("chat_system");
  Json body = chat_body(chat, reference_tokens(chat));
  body["stream"] = true;
  const auto reply = testing::post(server, "/v1/chat/completions", body);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto events = testing::sse_data(reply.body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  const Json first = Json::parse(events.front());
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(stream_texts(events)[0], chat["text"]);
  const Json last = Json::parse(events[events.size() - 2]);
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
  for (const auto& data : events) EXPECT_EQ(data.find("\"usage\""), std::string::npos) << "no include_usage";
}

TEST(ServerStream, StopStringIsNeverSent) {
  TestServer server;
  const Json& plain = testing::reference_case("plain");
  // " W" occurs in the greedy continuation (" experts\ufffd W\ufffd\ufffd W\v li ..."), so the text stops
  // just before its first occurrence, streamed or not.
  const std::string full = plain["text"];
  const std::string expected = full.substr(0, full.find(" W"));
  Json body = completion_body(plain, reference_tokens(plain));
  body["stop"] = Json::array({" W", "never there"});
  const auto reply = testing::post(server, "/v1/completions", body);
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.json()["choices"][0]["text"], expected);
  EXPECT_EQ(reply.json()["choices"][0]["finish_reason"], "stop");
  body["stream"] = true;
  const auto streamed = testing::post(server, "/v1/completions", body);
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  EXPECT_EQ(stream_texts(testing::sse_data(streamed.body))[0], expected);
}

TEST(ServerApi, NChoicesAreIndependentAndReproducible) {
  TestServer server;
  const Json& plain = testing::reference_case("plain");
  Json greedy = completion_body(plain, reference_tokens(plain));
  greedy["n"] = 2;
  const auto greedy_reply = testing::post(server, "/v1/completions", greedy);
  ASSERT_EQ(greedy_reply.status, 200) << greedy_reply.body;
  ASSERT_EQ(greedy_reply.json()["choices"].size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(greedy_reply.json()["choices"][i]["index"], i);
    EXPECT_EQ(greedy_reply.json()["choices"][i]["text"], plain["text"]);
  }
  EXPECT_EQ(greedy_reply.json()["usage"]["completion_tokens"], 2 * reference_tokens(plain));
  EXPECT_EQ(greedy_reply.json()["usage"]["prompt_tokens"], plain["prompt_ids"].size()) << "the prompt counts once";

  Json sampled = completion_body(plain, 24);
  sampled["temperature"] = 1.0;
  sampled["seed"] = 7;
  sampled["n"] = 2;
  const auto first = testing::post(server, "/v1/completions", sampled);
  const auto again = testing::post(server, "/v1/completions", sampled);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.json()["choices"], again.json()["choices"]) << "same seed, same choices";
  EXPECT_NE(first.json()["choices"][0]["text"], first.json()["choices"][1]["text"]) << "choices draw differently";
  sampled["n"] = 1;
  const auto single = testing::post(server, "/v1/completions", sampled);
  EXPECT_EQ(single.json()["choices"][0]["text"], first.json()["choices"][0]["text"]) << "choice 0 uses the seed";

  sampled["stream"] = true;
  sampled["n"] = 2;
  const auto streamed = testing::post(server, "/v1/completions", sampled);
  const auto texts = stream_texts(testing::sse_data(streamed.body));
  EXPECT_EQ(texts.at(0), first.json()["choices"][0]["text"]);
  EXPECT_EQ(texts.at(1), first.json()["choices"][1]["text"]);
}

// log_softmax of the model's logits for the first generated token, from a separate model instance
// (the server's belongs to its engine thread).
std::vector<double> first_token_log_softmax(const Json& reference) {
  auto model = models::Model::load(testing::fixture_dir("text_mixtral"));
  auto cache = model->make_kv_cache();
  layers::RowBatch rows;
  const auto prompt = testing::ids(reference["prompt_ids"]);
  for (size_t i = 0; i < prompt.size(); ++i) rows.add(prompt[i], static_cast<int32_t>(i), 0);
  std::vector<uint8_t> wanted(prompt.size(), 0);
  wanted.back() = 1;
  const std::vector<float> logits = model->forward(rows, cache, wanted);
  double max_logit = -INFINITY;
  for (float x : logits) max_logit = std::max<double>(max_logit, x);
  double total = 0.0;
  for (float x : logits) total += std::exp(x - max_logit);
  std::vector<double> result;
  for (float x : logits) result.push_back(x - max_logit - std::log(total));
  return result;
}

TEST(ServerLogprobs, ChatLogprobsAreTheModelsDistribution) {
  TestServer server;
  const Json& chat = testing::reference_case("chat");
  Json body = chat_body(chat, reference_tokens(chat));
  body["logprobs"] = true;
  body["top_logprobs"] = 5;
  const auto reply = testing::post(server, "/v1/chat/completions", body);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const Json content = reply.json()["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), chat["new_ids"].size());
  for (const auto& token : content) {
    const auto& top = token["top_logprobs"];
    ASSERT_EQ(top.size(), 5u);
    EXPECT_LE(token["logprob"].get<double>(), 0.0);
    double mass = 0.0;
    for (size_t i = 0; i < top.size(); ++i) {
      mass += std::exp(top[i]["logprob"].get<double>());
      if (i > 0) {
        EXPECT_LE(top[i]["logprob"].get<double>(), top[i - 1]["logprob"].get<double>()) << "sorted";
      }
    }
    EXPECT_LE(mass, 1.0 + 1e-5);
    // Greedy: the generated token is the most likely one.
    EXPECT_EQ(top[0]["token"], token["token"]);
    EXPECT_EQ(top[0]["logprob"], token["logprob"]);
    std::string bytes;
    for (const auto& b : token["bytes"]) bytes.push_back(static_cast<char>(b.get<int>()));
    EXPECT_EQ(bytes, token["token"].get<std::string>());
  }
  const auto log_softmax = first_token_log_softmax(chat);
  const auto first_id = chat["new_ids"][0].get<size_t>();
  EXPECT_NEAR(content[0]["logprob"].get<double>(), log_softmax[first_id], 1e-5);

  // A temperature reshapes what the token is drawn from, not the reported distribution.
  body["temperature"] = 0.5;
  body["seed"] = 3;
  body["max_tokens"] = 1;
  const auto warm = testing::post(server, "/v1/chat/completions", body);
  ASSERT_EQ(warm.status, 200) << warm.body;
  const Json warm_token = warm.json()["choices"][0]["logprobs"]["content"][0];
  EXPECT_EQ(warm_token["top_logprobs"], content[0]["top_logprobs"]);
}

TEST(ServerLogprobs, CompletionLogprobsFormat) {
  TestServer server;
  const Json& plain = testing::reference_case("plain");
  Json body = completion_body(plain, reference_tokens(plain));
  body["logprobs"] = 3;
  const auto reply = testing::post(server, "/v1/completions", body);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const Json logprobs = reply.json()["choices"][0]["logprobs"];
  const size_t n = plain["new_ids"].size();
  ASSERT_EQ(logprobs["tokens"].size(), n);
  ASSERT_EQ(logprobs["token_logprobs"].size(), n);
  ASSERT_EQ(logprobs["top_logprobs"].size(), n);
  ASSERT_EQ(logprobs["text_offset"].size(), n);
  for (size_t i = 0; i < n; ++i) {
    const auto& top = logprobs["top_logprobs"][i];
    EXPECT_GE(top.size(), 1u);
    EXPECT_LE(top.size(), 3u);
    double best = -INFINITY;
    for (const auto& [text, logprob] : top.items()) best = std::max(best, logprob.get<double>());
    EXPECT_EQ(best, logprobs["token_logprobs"][i].get<double>()) << "greedy picks the most likely token";
  }
  const auto log_softmax = first_token_log_softmax(plain);
  EXPECT_NEAR(logprobs["token_logprobs"][0].get<double>(), log_softmax[plain["new_ids"][0].get<size_t>()], 1e-5);

  body["stream"] = true;
  const auto streamed = testing::post(server, "/v1/completions", body);
  std::vector<double> streamed_logprobs;
  for (const auto& data : testing::sse_data(streamed.body)) {
    if (data == "[DONE]") continue;
    const Json chunk = Json::parse(data);
    const Json& choice = chunk["choices"][0];
    if (choice["logprobs"].is_null()) continue;
    for (const auto& lp : choice["logprobs"]["token_logprobs"]) streamed_logprobs.push_back(lp.get<double>());
  }
  EXPECT_EQ(streamed_logprobs, logprobs["token_logprobs"].get<std::vector<double>>());
}

struct BadRequest {
  const char* path;
  std::string body;
  const char* param;  // expected error.param; "" for null
};

TEST(ServerValidation, EveryBadRequestIsA400WithAnErrorObject) {
  server::ServerOptions options;
  options.max_tokens = 100;
  TestServer server(options);
  const std::string completions = "/v1/completions";
  const std::string chat = "/v1/chat/completions";
  std::string nested(100000, '[');
  nested += std::string(100000, ']');
  std::string long_prompt = "[";
  for (int i = 0; i < 300; ++i) long_prompt += (i ? ",5" : "5");
  long_prompt += "]";
  const std::vector<BadRequest> cases = {
      {"/v1/completions", "{\"prompt\": \"hi\",", ""},
      {"/v1/completions", "", ""},
      {"/v1/completions", "[]", ""},
      {"/v1/completions", nested, ""},
      {"/v1/completions", R"({"prompt": "hi", "max_tokens": 1E999})", ""},  // JSON past a double (fuzz/)
      {"/v1/completions", R"({"max_tokens": 4})", "prompt"},
      {"/v1/completions", R"({"prompt": 12})", "prompt"},
      {"/v1/completions", R"({"prompt": []})", "prompt"},
      {"/v1/completions", R"({"prompt": [1, -2]})", "prompt[1]"},
      {"/v1/completions", R"({"prompt": [1, 480]})", "prompt"},
      {"/v1/completions", R"({"prompt": )" + long_prompt + "}", "prompt"},
      {"/v1/completions", R"({"prompt": "hi", "model": "gpt-4"})", "model"},
      {"/v1/completions", R"({"prompt": "hi", "model": 4})", "model"},
      {"/v1/completions", R"({"prompt": "hi", "max_tokens": -1})", "max_tokens"},
      {"/v1/completions", R"({"prompt": "hi", "max_tokens": 0})", "max_tokens"},
      {"/v1/completions", R"({"prompt": "hi", "max_tokens": 101})", "max_tokens"},
      {"/v1/completions", R"({"prompt": "hi", "max_tokens": 1e30})", "max_tokens"},
      {"/v1/completions", R"({"prompt": "hi", "max_tokens": "12"})", "max_tokens"},
      {"/v1/completions", R"({"prompt": "hi", "temperature": -0.5})", "temperature"},
      {"/v1/completions", R"({"prompt": "hi", "temperature": 3})", "temperature"},
      {"/v1/completions", R"({"prompt": "hi", "temperature": "hot"})", "temperature"},
      {"/v1/completions", R"({"prompt": "hi", "top_p": 0})", "top_p"},
      {"/v1/completions", R"({"prompt": "hi", "top_p": 1.5})", "top_p"},
      {"/v1/completions", R"({"prompt": "hi", "n": 0})", "n"},
      {"/v1/completions", R"({"prompt": "hi", "n": 1000})", "n"},
      {"/v1/completions", R"({"prompt": ["a", "b", "c"], "n": 3})", "n"},
      {"/v1/completions", R"({"prompt": "hi", "seed": 1.5})", "seed"},
      {"/v1/completions", R"({"prompt": "hi", "stop": ["a", "b", "c", "d", "e"]})", "stop"},
      {"/v1/completions", R"({"prompt": "hi", "stop": ""})", "stop"},
      {"/v1/completions", R"({"prompt": "hi", "stop": 5})", "stop"},
      {"/v1/completions", R"({"prompt": "hi", "logprobs": 100})", "logprobs"},
      {"/v1/completions", R"({"prompt": "hi", "logprobs": true})", "logprobs"},
      {"/v1/completions", R"({"prompt": "hi", "stream": "yes"})", "stream"},
      {"/v1/completions", R"({"prompt": "hi", "stream_options": {"include_usage": true}})", "stream_options"},
      {"/v1/completions", R"({"prompt": "hi", "echo": true})", "echo"},
      {"/v1/completions", R"({"prompt": "hi", "best_of": 3})", "best_of"},
      {"/v1/completions", R"({"prompt": "hi", "presence_penalty": 0.5})", "presence_penalty"},
      {"/v1/completions", R"({"prompt": "hi", "logit_bias": {"5": 100}})", "logit_bias"},
      {"/v1/completions", R"({"prompt": "hi", "repetition_penalty": 0})", "repetition_penalty"},
      {"/v1/chat/completions", R"({"messages": []})", "messages"},
      {"/v1/chat/completions", R"({"messages": "hi"})", "messages"},
      {"/v1/chat/completions", R"({"prompt": "hi"})", "messages"},
      {"/v1/chat/completions", R"({"messages": [{"role": "king", "content": "hi"}]})", "messages[0].role"},
      {"/v1/chat/completions", R"({"messages": [{"content": "hi"}]})", "messages[0].role"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user"}]})", "messages[0].content"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
      {"/v1/chat/completions",
       R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]}]})",
       "messages[0].content[0]"},
      {"/v1/chat/completions", R"({"messages": [{"role": "tool", "content": "42"}]})", "messages[0]"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]})",
       "tools"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2})",
       "top_logprobs"},
      {"/v1/chat/completions",
       R"({"messages": [{"role": "user", "content": "hi"}], "logprobs": true, "top_logprobs": 50})", "top_logprobs"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": -5})",
       "max_completion_tokens"},
      {"/v1/chat/completions",
       R"({"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}})",
       "response_format"},
  };
  for (const auto& bad : cases) {
    SCOPED_TRACE(std::string(bad.path) + " " + bad.body.substr(0, 160));
    const auto reply = testing::post(server, bad.path, bad.body);
    ASSERT_EQ(reply.status, 400) << reply.body;
    const Json error = reply.json()["error"];
    EXPECT_FALSE(error["message"].get<std::string>().empty());
    EXPECT_EQ(error["type"], "invalid_request_error");
    EXPECT_TRUE(error.contains("code"));
    if (*bad.param) {
      EXPECT_EQ(error["param"], bad.param) << error["message"];
    } else {
      EXPECT_TRUE(error["param"].is_null()) << error["message"];
    }
  }
  const auto unknown = testing::get(server, "/v1/engines");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_TRUE(unknown.json()["error"]["message"].is_string());
  EXPECT_EQ(testing::get(server, "/health").status, 200) << "the server survived every bad request";
}

TEST(ServerLimits, BodyAndHeaderLimits) {
  server::ServerOptions options;
  options.max_body_bytes = 1000;
  options.max_header_bytes = 2000;
  TestServer server(options);
  const auto big = testing::post(server, "/v1/completions", Json{{"prompt", std::string(2000, 'a')}});
  EXPECT_EQ(big.status, 413);
  EXPECT_TRUE(big.json()["error"]["message"].get<std::string>().find("--max-body-bytes") != std::string::npos);
  const auto headers = testing::get(server, "/v1/models", {{"X-Padding", std::string(3000, 'x')}});
  EXPECT_EQ(headers.status, 431);
  EXPECT_TRUE(headers.json()["error"]["message"].is_string());
}

TEST(ServerAuth, ApiKeyGuardsEverythingButHealth) {
  server::ServerOptions options;
  options.api_key = "sekret";
  TestServer server(options);
  const auto missing = testing::get(server, "/v1/models");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.json()["error"]["code"], "invalid_api_key");
  EXPECT_EQ(testing::get(server, "/v1/models", {{"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(testing::get(server, "/v1/models", {{"Authorization", "sekret"}}).status, 401);
  EXPECT_EQ(testing::post(server, "/v1/completions", Json{{"prompt", "hi"}, {"max_tokens", 1}}).status, 401);
  EXPECT_EQ(testing::get(server, "/metrics").status, 401);
  EXPECT_EQ(testing::get(server, "/v1/models", {{"Authorization", "Bearer sekret"}}).status, 200);
  EXPECT_EQ(testing::post(server, "/v1/completions", Json{{"prompt", "hi"}, {"max_tokens", 1}},
                          {{"Authorization", "Bearer sekret"}})
                .status,
            200);
  EXPECT_EQ(testing::get(server, "/health").status, 200);
}

TEST(ServerLimits, FullQueueAnswers429WithRetryAfter) {
  testing::StepGate gate;
  server::ServerOptions options;
  options.parallel = 1;
  options.max_queue = 1;
  options.max_sequences_per_request = 2;
  TestServer server(options, &gate);
  const Json body = {{"prompt", "The quick brown fox"}, {"max_tokens", 2}, {"temperature", 0}};
  // Two sequences fill parallel + queue; the held engine cannot finish them.
  auto first = std::async(std::launch::async, [&] { return testing::post(server, "/v1/completions", body); });
  auto second = std::async(std::launch::async, [&] { return testing::post(server, "/v1/completions", body); });
  ASSERT_TRUE(testing::eventually([&] { return testing::metrics(server)["elephant_queue_length"] == 2; }));
  const auto rejected = testing::post(server, "/v1/completions", body);
  EXPECT_EQ(rejected.status, 429) << rejected.body;
  EXPECT_EQ(rejected.json()["error"]["code"], "rate_limit_exceeded");
  ASSERT_TRUE(rejected.headers.count("Retry-After"));
  EXPECT_EQ(rejected.headers.find("Retry-After")->second, "1");
  gate.open();
  EXPECT_EQ(first.get().status, 200);
  EXPECT_EQ(second.get().status, 200);
  EXPECT_EQ(testing::post(server, "/v1/completions", body).status, 200) << "capacity returns";
}

// Sends a request on a raw socket (so the test decides when the client vanishes).
int send_raw_request(int port, const std::string& path, const std::string& body) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return -1;
  const std::string request = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  if (send(fd, request.data(), request.size(), 0) != static_cast<ssize_t>(request.size())) return -1;
  return fd;
}

TEST(ServerStream, DisconnectCancelsTheSequenceAndFreesItsKvBlocks) {
  testing::StepGate gate;
  TestServer server({}, &gate);
  const Json body = {{"prompt", "The quick brown fox"}, {"max_tokens", 200}, {"temperature", 0}, {"stream", true}};
  const int fd = send_raw_request(server.port(), "/v1/completions", body.dump());
  ASSERT_GE(fd, 0);
  gate.allow(1);  // admission and prefill: the sequence now holds KV blocks and has one token
  ASSERT_TRUE(testing::eventually([&] { return testing::metrics(server)["elephant_kv_cache_blocks_used"] > 0; }));
  close(fd);
  ASSERT_TRUE(testing::eventually([&] { return testing::metrics(server)["elephant_client_disconnects_total"] == 1; }));
  gate.open();
  ASSERT_TRUE(testing::eventually([&] {
    auto m = testing::metrics(server);
    return m["elephant_sequences_finished_total{reason=\"cancelled\"}"] == 1 && m["elephant_kv_cache_blocks_used"] == 0;
  }));
  const auto m = testing::metrics(server);
  EXPECT_EQ(m.at("elephant_running_sequences"), 0);
  EXPECT_LE(m.at("elephant_generation_tokens_total"), 2) << "cancelled at the first step after the disconnect";
}

TEST(ServerShutdown, RunningRequestsFinishWithinTheGrace) {
  testing::StepGate gate;
  TestServer server({}, &gate);
  const Json& plain = testing::reference_case("plain");
  auto reply = std::async(std::launch::async, [&] {
    return testing::post(server, "/v1/completions", completion_body(plain, reference_tokens(plain)));
  });
  ASSERT_TRUE(testing::eventually([&] { return testing::metrics(server)["elephant_queue_length"] == 1; }));
  auto stopped = std::async(std::launch::async, [&] { server.stop(std::chrono::seconds(60)); });
  gate.open();
  const auto finished = reply.get();
  EXPECT_EQ(finished.status, 200);
  EXPECT_EQ(finished.json()["choices"][0]["text"], plain["text"]);
  stopped.get();
}

TEST(ServerShutdown, StreamsLeftAfterTheGraceAreCancelled) {
  testing::StepGate gate;
  TestServer server({}, &gate);
  const Json body = {{"prompt", "The quick brown fox"}, {"max_tokens", 200}, {"stream", true}};
  auto reply = std::async(std::launch::async, [&] { return testing::post(server, "/v1/completions", body); });
  ASSERT_TRUE(testing::eventually([&] { return testing::metrics(server)["elephant_queue_length"] == 1; }));
  gate.allow(1);
  ASSERT_TRUE(testing::eventually([&] { return testing::metrics(server)["elephant_running_sequences"] == 1; }));
  // Grace 0: the held stream is cancelled; the gate opens so the engine can process the cancel.
  auto stopped = std::async(std::launch::async, [&] { server.stop(std::chrono::milliseconds(0)); });
  ASSERT_TRUE(testing::eventually([&] {
    return testing::get(server, "/health").status != 200;  // 503 while draining, then no listener
  }));
  gate.open();
  const auto cut = reply.get();
  EXPECT_EQ(cut.status, 200);
  const auto events = testing::sse_data(cut.body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_NE(events[events.size() - 2].find("shut down"), std::string::npos) << events[events.size() - 2];
  stopped.get();
}

bool is_name_char(char c, bool first, bool colon) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || (colon && c == ':') ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

// name{label="value",...} number   (Prometheus text format 0.0.4; values here never hold quotes)
bool is_sample_line(const std::string& line, std::string& name) {
  size_t i = 0;
  while (i < line.size() && is_name_char(line[i], i == 0, true)) ++i;
  if (i == 0) return false;
  name = line.substr(0, i);
  if (i < line.size() && line[i] == '{') {
    do {
      const size_t label = ++i;
      while (i < line.size() && is_name_char(line[i], i == label, false)) ++i;
      if (i == label || line.compare(i, 2, "=\"") != 0) return false;
      i = line.find('"', i + 2);
      if (i == std::string::npos) return false;
      ++i;
    } while (i < line.size() && line[i] == ',');
    if (i >= line.size() || line[i] != '}') return false;
    ++i;
  }
  if (i >= line.size() || line[i] != ' ') return false;
  const std::string value = line.substr(i + 1);
  if (value == "+Inf" || value == "-Inf" || value == "NaN") return true;
  char* end = nullptr;
  std::strtod(value.c_str(), &end);
  return !value.empty() && *end == '\0';
}

TEST(ServerMetrics, PrometheusTextIsWellFormed) {
  TestServer server;
  const Json& plain = testing::reference_case("plain");
  ASSERT_EQ(testing::post(server, "/v1/completions", completion_body(plain, 4)).status, 200);
  ASSERT_EQ(testing::post(server, "/v1/completions", std::string("{")).status, 400);
  // Requests are counted when their log line is written, just after the response; KV blocks are
  // published after the engine's step, just after the last token went out.
  ASSERT_TRUE(testing::eventually([&] {
    auto m = testing::metrics(server);
    return m["elephant_requests_total{endpoint=\"/v1/completions\",status=\"400\"}"] == 1 &&
           m["elephant_requests_total{endpoint=\"/v1/completions\",status=\"200\"}"] == 1 &&
           m["elephant_kv_cache_blocks_used"] == 0;
  }));
  const auto reply = testing::get(server, "/metrics");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers.find("Content-Type")->second.rfind("text/plain; version=0.0.4", 0), 0u);
  std::set<std::string> typed;
  std::istringstream lines(reply.body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("# HELP ", 0) == 0) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream fields(line.substr(7));
      std::string name;
      std::string type;
      fields >> name >> type;
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
      typed.insert(name);
      continue;
    }
    std::string name;
    ASSERT_TRUE(is_sample_line(line, name)) << "not a sample line: " << line;
    for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
      if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
          typed.count(name.substr(0, name.size() - suffix.size()))) {
        name = name.substr(0, name.size() - suffix.size());
      }
    }
    EXPECT_TRUE(typed.count(name)) << name << " has no # TYPE line before its samples";
  }
  const auto m = testing::parse_metrics(reply.body);
  EXPECT_EQ(m.at("elephant_prompt_tokens_total"), static_cast<double>(plain["prompt_ids"].size()));
  EXPECT_EQ(m.at("elephant_generation_tokens_total"), 4);
  EXPECT_GT(m.at("elephant_kv_cache_blocks_total"), 0);
  EXPECT_EQ(m.at("elephant_time_to_first_token_seconds_count"), 1);
  EXPECT_EQ(m.at("elephant_inter_token_latency_seconds_count"), 3);
  EXPECT_EQ(m.at("elephant_time_to_first_token_seconds_bucket{le=\"+Inf\"}"), 1);
  for (const char* name : {"elephant_queue_length", "elephant_running_sequences", "elephant_last_step_rows",
                           "elephant_last_step_sequences", "elephant_client_disconnects_total"}) {
    EXPECT_TRUE(m.count(name)) << name;
  }
}

}  // namespace
}  // namespace elephant
