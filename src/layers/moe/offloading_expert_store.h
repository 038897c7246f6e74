// OffloadingExpertStore: experts live in their home tier (the checkpoint files on disk) and run
// from a cache tier (RAM slots) of a fixed byte budget. A miss reads the expert with direct I/O
// (O_DIRECT where the file system allows it), so the page cache does not quietly hold the model and
// the budget is what the process really uses. hint() starts loads on I/O worker threads ahead of
// use (speculative pre-gating predicts the next layer's experts while this layer computes);
// acquire() waits for a load in flight. Which experts are cached never changes what is computed:
// a slot holds the same bytes as the file, so outputs equal the all-resident run bit for bit.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/memory.h"
#include "layers/moe/expert_store.h"

namespace elephant::layers {

enum class CachePolicy : uint8_t {
  kOnDemand,  // evict the expert loaded longest ago (FIFO)
  kLru,       // evict the least recently used expert
  kLfu,       // evict the expert used least often so far (ties: least recently used)
};

struct ExpertCacheOptions {
  int64_t budget_bytes = 0;     // RAM for cached experts; at least one expert
  double budget_fraction = 0;   // instead of budget_bytes: this share of all experts (1 = every expert fits)
  CachePolicy policy = CachePolicy::kLru;
  bool prefetch = false;     // act on hint(): start loading predicted experts at once
  int io_threads = 2;
};

// Where one matrix part (weights or scales) of an expert lies on disk.
struct ExpertHomeRegion {
  std::filesystem::path file;
  int64_t offset = 0;
  int64_t size = 0;
};
using LocateFn = std::function<ExpertHomeRegion(std::span<const std::byte> bytes)>;

struct ExpertCacheStats {
  uint64_t acquires = 0;
  uint64_t hits = 0;             // resident when acquired
  uint64_t late_prefetches = 0;  // still loading when acquired (partial stall)
  uint64_t misses = 0;           // not resident, not loading: loaded on demand
  uint64_t loads = 0;            // reads from the home tier (demand + prefetch)
  uint64_t wasted_prefetches = 0;  // prefetched, then evicted without being used
  uint64_t cancelled_prefetches = 0;  // predicted, still queued when routing chose otherwise: never read
  uint64_t bytes_loaded = 0;
  double stall_seconds = 0.0;    // time acquire() waited for bytes
  // Pre-gating accuracy: of the experts a layer actually used in steps where it had a
  // prediction, how many were predicted (one MoE layer ahead, and two with look-ahead 2); and how
  // many the previous step of that layer used.
  uint64_t predicted_used = 0, used_with_prediction = 0;
  uint64_t far_predicted_used = 0, used_with_far_prediction = 0;
  uint64_t previous_step_used = 0, used_after_previous_step = 0;
  int64_t slot_bytes = 0;
  int n_slots = 0;
};

// One layer's share of the accuracy counters of ExpertCacheStats.
struct PredictionCounts {
  uint64_t predicted_used = 0, used_with_prediction = 0;
  uint64_t far_predicted_used = 0, used_with_far_prediction = 0;
  uint64_t previous_step_used = 0, used_after_previous_step = 0;
};

// Farthest pre-gating look-ahead, in MoE layers.
inline constexpr int kMaxPregateDistance = 2;

class OffloadingExpertStore final : public ExpertStore {
 public:
  // experts[layer][expert]: views into the memory-mapped checkpoint (never read through the
  // mapping; only their shapes, formats and file regions are used).
  OffloadingExpertStore(std::vector<std::vector<SwigluWeights>> experts, const LocateFn& locate,
                        const ExpertCacheOptions& options);
  ~OffloadingExpertStore() override;

  const SwigluWeights& acquire(int layer, int expert) override;
  // One: only the last acquired expert's slot is pinned against eviction.
  int experts_usable_together() const override { return 1; }
  void hint(int layer, std::span<const int> experts, int distance) override;
  void will_use(int layer, std::span<const int> experts) override;
  uint64_t acquire_count(int layer, int expert) const override;

