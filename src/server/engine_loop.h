// The one thread that owns the batching Engine. HTTP handler threads submit sequences and cancel
// them; the engine thread steps while anything is queued or running and sleeps on a condition
// variable otherwise. Engine callbacks (tokens, finish) run on the engine thread, so they only
// push events into per-request queues (EventQueue) that handler threads wait on.
//
// Every submitted sequence gets exactly one on_finish: from the engine (finished, stopped,
// cancelled), or from this loop when a step throws, in which case the loop stops stepping,
// reports the failure through failure() and refuses new submissions.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "server/metrics.h"

namespace elephant::server {

struct SequenceEvent {
  enum class Kind { kToken, kFinish };
  Kind kind = Kind::kToken;
  int choice = 0;                                 // which sequence of the request
  int32_t token = 0;                              // kToken
  std::optional<engine::TokenLogprobs> logprobs;  // kToken, when logprobs were asked for
  engine::GenerateResult result;                  // kFinish
};

// The events of one HTTP request's sequences, in the order the engine produced them.
class EventQueue {
 public:
  void push(SequenceEvent event);
  // Everything queued, waiting up to `timeout` for the first event (empty on timeout).
  std::vector<SequenceEvent> pop_all(std::chrono::milliseconds timeout);

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<SequenceEvent> events_;
};

class EngineLoop {
 public:
  // before_step runs on the engine thread before every step that has work (tests use it to hold
  // the engine at a known point); may be empty.
  EngineLoop(models::Model& model, const engine::EngineOptions& options, std::function<void()> before_step = {});
  // Cancels what is left and joins the engine thread.
  ~EngineLoop();

  // Throws Error when the engine rejects the request or has stopped.
  engine::RequestId submit(engine::Request request);
  void cancel(engine::RequestId id);
  void cancel_all();
  // Sequences submitted whose on_finish has not run yet.
  size_t active() const;
  // The message of the exception that stopped the engine; empty while it is healthy.
  std::string failure() const;
  EngineSnapshot snapshot() const;
  // Fixed when the engine is made, so readable from any thread.
  int64_t kv_pool_bytes() const { return engine_.kv_cache().pool_bytes(); }

 private:
  void run();
  bool has_work() const;  // with mutex_ held
  void publish();
  void fail_all(const std::string& message);

  engine::Engine engine_;
  std::function<void()> before_step_;

  mutable std::mutex mutex_;
  std::condition_variable work_;
  bool stopping_ = false;
  std::string failure_;
  // The caller's on_finish of every sequence not finished yet, to finish them if a step throws.
  std::map<engine::RequestId, std::function<void(const engine::GenerateResult&)>> active_;
  EngineSnapshot snapshot_;
  std::thread thread_;
};

}  // namespace elephant::server
