#include "layers/moe/offloading_expert_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>

#include "core/error.h"

namespace elephant::layers {
namespace {

// O_DIRECT needs the buffer, the file offset and the length aligned to the logical block size;
// 4 KiB covers the devices in use.
constexpr int64_t kAlignment = 4096;

int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

// Index of the first non-finite value of floating-point data, or -1. A region overwritten on disk
// shows up here (as NaN/Inf) instead of as silently wrong outputs; corruption that yields finite
// numbers cannot be told from weights.
int64_t first_non_finite(const std::byte* data, int64_t bytes, DType dtype) {
  switch (dtype) {
    case DType::kBF16:
    case DType::kF16: {
      const uint16_t mask = dtype == DType::kBF16 ? 0x7F80 : 0x7C00;
      for (int64_t i = 0; i < bytes / 2; ++i) {
        uint16_t value;
        std::memcpy(&value, data + 2 * i, 2);
        if ((value & mask) == mask) return i;
      }
      return -1;
    }
    case DType::kF32:
      for (int64_t i = 0; i < bytes / 4; ++i) {
        uint32_t value;
        std::memcpy(&value, data + 4 * i, 4);
        if ((value & 0x7F800000u) == 0x7F800000u) return i;
      }
      return -1;
    default:
      return -1;
  }
}

const char* kMatrixNames[] = {"gate", "up", "down"};

ops::WeightMatrix& matrix_of(SwigluWeights& w, int matrix) { return matrix == 0 ? w.gate : matrix == 1 ? w.up : w.down; }

}  // namespace

OffloadingExpertStore::OffloadingExpertStore(std::vector<std::vector<SwigluWeights>> experts, const LocateFn& locate,
                                             const ExpertCacheOptions& options)
    : options_(options) {
  std::map<std::filesystem::path, int> descriptors;
  for (auto& layer_experts : experts) {
    experts_.emplace_back();
    for (SwigluWeights& mapped : layer_experts) {
      Expert expert{mapped, {}};
      int64_t offset = 0;
      for (int m = 0; m < 3; ++m) {
        for (bool scales : {false, true}) {
          const ops::WeightMatrix& matrix = matrix_of(mapped, m);
          const auto bytes = scales ? kernels::weight_scale_bytes(matrix) : kernels::weight_data_bytes(matrix);
          if (bytes.empty()) continue;
          Part part{m, scales, locate(bytes), offset, 0, 0};
          part.lead = part.home.offset % kAlignment;
          part.span = round_up(part.lead + part.home.size, kAlignment);
          offset += part.span;
          expert.parts.push_back(std::move(part));
        }
      }
      slot_bytes_ = std::max(slot_bytes_, offset);
      experts_.back().push_back(std::move(expert));
    }
  }
  if (slot_bytes_ == 0) fail("--expert-cache: the model has no routed experts to offload");
  int64_t n_experts = 0;
  for (const auto& layer_experts : experts_) n_experts += static_cast<int64_t>(layer_experts.size());
  const int64_t n_slots = options_.budget_fraction > 0
                              ? std::min(n_experts, static_cast<int64_t>(options_.budget_fraction * static_cast<double>(n_experts) + 1e-9))
                              : options_.budget_bytes / slot_bytes_;
  if (n_slots < 1) {
    fail("--expert-cache: the budget ({}) is smaller than one expert ({} bytes with direct-I/O alignment)",
         options_.budget_fraction > 0 ? fmt::format("{}% of {} experts", 100 * options_.budget_fraction, n_experts)
                                      : fmt::format("{} bytes", options_.budget_bytes),
         slot_bytes_);
  }
  slots_.resize(static_cast<size_t>(n_slots));
  try {
    slot_memory_ = HugePageBuffer(static_cast<size_t>(n_slots * slot_bytes_));
  } catch (const std::bad_alloc&) {
    fail("--expert-cache: cannot allocate {} slots of {} bytes", n_slots, slot_bytes_);
  }
  for (size_t i = 0; i < slots_.size(); ++i) slots_[i].buffer = slot_memory_.data() + i * static_cast<size_t>(slot_bytes_);
  for (const auto& layer_experts : experts_) {
    slot_index_.emplace_back(layer_experts.size(), -1);
    acquire_counts_.emplace_back(layer_experts.size(), 0);
    predicted_.emplace_back();
    previous_step_.emplace_back();
  }
  prediction_counts_.assign(experts_.size(), PredictionCounts{});
  while (first_moe_layer_ + 1 < static_cast<int>(experts_.size()) && experts_[static_cast<size_t>(first_moe_layer_)].empty()) {
    ++first_moe_layer_;
  }
  stats_.slot_bytes = slot_bytes_;
  stats_.n_slots = static_cast<int>(n_slots);
  for (int i = 0; i < std::max(1, options_.io_threads); ++i) workers_.emplace_back([this] { io_worker(); });
}

OffloadingExpertStore::~OffloadingExpertStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  for (auto& worker : workers_) worker.join();
}

