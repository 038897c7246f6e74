#include "server/engine_loop.h"

#include <algorithm>
#include <cstdio>
#include <memory>

#include "core/error.h"

namespace elephant::server {

void EventQueue::push(SequenceEvent event) {
  {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
  }
  ready_.notify_all();
}

std::vector<SequenceEvent> EventQueue::pop_all(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  ready_.wait_for(lock, timeout, [&] { return !events_.empty(); });
  std::vector<SequenceEvent> events(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
  events_.clear();
  return events;
}

EngineLoop::EngineLoop(models::Model& model, const engine::EngineOptions& options, std::function<void()> before_step)
    : engine_(model, options), before_step_(std::move(before_step)) {
  publish();
  thread_ = std::thread([this] { run(); });
}

EngineLoop::~EngineLoop() {
  cancel_all();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  thread_.join();
}

engine::RequestId EngineLoop::submit(engine::Request request) {
  std::lock_guard lock(mutex_);
  if (!failure_.empty()) fail("the engine stopped after an error: {}", failure_);
  if (stopping_) fail("the engine is stopping");
  auto on_finish = std::move(request.callbacks.on_finish);
  // The id exists only after Engine::submit; the wrapper cannot run before it is stored because
  // it needs mutex_, which this function holds until then.
  auto id = std::make_shared<engine::RequestId>(-1);
  request.callbacks.on_finish = [this, id](const engine::GenerateResult& result) {
    std::function<void(const engine::GenerateResult&)> finish;
    {
      std::lock_guard inner(mutex_);
      const auto it = active_.find(*id);
      if (it == active_.end()) return;
      finish = std::move(it->second);
      active_.erase(it);
    }
    if (finish) finish(result);
  };
  *id = engine_.submit(std::move(request));
  active_.emplace(*id, std::move(on_finish));
  work_.notify_one();
  return *id;
}

void EngineLoop::cancel(engine::RequestId id) {
  engine_.cancel(id);
  std::lock_guard lock(mutex_);
  work_.notify_one();
}

void EngineLoop::cancel_all() {
  std::lock_guard lock(mutex_);
  for (const auto& entry : active_) engine_.cancel(entry.first);
  work_.notify_one();
}

size_t EngineLoop::active() const {
  std::lock_guard lock(mutex_);
  return active_.size();
}

std::string EngineLoop::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

EngineSnapshot EngineLoop::snapshot() const {
  std::lock_guard lock(mutex_);
  EngineSnapshot snapshot = snapshot_;
  // Engine::waiting() belongs to the engine thread; submitted-but-unfinished minus running counts
  // the queue from here, including submissions the engine has not taken yet.
  snapshot.waiting = std::max<int64_t>(0, static_cast<int64_t>(active_.size()) - snapshot.running);
  return snapshot;
}

bool EngineLoop::has_work() const { return failure_.empty() && (engine_.running() > 0 || engine_.waiting() > 0); }

void EngineLoop::run() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock, [&] { return stopping_ || has_work(); });
      if (!has_work()) return;
    }
    if (before_step_) before_step_();
    try {
      engine_.step();
    } catch (const std::exception& error) {
      fail_all(error.what());
      return;
    }
    publish();
  }
}

void EngineLoop::publish() {
  EngineSnapshot snapshot;
  snapshot.running = static_cast<int64_t>(engine_.running());
  snapshot.step_rows = engine_.last_step().rows;
  snapshot.step_sequences = engine_.last_step().sequences;
  const auto& cache = engine_.kv_cache();
  snapshot.kv_blocks_total = cache.total_blocks();
  snapshot.kv_blocks_used = cache.total_blocks() - cache.free_blocks();
  if (auto* offload = engine_.model().offloading_experts()) snapshot.expert_cache = offload->stats();
  std::lock_guard lock(mutex_);
  snapshot_ = snapshot;
}

void EngineLoop::fail_all(const std::string& message) {
  std::map<engine::RequestId, std::function<void(const engine::GenerateResult&)>> orphans;
  {
    std::lock_guard lock(mutex_);
    failure_ = message;
    orphans.swap(active_);
  }
  std::fprintf(stderr, "error: the engine stopped: %s\n", message.c_str());
  for (auto& [id, finish] : orphans) {
    engine::GenerateResult result;
    result.stop_reason = engine::StopReason::kCancelled;
    if (finish) finish(result);
  }
}

}  // namespace elephant::server
