// The batching engine: many sequences share every step. Between steps sequences join (admission
// from a FIFO queue when KV blocks are free) and leave (finished, cancelled); a step mixes the
// decode rows of running sequences with chunks of new prompts up to a row budget, runs ONE
// Model::forward over all of them (so each expert's weights are read once per step for all rows
// routed to it), then samples every sequence that produced logits.
//
// Batch pruning is structural: a finished or cancelled sequence's rows are never put into a step,
// so they are never routed and experts only they would use are never touched.
// When the KV pool runs out during decode, the most recently admitted sequence is preempted: its
// blocks are freed and it re-enters the queue front to be recomputed later (its sampler state is
// kept, so its output is unchanged).
//
// Threading: submit() and cancel() may be called from any thread; step()/run() from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "engine/request.h"
#include "layers/kv_cache.h"
#include "layers/rows.h"
#include "models/model.h"

namespace elephant::engine {

using RequestId = int64_t;

// A step's forward pass run elsewhere than Model::forward: a device holding its own copy of the
// model and its own KV cache, addressed by the same cache slots and positions. Returns the logits
// of the rows whose logits_rows flag is set, in row order, as Model::forward does.
using ForwardFn = std::function<std::vector<float>(const layers::RowBatch& rows, std::span<const uint8_t> logits_rows)>;

struct EngineOptions {
  int max_sequences = 32;        // sequences running at once
  int max_step_rows = 512;       // rows (prompt chunk tokens + decode tokens) in one step
  int64_t kv_budget_bytes = 0;   // KV-cache pool; 0: default_kv_budget_bytes
  // Empty: Model::forward on the engine's KV cache. Set: every step runs through it; the engine's
  // cache then only accounts blocks (admission, preemption) and its pool is never written, so its
  // pages never become resident. Expert-touch counts stay 0 (the CPU model's counters).
  ForwardFn forward;
};

// The KV pool an engine gets when no budget is given: room for max_sequences full-context
// sequences, capped at half the machine's memory but never below one full-context sequence.
// Sequences that do not fit wait in the queue. (The pool's pages become resident only as
// positions are written, but a reservation beyond physical memory is refused by Linux's default
// overcommit policy, and a pool that large would swap.)
int64_t default_kv_budget_bytes(int64_t sequence_bytes, int max_sequences, int64_t physical_memory_bytes);

struct StepStats {
  int rows = 0;             // rows in the step
  int decode_rows = 0;      // rows that continue a sequence by one generated token
  int sequences = 0;        // sequences with rows in the step
  int64_t experts_touched = 0;  // expert acquisitions over all MoE layers in the step
};

class Engine {
 public:
  Engine(models::Model& model, const EngineOptions& options);
  ~Engine();

  RequestId submit(Request request);
  // The sequence stops before the next step; its on_finish reports StopReason::kCancelled.
  void cancel(RequestId id);

  // Runs one step; returns false when there was nothing to do.
  bool step();
  // Steps until no request is queued or running.
  void run();

  size_t waiting() const;
  size_t running() const { return running_.size(); }
  models::Model& model() { return model_; }
  const layers::KvCache& kv_cache() const { return cache_; }
  const StepStats& last_step() const { return last_step_; }
  uint64_t preemptions() const { return preemptions_; }

 private:
  struct Sequence;

  void take_submissions();
  void finish(Sequence& sequence, StopReason reason);
  bool admit(Sequence& sequence);
  void preempt(Sequence& sequence);
  // Samples the next token of a sequence whose last row produced `logits`; true when it goes on.
  bool advance(Sequence& sequence, std::span<float> logits);
  uint64_t expert_acquisitions() const;

  models::Model& model_;
  EngineOptions options_;
  layers::KvCache cache_;
  std::vector<int32_t> free_slots_;
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;  // in admission order
  StepStats last_step_;
  uint64_t preemptions_ = 0;

  mutable std::mutex inbox_mutex_;
  std::vector<std::unique_ptr<Sequence>> inbox_;
  std::vector<RequestId> cancelled_;
  RequestId next_id_ = 0;
};

}  // namespace elephant::engine
