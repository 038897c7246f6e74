// The server's Prometheus metrics, rendered in the text exposition format (version 0.0.4) by
// GET /metrics. Counters and histograms are updated by HTTP handler threads and the engine thread;
// the engine's own state (queue, running sequences, KV blocks) arrives as an EngineSnapshot that
// the engine thread publishes after every step, so rendering never touches the engine itself.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "layers/moe/offloading_expert_store.h"

namespace elephant::server {

// What the engine thread last published (see EngineLoop::snapshot).
struct EngineSnapshot {
  int64_t waiting = 0;         // sequences submitted but not admitted (no KV slot or blocks yet)
  int64_t running = 0;         // sequences admitted, holding KV blocks
  int64_t step_rows = 0;       // rows of the last step (prompt-chunk and decode tokens)
  int64_t step_sequences = 0;  // sequences with rows in the last step
  int64_t kv_blocks_used = 0;
  int64_t kv_blocks_total = 0;
  // Expert offload counters (docs/offload.md); absent when every expert is resident.
  std::optional<layers::ExpertCacheStats> expert_cache;
};

// A Prometheus histogram: cumulative buckets by upper bound, plus sum and count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  void render(std::string& out, std::string_view name, std::string_view help) const;

 private:
  mutable std::mutex mutex_;
  std::vector<double> upper_bounds_;  // increasing; +Inf is implicit
  std::vector<uint64_t> counts_;      // per bucket (not cumulative), one more than upper_bounds_ for +Inf
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();

  // `endpoint` is a known route or "other", so arbitrary paths cannot grow the label set.
  void count_request(std::string_view endpoint, int status);
  void count_tokens(int64_t prompt_tokens, int64_t generated_tokens);
  // OpenAI finish reasons ("stop", "length") or "cancelled".
  void count_finished(std::string_view reason);
  void count_disconnect();

  Histogram time_to_first_token_seconds;
  Histogram inter_token_latency_seconds;

  std::string render(const EngineSnapshot& engine) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (endpoint, status) -> count
  std::map<std::string, uint64_t> finished_;                  // finish reason -> sequences
  uint64_t prompt_tokens_ = 0;
  uint64_t generated_tokens_ = 0;
  uint64_t disconnects_ = 0;
};

}  // namespace elephant::server
