#include "layers/moe/expert_store.h"

namespace elephant::layers {

ResidentExpertStore::ResidentExpertStore(std::vector<std::vector<SwigluWeights>> experts)
    : experts_(std::move(experts)) {
  for (const auto& layer : experts_) acquire_counts_.emplace_back(layer.size(), 0);
}

const SwigluWeights& ResidentExpertStore::acquire(int layer, int expert) {
  ++acquire_counts_[static_cast<size_t>(layer)][static_cast<size_t>(expert)];
  return experts_[static_cast<size_t>(layer)][static_cast<size_t>(expert)];
}

uint64_t ResidentExpertStore::acquire_count(int layer, int expert) const {
  return acquire_counts_[static_cast<size_t>(layer)][static_cast<size_t>(expert)];
}

}  // namespace elephant::layers