int OffloadingExpertStore::slot_of(int layer, int expert) const {
  return slot_index_[static_cast<size_t>(layer)][static_cast<size_t>(expert)];
}

int OffloadingExpertStore::take_slot(bool spare_needed, bool spare_recent) {
  int victim = -1;
  const auto better = [&](const Slot& a, const Slot& b) {
    switch (options_.policy) {
      case CachePolicy::kOnDemand:
        return a.loaded_at < b.loaded_at;
      case CachePolicy::kLfu: {
        const uint64_t uses_a = acquire_counts_[static_cast<size_t>(a.layer)][static_cast<size_t>(a.expert)];
        const uint64_t uses_b = acquire_counts_[static_cast<size_t>(b.layer)][static_cast<size_t>(b.expert)];
        return uses_a != uses_b ? uses_a < uses_b : a.last_use < b.last_use;
      }
      case CachePolicy::kLru:
        break;
    }
    return a.last_use < b.last_use;
  };
  for (int s = 0; s < static_cast<int>(slots_.size()); ++s) {
    const Slot& slot = slots_[static_cast<size_t>(s)];
    if (slot.state == SlotState::kEmpty) return s;
    if (slot.state != SlotState::kReady || s == pinned_ || (spare_needed && slot.needed)) continue;
    if (spare_recent && slot.last_token + 1 >= token_) continue;
    if (victim < 0 || better(slot, slots_[static_cast<size_t>(victim)])) victim = s;
  }
  if (victim >= 0) {
    Slot& slot = slots_[static_cast<size_t>(victim)];
    if (slot.prefetched_unused) ++stats_.wasted_prefetches;
    slot_index_[static_cast<size_t>(slot.layer)][static_cast<size_t>(slot.expert)] = -1;
    slot.state = SlotState::kEmpty;
  }
  return victim;
}

void OffloadingExpertStore::assign(int s, int layer, int expert, bool prefetch) {
  Slot& slot = slots_[static_cast<size_t>(s)];
  slot.state = SlotState::kLoading;
  slot.layer = layer;
  slot.expert = expert;
  slot.loaded_at = slot.last_use = ++clock_;
  slot.prefetched_unused = prefetch;
  slot.needed = false;
  slot.error.clear();
  slot_index_[static_cast<size_t>(layer)][static_cast<size_t>(expert)] = s;
  ++stats_.loads;
}

std::string OffloadingExpertStore::read_expert(int layer, int expert_id, std::byte* buffer,
                                               SwigluWeights& weights) const {
  const Expert& expert = experts_[static_cast<size_t>(layer)][static_cast<size_t>(expert_id)];
  weights = expert.mapped;
  for (const Part& part : expert.parts) {
    const auto what = [&] {
      return fmt::format("{}: layer {} expert {} {} {} at bytes [{}, {})", part.home.file.string(), layer, expert_id,
                         kMatrixNames[part.matrix], part.scales ? "scales" : "weights", part.home.offset,
                         part.home.offset + part.home.size);
    };
    // Direct I/O bypasses the page cache, so the budget bounds what the model really holds; file
    // systems without it (tmpfs) are read the ordinary way.
    int fd = ::open(part.home.file.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) fd = ::open(part.home.file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fmt::format("{}: cannot open ({})", what(), std::strerror(errno));
    std::byte* destination = buffer + part.slot_offset;
    int64_t done = 0;
    const int64_t wanted = part.lead + part.home.size;
    while (done < wanted) {
      const ssize_t n = ::pread(fd, destination + done, static_cast<size_t>(part.span - done),
                                part.home.offset - part.lead + done);
      if (n <= 0) break;
      done += n;
    }
    ::close(fd);
    if (done < wanted) {
      return fmt::format("{}: read {} of {} bytes (was the file truncated or replaced while running?)", what(),
                         std::max<int64_t>(0, done - part.lead), part.home.size);
    }
    ops::WeightMatrix& w = matrix_of(weights, part.matrix);
    const std::byte* bytes = destination + part.lead;
    if (const int64_t bad = first_non_finite(bytes, part.home.size, part.scales ? w.scale_dtype : w.dtype); bad >= 0) {
      return fmt::format("{}: value {} is not finite (the file is corrupted)", what(), bad);
    }
    (part.scales ? w.scales : w.data) = bytes;
  }
  return {};
}

void OffloadingExpertStore::load(int s) {
  Slot& slot = slots_[static_cast<size_t>(s)];
  SwigluWeights weights;
  const std::string error = read_expert(slot.layer, slot.expert, slot.buffer, weights);
  std::lock_guard lock(mutex_);
  slot.weights = weights;
  slot.error = error;
  slot.state = SlotState::kReady;
  for (const Part& part : experts_[static_cast<size_t>(slot.layer)][static_cast<size_t>(slot.expert)].parts) {
    stats_.bytes_loaded += static_cast<uint64_t>(part.home.size);
  }
}

double OffloadingExpertStore::measure_home_read_gb_per_s() {
  const HugePageBuffer buffer(static_cast<size_t>(slot_bytes_));  // a slot like the loads' ones
  const auto start = std::chrono::steady_clock::now();
  double seconds = 0.0;
  int64_t bytes = 0;
  for (size_t l = 0; l < experts_.size() && seconds < 1.0; ++l) {
    for (size_t e = 0; e < experts_[l].size() && seconds < 1.0; ++e) {
      SwigluWeights weights;
      const std::string error = read_expert(static_cast<int>(l), static_cast<int>(e), buffer.data(), weights);
      if (!error.empty()) throw Error(error);
      for (const Part& part : experts_[l][e].parts) bytes += part.home.size;
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  }
  return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0.0;
}

void OffloadingExpertStore::io_worker() {
  while (true) {
    int s = -1;
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock, [&] { return stopping_ || !demand_jobs_.empty() || !prefetch_jobs_.empty(); });
      if (stopping_) return;
      std::deque<Job>& jobs = demand_jobs_.empty() ? prefetch_jobs_ : demand_jobs_;
      s = jobs.front().slot;
      jobs.pop_front();
    }
    load(s);
    ready_.notify_all();
  }
}

