// ExpertStore: where an expert's weights are right now. The MoE layer asks for an expert only when
// at least one row was routed to it, through acquire(); hint() announces experts that will be
// needed soon. The resident store keeps every expert in memory (views into the mapped checkpoint);
// an offloading store (cache tier + home tier + prefetch) plugs in behind the same interface
// without the MoE layer changing.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "layers/swiglu.h"

namespace elephant::layers {

class ExpertStore {
 public:
  virtual ~ExpertStore() = default;
  virtual const SwigluWeights& acquire(int layer, int expert) = 0;
  // How many experts acquired one after another stay usable together (an acquire may reuse the
  // memory of experts acquired before that many): the MoE layer runs up to that many at once.
  virtual int experts_usable_together() const = 0;
  // A prediction of the experts `layer` will use (pre-gating); it may be wrong. distance: how many
  // MoE layers ahead it was made (1: from the input of the MoE layer before, or for the first MoE
  // layer from the previous token's output; 2: one MoE layer earlier still). Stores keep the
  // accuracy of each distance apart.
  virtual void hint(int layer, std::span<const int> experts, int distance) = 0;
  // The experts `layer` is about to acquire in this step (routing is done): a store may start
  // loading all of them at once.
  virtual void will_use(int layer, std::span<const int> experts) {}
  // How many times each expert of a layer was acquired: the test and bench view of "experts
  // touched" (an expert that received no row must stay at zero).
  virtual uint64_t acquire_count(int layer, int expert) const = 0;
};

class ResidentExpertStore final : public ExpertStore {
 public:
  // experts[layer][expert]; layers without experts hold an empty list.
  explicit ResidentExpertStore(std::vector<std::vector<SwigluWeights>> experts);

  const SwigluWeights& acquire(int layer, int expert) override;
  int experts_usable_together() const override { return std::numeric_limits<int>::max(); }
  void hint(int layer, std::span<const int> experts, int distance) override {}
  uint64_t acquire_count(int layer, int expert) const override;

 private:
  std::vector<std::vector<SwigluWeights>> experts_;
  std::vector<std::vector<uint64_t>> acquire_counts_;
};

}  // namespace elephant::layers
