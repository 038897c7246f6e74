// `elephant serve` as a user runs it: the built binary (ELEPHANT_CLI_PATH) on an ephemeral port,
// found through the "listening on" line it prints; the API key from the environment; one log line
// per request; SIGTERM and SIGINT end it with status 0.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/test_server.h"

extern char** environ;

namespace elephant {
namespace {

using testing::Json;

class ServeProcess {
 public:
  ServeProcess(const std::vector<std::string>& args, const std::vector<std::string>& extra_environment = {}) {
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
    std::vector<std::string> argv_strings = {ELEPHANT_CLI_PATH};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    std::vector<std::string> environment_strings = extra_environment;
    for (char** e = environ; *e; ++e) environment_strings.emplace_back(*e);
    std::vector<char*> envp;
    for (auto& s : environment_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    const int spawned = posix_spawn(&pid_, ELEPHANT_CLI_PATH, &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    close(pipe_fds[1]);
    stderr_fd_ = pipe_fds[0];
    if (spawned != 0) throw std::runtime_error("posix_spawn failed");
  }

  ~ServeProcess() {
    if (pid_ > 0) stop(SIGKILL);
    close(stderr_fd_);
  }

  // Reads stderr until the listening line; returns the port, or -1 when the process exits first.
  int wait_for_port() {
    const std::string listening = "listening on http://127.0.0.1:";
    while (read_some(std::chrono::seconds(60))) {
      const size_t at = err_.find(listening);
      if (at != std::string::npos && err_.find("/v1", at) != std::string::npos) {
        return std::stoi(err_.substr(at + listening.size()));
      }
    }
    return -1;
  }

  // Sends `signal` and returns the exit status (128 + signal when a signal ended it).
  int stop(int signal) {
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    while (read_some(std::chrono::seconds(5))) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  const std::string& err() const { return err_; }

 private:
  bool read_some(std::chrono::seconds timeout) {
    pollfd fd{stderr_fd_, POLLIN, 0};
    if (poll(&fd, 1, static_cast<int>(timeout.count() * 1000)) <= 0) return false;
    char buffer[4096];
    const ssize_t n = read(stderr_fd_, buffer, sizeof(buffer));
    if (n <= 0) return false;
    err_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  std::string err_;
};

std::string fixture() { return testing::fixture_dir("text_mixtral").string(); }

TEST(ServerCli, ServesWithAnApiKeyAndExitsZeroOnSigterm) {
  ServeProcess serve({"serve", "-m", fixture(), "--port", "0", "--model-name", "fx", "--threads", "1"},
                     {"ELEPHANT_API_KEY=k3y"});
  const int port = serve.wait_for_port();
  ASSERT_GT(port, 0) << serve.err();
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60, 0);
  auto health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(client.Get("/v1/models")->status, 401);
  const httplib::Headers key = {{"Authorization", "Bearer k3y"}};
  auto models = client.Get("/v1/models", key);
  ASSERT_EQ(models->status, 200);
  EXPECT_EQ(Json::parse(models->body)["data"][0]["id"], "fx");
  const Json& plain = testing::reference_case("plain");
  const Json body = {{"model", "fx"}, {"prompt", plain["prompt"]}, {"max_tokens", 12}, {"temperature", 0}};
  auto completion = client.Post("/v1/completions", key, body.dump(), "application/json");
  ASSERT_EQ(completion->status, 200) << completion->body;
  EXPECT_EQ(Json::parse(completion->body)["choices"][0]["text"], plain["text"]);
  EXPECT_EQ(serve.stop(SIGTERM), 0) << serve.err();
  EXPECT_NE(serve.err().find("POST /v1/completions 200 prompt_tokens=5 completion_tokens=12 "), std::string::npos)
      << serve.err();
  EXPECT_NE(serve.err().find("GET /v1/models 401"), std::string::npos) << serve.err();
  EXPECT_NE(serve.err().find("elephant serve: stopped"), std::string::npos) << serve.err();
}

// --kv-budget-mib sizes the KV pool: a block of this fixture is 2 layers × K,V × 16 positions × 32
// floats = 8 KiB, so 1 MiB is 128 blocks (the default for 2 sequences of 64 positions would be 8).
// The startup line and /metrics report it, and requests complete.
TEST(ServerCli, KvBudgetBoundsThePool) {
  ServeProcess serve({"serve", "-m", fixture(), "--port", "0", "--quiet", "--threads", "1", "--parallel", "2",
                      "--kv-budget-mib", "1", "--context", "64"});
  const int port = serve.wait_for_port();
  ASSERT_GT(port, 0) << serve.err();
  EXPECT_NE(serve.err().find("context 64, parallel 2, KV pool 1 MiB (0.03 MiB per full-context sequence)"),
            std::string::npos)
      << serve.err();
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60, 0);
  const Json& plain = testing::reference_case("plain");
  const Json body = {{"prompt", plain["prompt"]}, {"max_tokens", 12}, {"temperature", 0}, {"n", 2}};
  auto completion = client.Post("/v1/completions", body.dump(), "application/json");
  ASSERT_EQ(completion->status, 200) << completion->body;
  const Json response = Json::parse(completion->body);
  ASSERT_EQ(response["choices"].size(), 2u) << completion->body;
  for (const auto& choice : response["choices"]) EXPECT_EQ(choice["text"], plain["text"]);
  const auto metrics = client.Get("/metrics");
  ASSERT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("elephant_kv_cache_blocks_total 128\n"), std::string::npos) << metrics->body;
}

// With expert offload the output is unchanged and /metrics reports the cache.
TEST(ServerCli, ExpertCacheCountersInMetrics) {
  ServeProcess serve({"serve", "-m", fixture(), "--port", "0", "--quiet", "--threads", "1", "--expert-cache", "25%",
                      "--pregate"});
  const int port = serve.wait_for_port();
  ASSERT_GT(port, 0) << serve.err();
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60, 0);
  const Json& plain = testing::reference_case("plain");
  const Json body = {{"prompt", plain["prompt"]}, {"max_tokens", 12}, {"temperature", 0}};
  auto completion = client.Post("/v1/completions", body.dump(), "application/json");
  ASSERT_EQ(completion->status, 200) << completion->body;
  EXPECT_EQ(Json::parse(completion->body)["choices"][0]["text"], plain["text"]);
  const auto metrics = client.Get("/metrics");
  ASSERT_EQ(metrics->status, 200);
  for (const char* line : {"elephant_expert_cache_acquires_total{result=\"hit\"} ",
                           "elephant_expert_cache_loaded_bytes_total ", "elephant_expert_cache_slots "}) {
    EXPECT_NE(metrics->body.find(line), std::string::npos) << line << " missing from\n" << metrics->body;
  }
  EXPECT_EQ(serve.stop(SIGTERM), 0) << serve.err();
}

TEST(ServerCli, SigintWhileIdleExitsZero) {
  ServeProcess serve({"serve", "-m", fixture(), "--port", "0", "--quiet", "--grace-seconds", "1"});
  ASSERT_GT(serve.wait_for_port(), 0) << serve.err();
  EXPECT_EQ(serve.stop(SIGINT), 0) << serve.err();
}

TEST(ServerCli, BadSetupFailsWithAMessage) {
  ServeProcess missing({"serve", "-m", "/nonexistent/model", "--port", "0"});
  EXPECT_EQ(missing.wait_for_port(), -1);
  EXPECT_EQ(missing.stop(0), 1);
  EXPECT_NE(missing.err().find("error: "), std::string::npos) << missing.err();

  ServeProcess bad_port({"serve", "-m", fixture(), "--port", "70000"});
  EXPECT_EQ(bad_port.wait_for_port(), -1);
  EXPECT_NE(bad_port.stop(0), 0);
  EXPECT_NE(bad_port.err().find("--port"), std::string::npos) << bad_port.err();
}

}  // namespace
}  // namespace elephant