void OffloadingExpertStore::start_loads(int layer, std::span<const int> experts, bool prefetch) {
  // Keep one slot out of reach so the expert being computed and a demand load can always coexist.
  int budget = static_cast<int>(slots_.size()) - 1;
  for (int expert : experts) {
    const int s = slot_of(layer, expert);
    if (s >= 0) {
      Slot& slot = slots_[static_cast<size_t>(s)];
      slot.last_use = ++clock_;
      slot.needed = slot.needed || !prefetch;
      continue;
    }
    if (budget <= 0) continue;
    const int free_slot = take_slot(true, prefetch);
    if (free_slot < 0) continue;
    assign(free_slot, layer, expert, prefetch);
    slots_[static_cast<size_t>(free_slot)].needed = !prefetch;
    (prefetch ? prefetch_jobs_ : demand_jobs_).push_back({free_slot});
    --budget;
  }
  work_.notify_all();
}

void OffloadingExpertStore::hint(int layer, std::span<const int> experts, int distance) {
  if (distance < 1 || distance > kMaxPregateDistance) {
    fail("pre-gating hint for layer {}: distance {} is outside [1, {}]", layer, distance, kMaxPregateDistance);
  }
  std::lock_guard lock(mutex_);
  auto& predicted = predicted_[static_cast<size_t>(layer)][static_cast<size_t>(distance - 1)];
  predicted.assign(experts_[static_cast<size_t>(layer)].size(), 0);
  for (int expert : experts) predicted[static_cast<size_t>(expert)] = 1;
  if (options_.prefetch) start_loads(layer, experts, true);
}

void OffloadingExpertStore::will_use(int layer, std::span<const int> experts) {
  std::lock_guard lock(mutex_);
  if (layer == first_moe_layer_) ++token_;
  PredictionCounts& counts = prediction_counts_[static_cast<size_t>(layer)];
  auto& [near, far] = predicted_[static_cast<size_t>(layer)];
  auto& previous = previous_step_[static_cast<size_t>(layer)];
  for (int expert : experts) {
    const auto e = static_cast<size_t>(expert);
    if (!near.empty()) {
      counts.predicted_used += near[e];
      ++counts.used_with_prediction;
    }
    if (!far.empty()) {
      counts.far_predicted_used += far[e];
      ++counts.used_with_far_prediction;
    }
    if (!previous.empty()) {
      counts.previous_step_used += previous[e];
      ++counts.used_after_previous_step;
    }
  }
  near.clear();
  far.clear();
  previous.assign(experts_[static_cast<size_t>(layer)].size(), 0);
  for (int expert : experts) previous[static_cast<size_t>(expert)] = 1;
  // Queued predictions for this layer are settled now: the used ones become demand loads, the
  // others are dropped before they take disk time or a slot.
  for (auto job = prefetch_jobs_.begin(); job != prefetch_jobs_.end();) {
    Slot& slot = slots_[static_cast<size_t>(job->slot)];
    if (slot.layer != layer) {
      ++job;
      continue;
    }
    if (previous[static_cast<size_t>(slot.expert)] != 0) {
      demand_jobs_.push_back(*job);
    } else {
      slot_index_[static_cast<size_t>(slot.layer)][static_cast<size_t>(slot.expert)] = -1;
      slot.state = SlotState::kEmpty;
      ++stats_.cancelled_prefetches;
      --stats_.loads;
    }
    job = prefetch_jobs_.erase(job);
  }
  start_loads(layer, experts, false);
}