  ExpertCacheStats stats() const;
  // Reads experts from the home tier the way loads do (direct I/O, into a spare buffer) for about
  // a second and returns GB/s: the bound a cache miss runs against.
  double measure_home_read_gb_per_s();
  // Per layer (MoE layers only have non-zero counts).
  std::vector<PredictionCounts> prediction_counts_per_layer() const;

 private:
  struct Part {
    int matrix;        // 0 gate, 1 up, 2 down
    bool scales;       // the matrix's scales rather than its values
    ExpertHomeRegion home;
    int64_t slot_offset;  // where its aligned read starts in the slot
    int64_t lead;         // home.offset % alignment: the bytes before it in the aligned read
    int64_t span;         // aligned read length
  };
  struct Expert {
    SwigluWeights mapped;  // the views into the mapping (shapes, formats)
    std::vector<Part> parts;
  };
  enum class SlotState : uint8_t { kEmpty, kLoading, kReady };
  struct Slot {
    std::byte* buffer = nullptr;
    SlotState state = SlotState::kEmpty;
    int layer = -1, expert = -1;
    uint64_t last_use = 0, loaded_at = 0;
    bool prefetched_unused = false;
    bool needed = false;  // announced by will_use for this step and not acquired yet
    uint64_t last_token = 0;  // token_ when last acquired
    SwigluWeights weights;
    std::string error;  // a failed load: the message acquire() throws
  };
  struct Job {
    int slot;
  };

  int slot_of(int layer, int expert) const;
  // A slot to load into: empty, else the policy's victim among ready, unpinned slots; -1 if none.
  // Background loads never evict an expert the current step still needs; predictions also spare
  // experts used by this token or the previous one (their reuse is likelier than a guess).
  int take_slot(bool spare_needed, bool spare_recent);
  // Starts background loads of the experts that are not resident, keeping one slot free.
  void start_loads(int layer, std::span<const int> experts, bool prefetch);
  void assign(int slot, int layer, int expert, bool prefetch);
  void load(int slot);  // reads the slot's expert; called without the lock held
  // Reads one expert's parts into buffer; returns an error message, empty on success.
  std::string read_expert(int layer, int expert, std::byte* buffer, SwigluWeights& weights) const;
  void io_worker();

  std::vector<std::vector<Expert>> experts_;
  ExpertCacheOptions options_;
  int64_t slot_bytes_ = 0;
  HugePageBuffer slot_memory_;  // every slot's buffer, slot i at i * slot_bytes_
  std::vector<Slot> slots_;
  std::vector<std::vector<int>> slot_index_;  // [layer][expert] -> slot or -1
  std::vector<std::vector<uint64_t>> acquire_counts_;
  // [layer][distance - 1][expert] and [layer][expert]; empty: no prediction / no step yet.
  std::vector<std::array<std::vector<uint8_t>, kMaxPregateDistance>> predicted_;
  std::vector<std::vector<uint8_t>> previous_step_;
  std::vector<PredictionCounts> prediction_counts_;
  int pinned_ = -1;
  uint64_t clock_ = 0;
  uint64_t token_ = 0;       // advanced when the first MoE layer announces its experts
  int first_moe_layer_ = 0;
  ExpertCacheStats stats_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable work_;
  // Demand loads (this step's routing) are served before prefetches (predictions), so a wrong
  // guess queued earlier never delays an expert the step is waiting for.
  std::deque<Job> demand_jobs_;
  std::deque<Job> prefetch_jobs_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

// "2GiB", "512MiB", "1.5G", "100000000" (bytes) into budget_bytes, or "25%" into budget_fraction.
void parse_expert_cache_budget(const std::string& spec, ExpertCacheOptions& options);
CachePolicy parse_cache_policy(const std::string& name);

}  // namespace elephant::layers
