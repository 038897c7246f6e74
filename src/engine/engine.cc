#include "engine/engine.h"

#include <unistd.h>

#include <algorithm>

#include "core/error.h"

namespace elephant::engine {

using Clock = std::chrono::steady_clock;

struct Engine::Sequence {
  RequestId id = 0;
  Request request;
  Sampler sampler;
  std::vector<int32_t> tokens;  // prompt followed by generated tokens
  int64_t n_cached = 0;         // leading tokens whose K/V are in the cache
  int32_t slot = -1;            // KV-cache slot while admitted
  bool cancelled = false;
  GenerateResult result;
  Clock::time_point submitted;
  Clock::time_point first_token;

  Sequence(RequestId id_, Request request_)
      : id(id_), request(std::move(request_)), sampler(request.options.sampling), tokens(request.prompt) {}
};

std::string stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::kMaxTokens:
      return "max tokens";
    case StopReason::kEos:
      return "end of sequence";
    case StopReason::kStopString:
      return "stop string";
    case StopReason::kCallback:
      return "stopped by caller";
    case StopReason::kContextFull:
      return "context full";
    case StopReason::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

int64_t default_kv_budget_bytes(int64_t sequence_bytes, int max_sequences, int64_t physical_memory_bytes) {
  const int64_t wanted = sequence_bytes * std::max(1, max_sequences);
  return std::min(wanted, std::max(sequence_bytes, physical_memory_bytes / 2));
}

namespace {

int64_t kv_budget_bytes(const models::Model& model, const EngineOptions& options) {
  if (options.kv_budget_bytes > 0) return options.kv_budget_bytes;
  const int64_t physical = int64_t{sysconf(_SC_PHYS_PAGES)} * sysconf(_SC_PAGE_SIZE);
  return default_kv_budget_bytes(model.kv_sequence_bytes(), options.max_sequences, physical);
}

}  // namespace

Engine::Engine(models::Model& model, const EngineOptions& options)
    : model_(model), options_(options), cache_(model.make_kv_cache_for_budget(kv_budget_bytes(model, options))) {
  if (options.max_sequences < 1) fail("max sequences {}: expected at least 1", options.max_sequences);
  if (options.max_step_rows < 1) fail("max step rows {}: expected at least 1", options.max_step_rows);
  for (int slot = options.max_sequences - 1; slot >= 0; --slot) free_slots_.push_back(slot);
}

Engine::~Engine() = default;

RequestId Engine::submit(Request request) {
  if (request.prompt.empty()) fail("the prompt is empty: give at least one token");
  if (request.options.max_new_tokens < 0) fail("max tokens {}: expected >= 0", request.options.max_new_tokens);
  if (!request.options.stop_strings.empty() && !request.callbacks.detokenize) {
    fail("stop strings need a tokenizer to decode text (the model directory has none)");
  }
  if (static_cast<int64_t>(request.prompt.size()) > model_.context_length()) {
    fail("the prompt has {} tokens but the context holds {}", request.prompt.size(), model_.context_length());
  }
  for (int32_t token : request.prompt) {
    if (token < 0 || token >= model_.config().vocab_size) {
      fail("prompt token id {} is outside the vocabulary [0, {})", token, model_.config().vocab_size);
    }
  }
  if (request.options.eos_token_ids.empty()) {
    const auto& eos = model_.config().eos_token_ids;
    request.options.eos_token_ids.assign(eos.begin(), eos.end());
  }
  std::lock_guard lock(inbox_mutex_);
  const RequestId id = next_id_++;
  auto sequence = std::make_unique<Sequence>(id, std::move(request));
  sequence->submitted = Clock::now();
  sequence->result.prompt_tokens = static_cast<int64_t>(sequence->tokens.size());
  inbox_.push_back(std::move(sequence));
  return id;
}

void Engine::cancel(RequestId id) {
  std::lock_guard lock(inbox_mutex_);
  cancelled_.push_back(id);
}

size_t Engine::waiting() const {
  std::lock_guard lock(inbox_mutex_);
  return waiting_.size() + inbox_.size();
}

void Engine::take_submissions() {
  std::vector<RequestId> cancelled;
  {
    std::lock_guard lock(inbox_mutex_);
    for (auto& sequence : inbox_) waiting_.push_back(std::move(sequence));
    inbox_.clear();
    cancelled.swap(cancelled_);
  }
  for (RequestId id : cancelled) {
    for (auto& sequence : running_) sequence->cancelled |= sequence->id == id;
    for (auto& sequence : waiting_) sequence->cancelled |= sequence->id == id;
  }
  const auto finish_cancelled = [&](auto& list) {
    for (auto& sequence : list) {
      if (sequence->cancelled) finish(*sequence, StopReason::kCancelled);
    }
    list.erase(std::remove_if(list.begin(), list.end(), [](const auto& s) { return s->cancelled; }), list.end());
  };
  finish_cancelled(running_);
  finish_cancelled(waiting_);
}

void Engine::finish(Sequence& sequence, StopReason reason) {
  if (sequence.slot >= 0) {
    cache_.release(sequence.slot);
    free_slots_.push_back(sequence.slot);
    sequence.slot = -1;
  }
  GenerateResult& result = sequence.result;
  result.stop_reason = reason;
  const auto now = Clock::now();
  if (result.tokens.empty()) {
    result.prompt_seconds = std::chrono::duration<double>(now - sequence.submitted).count();
  } else {
    result.generate_seconds = std::chrono::duration<double>(now - sequence.first_token).count();
  }
  const auto& detokenize = sequence.request.callbacks.detokenize;
  if (detokenize && reason != StopReason::kStopString) result.text = detokenize(result.tokens);
  if (sequence.request.callbacks.on_finish) sequence.request.callbacks.on_finish(result);
}

bool Engine::admit(Sequence& sequence) {
  if (free_slots_.empty()) return false;
  const int32_t slot = free_slots_.back();
  // Room for the prompt and the first generated token, so the first decode step cannot fail.
  const int64_t needed = std::min<int64_t>(static_cast<int64_t>(sequence.tokens.size()) + 1, model_.context_length());
  if (!cache_.reserve(slot, needed)) return false;
  free_slots_.pop_back();
  sequence.slot = slot;
  sequence.n_cached = 0;
  return true;
}

void Engine::preempt(Sequence& sequence) {
  cache_.release(sequence.slot);
  free_slots_.push_back(sequence.slot);
  sequence.slot = -1;
  sequence.n_cached = 0;
  ++preemptions_;
}

uint64_t Engine::expert_acquisitions() const {
  uint64_t total = 0;
  const auto& c = model_.config();
  for (int l = 0; l < c.n_layers; ++l) {
    if (!c.layers[static_cast<size_t>(l)].is_moe) continue;
    for (int e = 0; e < c.moe.n_experts; ++e) total += model_.experts().acquire_count(l, e);
  }
  return total;
}

bool Engine::advance(Sequence& sequence, std::span<float> logits) {
  const GenerateOptions& options = sequence.request.options;
  GenerateResult& result = sequence.result;
  const auto& callbacks = sequence.request.callbacks;
  // The sampler rewrites logits in place (penalties), so log-probabilities need the raw row.
  std::vector<float> raw_logits;
  if (options.top_logprobs >= 0 && callbacks.on_logprobs) raw_logits.assign(logits.begin(), logits.end());
  const int32_t token = sequence.sampler.sample(logits, sequence.tokens);
  if (result.tokens.empty()) {
    sequence.first_token = Clock::now();
    result.prompt_seconds = std::chrono::duration<double>(sequence.first_token - sequence.submitted).count();
  }
  const auto& eos = options.eos_token_ids;
  if (options.stop_on_eos && std::find(eos.begin(), eos.end(), token) != eos.end()) {
    finish(sequence, StopReason::kEos);
    return false;
  }
  result.tokens.push_back(token);
  sequence.tokens.push_back(token);
  if (!raw_logits.empty()) callbacks.on_logprobs(token_logprobs(raw_logits, token, options.top_logprobs));
  if (callbacks.on_token && !callbacks.on_token(token)) {
    finish(sequence, StopReason::kCallback);
    return false;
  }
  if (!options.stop_strings.empty()) {
    const std::string text = callbacks.detokenize(result.tokens);
    for (const auto& stop : options.stop_strings) {
      const size_t at = text.find(stop);
      if (at != std::string::npos) {
        result.text = text.substr(0, at);
        finish(sequence, StopReason::kStopString);
        return false;
      }
    }
  }
  if (static_cast<int>(result.tokens.size()) >= options.max_new_tokens) {
    finish(sequence, StopReason::kMaxTokens);
    return false;
  }
  if (static_cast<int64_t>(sequence.tokens.size()) >= model_.context_length()) {
    finish(sequence, StopReason::kContextFull);
    return false;
  }
  return true;
}

bool Engine::step() {
  take_submissions();

  // Admission, first come first served; a request that does not fit waits for blocks.
  while (!waiting_.empty() && static_cast<int>(running_.size()) < options_.max_sequences) {
    if (!admit(*waiting_.front())) break;
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  // Requests that ask for no tokens finish without touching the model.
  for (auto& sequence : running_) {
    if (sequence->request.options.max_new_tokens == 0) finish(*sequence, StopReason::kMaxTokens);
  }
  running_.erase(std::remove_if(running_.begin(), running_.end(), [](const auto& s) { return s->slot < 0; }),
                 running_.end());
  if (running_.empty()) {
    last_step_ = {};
    return !waiting_.empty();
  }

  // Decode rows need one more KV position; when the pool is exhausted, the latest admitted
  // sequence goes back to the queue (recomputed later), repeatedly if needed.
  for (size_t i = 0; i < running_.size(); ++i) {
    Sequence& sequence = *running_[i];
    const auto needed = static_cast<int64_t>(sequence.tokens.size());
    while (!cache_.reserve(sequence.slot, needed)) {
      Sequence& victim = *running_.back();
      preempt(victim);
      waiting_.push_front(std::move(running_.back()));
      running_.pop_back();
      if (&victim == &sequence) break;
    }
    if (i >= running_.size()) break;
  }

  // Build the step: every running sequence contributes its pending tokens (one for decode, a
  // chunk of the prompt for prefill) within the row budget, oldest sequences first.
  layers::RowBatch rows;
  std::vector<uint8_t> wants_logits;
  std::vector<std::pair<Sequence*, int64_t>> planned;  // sequence, rows taken
  int64_t budget = options_.max_step_rows;
  StepStats stats;
  for (auto& sequence : running_) {
    const int64_t pending = static_cast<int64_t>(sequence->tokens.size()) - sequence->n_cached;
    const int64_t take = std::min(pending, budget);
    if (take <= 0) continue;
    for (int64_t i = 0; i < take; ++i) {
      const int64_t position = sequence->n_cached + i;
      rows.add(sequence->tokens[static_cast<size_t>(position)], static_cast<int32_t>(position), sequence->slot);
      wants_logits.push_back(position + 1 == static_cast<int64_t>(sequence->tokens.size()) ? 1 : 0);
    }
    planned.emplace_back(sequence.get(), take);
    budget -= take;
    stats.decode_rows += sequence->result.tokens.empty() ? 0 : 1;
  }
  stats.rows = static_cast<int>(rows.size());
  stats.sequences = static_cast<int>(planned.size());
  const uint64_t acquired_before = expert_acquisitions();
  std::vector<float> logits =
      options_.forward ? options_.forward(rows, wants_logits) : model_.forward(rows, cache_, wants_logits);
  stats.experts_touched = static_cast<int64_t>(expert_acquisitions() - acquired_before);
  last_step_ = stats;

  const int64_t vocab = model_.config().vocab_size;
  int64_t logits_row = 0;
  for (auto& [sequence, taken] : planned) {
    sequence->n_cached += taken;
    if (sequence->n_cached != static_cast<int64_t>(sequence->tokens.size())) continue;
    advance(*sequence, std::span<float>(logits.data() + logits_row * vocab, static_cast<size_t>(vocab)));
    ++logits_row;
  }
  running_.erase(std::remove_if(running_.begin(), running_.end(), [](const auto& s) { return s->slot < 0; }),
                 running_.end());
  return true;
}

void Engine::run() {
  while (step()) {
  }
}

}  // namespace elephant::engine