const SwigluWeights& OffloadingExpertStore::acquire(int layer, int expert) {
  std::unique_lock lock(mutex_);
  ++acquire_counts_[static_cast<size_t>(layer)][static_cast<size_t>(expert)];
  ++stats_.acquires;
  pinned_ = -1;
  const auto start = std::chrono::steady_clock::now();
  int s = slot_of(layer, expert);
  if (s >= 0 && slots_[static_cast<size_t>(s)].state == SlotState::kReady) {
    ++stats_.hits;
  } else if (s >= 0) {
    ++stats_.late_prefetches;
    ready_.wait(lock, [&] { return slots_[static_cast<size_t>(s)].state != SlotState::kLoading; });
  } else {
    ++stats_.misses;
    while ((s = take_slot(false, false)) < 0) ready_.wait(lock);
    assign(s, layer, expert, false);
    lock.unlock();
    load(s);
    lock.lock();
  }
  stats_.stall_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Slot& slot = slots_[static_cast<size_t>(s)];
  if (!slot.error.empty()) {
    const std::string message = slot.error;
    slot_index_[static_cast<size_t>(layer)][static_cast<size_t>(expert)] = -1;
    slot.state = SlotState::kEmpty;
    throw Error(message);
  }
  slot.last_use = ++clock_;
  slot.prefetched_unused = false;
  slot.needed = false;
  slot.last_token = token_;
  pinned_ = s;
  return slot.weights;
}

uint64_t OffloadingExpertStore::acquire_count(int layer, int expert) const {
  std::lock_guard lock(mutex_);
  return acquire_counts_[static_cast<size_t>(layer)][static_cast<size_t>(expert)];
}

ExpertCacheStats OffloadingExpertStore::stats() const {
  std::lock_guard lock(mutex_);
  ExpertCacheStats stats = stats_;
  for (const PredictionCounts& counts : prediction_counts_) {
    stats.predicted_used += counts.predicted_used;
    stats.used_with_prediction += counts.used_with_prediction;
    stats.far_predicted_used += counts.far_predicted_used;
    stats.used_with_far_prediction += counts.used_with_far_prediction;
    stats.previous_step_used += counts.previous_step_used;
    stats.used_after_previous_step += counts.used_after_previous_step;
  }
  return stats;
}

std::vector<PredictionCounts> OffloadingExpertStore::prediction_counts_per_layer() const {
  std::lock_guard lock(mutex_);
  return prediction_counts_;
}

void parse_expert_cache_budget(const std::string& spec, ExpertCacheOptions& options) {
  const auto bad = [&] {
    fail("--expert-cache {}: expected a size (e.g. 2GiB, 512MiB, 1.5G, 100000000) or a share of all experts (e.g. 25%)",
         spec);
  };
  char* end = nullptr;
  const double value = std::strtod(spec.c_str(), &end);
  if (end == spec.c_str() || !(value > 0) || !std::isfinite(value)) bad();
  const std::string unit(end);
  if (unit == "%") {
    if (value > 100) bad();
    options.budget_fraction = value / 100.0;
    options.budget_bytes = 0;
    return;
  }
  static const std::map<std::string, double> kUnits = {
      {"", 1.0},   {"B", 1.0},   {"K", 1e3},   {"KB", 1e3},   {"KiB", 1024.0},           {"M", 1e6},
      {"MB", 1e6}, {"MiB", 1048576.0}, {"G", 1e9}, {"GB", 1e9}, {"GiB", 1073741824.0}, {"T", 1e12},
      {"TB", 1e12}, {"TiB", 1099511627776.0}};
  const auto it = kUnits.find(unit);
  if (it == kUnits.end()) bad();
  options.budget_bytes = static_cast<int64_t>(value * it->second);
  options.budget_fraction = 0;
}

CachePolicy parse_cache_policy(const std::string& name) {
  if (name == "ondemand" || name == "on-demand" || name == "fifo") return CachePolicy::kOnDemand;
  if (name == "lru") return CachePolicy::kLru;
  if (name == "lfu") return CachePolicy::kLfu;
  fail("--expert-policy {}: expected ondemand, lru or lfu", name);
}

}  // namespace elephant::layers
