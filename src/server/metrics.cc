#include "server/metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace elephant::server {

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), counts_(upper_bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  const auto bucket =
      static_cast<size_t>(std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin());
  std::lock_guard lock(mutex_);
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

void Histogram::render(std::string& out, std::string_view name, std::string_view help) const {
  std::lock_guard lock(mutex_);
  out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < upper_bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, upper_bounds_[i], cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, count_, name, sum_, name, count_);
}

Metrics::Metrics()
    : time_to_first_token_seconds({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}),
      inter_token_latency_seconds({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}) {}

void Metrics::count_request(std::string_view endpoint, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{std::string(endpoint), status}];
}

void Metrics::count_tokens(int64_t prompt_tokens, int64_t generated_tokens) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += static_cast<uint64_t>(prompt_tokens);
  generated_tokens_ += static_cast<uint64_t>(generated_tokens);
}

void Metrics::count_finished(std::string_view reason) {
  std::lock_guard lock(mutex_);
  ++finished_[std::string(reason)];
}

void Metrics::count_disconnect() {
  std::lock_guard lock(mutex_);
  ++disconnects_;
}

namespace {

void render_scalar(std::string& out, std::string_view name, std::string_view type, std::string_view help,
                   int64_t value) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
}

}  // namespace

std::string Metrics::render(const EngineSnapshot& engine) const {
  std::string out;
  {
    std::lock_guard lock(mutex_);
    out +=
        "# HELP elephant_requests_total HTTP requests by endpoint and status code.\n"
        "# TYPE elephant_requests_total counter\n";
    for (const auto& [key, count] : requests_) {
      out += fmt::format("elephant_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, count);
    }
    out +=
        "# HELP elephant_sequences_finished_total Generated sequences by finish reason.\n"
        "# TYPE elephant_sequences_finished_total counter\n";
    for (const auto& [reason, count] : finished_) {
      out += fmt::format("elephant_sequences_finished_total{{reason=\"{}\"}} {}\n", reason, count);
    }
    render_scalar(out, "elephant_prompt_tokens_total", "counter", "Prompt tokens of accepted requests.",
                  static_cast<int64_t>(prompt_tokens_));
    render_scalar(out, "elephant_generation_tokens_total", "counter", "Generated tokens.",
                  static_cast<int64_t>(generated_tokens_));
    render_scalar(out, "elephant_client_disconnects_total", "counter",
                  "Streams whose client went away before the end (their sequences were cancelled).",
                  static_cast<int64_t>(disconnects_));
  }
  render_scalar(out, "elephant_queue_length", "gauge", "Sequences waiting for admission.", engine.waiting);
  render_scalar(out, "elephant_running_sequences", "gauge", "Sequences admitted and holding KV blocks.",
                engine.running);
  render_scalar(out, "elephant_last_step_rows", "gauge", "Rows (prompt and decode tokens) in the last engine step.",
                engine.step_rows);
  render_scalar(out, "elephant_last_step_sequences", "gauge", "Sequences in the last engine step (batch size).",
                engine.step_sequences);
  render_scalar(out, "elephant_kv_cache_blocks_used", "gauge", "KV-cache blocks held by sequences.",
                engine.kv_blocks_used);
  render_scalar(out, "elephant_kv_cache_blocks_total", "gauge", "KV-cache blocks in the pool.", engine.kv_blocks_total);
  if (engine.expert_cache) {
    const auto& cache = *engine.expert_cache;
    out +=
        "# HELP elephant_expert_cache_acquires_total Routed-expert uses by how the cache served them "
        "(hit: resident, late_prefetch: still loading, miss: loaded on demand).\n"
        "# TYPE elephant_expert_cache_acquires_total counter\n";
    out += fmt::format("elephant_expert_cache_acquires_total{{result=\"hit\"}} {}\n", cache.hits);
    out += fmt::format("elephant_expert_cache_acquires_total{{result=\"late_prefetch\"}} {}\n", cache.late_prefetches);
    out += fmt::format("elephant_expert_cache_acquires_total{{result=\"miss\"}} {}\n", cache.misses);
    render_scalar(out, "elephant_expert_cache_loaded_bytes_total", "counter", "Expert bytes read from the checkpoint files.",
                  static_cast<int64_t>(cache.bytes_loaded));
    render_scalar(out, "elephant_expert_cache_wasted_prefetches_total", "counter",
                  "Prefetched experts evicted before any use.", static_cast<int64_t>(cache.wasted_prefetches));
    out += fmt::format(
        "# HELP elephant_expert_cache_stall_seconds_total Time steps waited for expert bytes.\n"
        "# TYPE elephant_expert_cache_stall_seconds_total counter\nelephant_expert_cache_stall_seconds_total {}\n",
        cache.stall_seconds);
    render_scalar(out, "elephant_expert_cache_slots", "gauge", "Experts the cache holds at once.", cache.n_slots);
  }
  time_to_first_token_seconds.render(out, "elephant_time_to_first_token_seconds",
                                     "Submission to first generated token, queueing included.");
  inter_token_latency_seconds.render(out, "elephant_inter_token_latency_seconds",
                                     "Time between consecutive generated tokens of a sequence.");
  return out;
}

}  // namespace elephant::server
