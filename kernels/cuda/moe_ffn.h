// A whole MoE FFN block on the GPU (routing rule R1 with SwiGLU experts: Mixtral, Qwen2/3-MoE,
// OLMoE): weights uploaded once in the kernels' layout, workspace sized once for max_rows, and a
// forward that is only kernel launches on one stream (no host round trip, so a decode step can be
// captured in a CUDA graph).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "kernels/cuda/device.h"
#include "kernels/cuda/moe_kernels.h"
#include "kernels/cuda/weight_layout.h"
#include "kernels/kernels.h"

namespace elephant::cuda {

// The two large per-step buffers of an MoE block, [slots, expert_ffn] and [slots, hidden]. Blocks
// run one after another, so a model's MoE layers can share one (it only grows, at construction).
struct MoeScratch {
  DeviceBuffer<float> hidden_act;
  DeviceBuffer<float> expert_out;
};

struct ExpertWeights {
  kernels::WeightMatrix gate;  // [expert_ffn, hidden]
  kernels::WeightMatrix up;    // [expert_ffn, hidden]
  kernels::WeightMatrix down;  // [hidden, expert_ffn]
};

class DeviceMoeFfn {
 public:
  // Throws Error naming `what` when shapes or formats disagree, or the rule exceeds the kernels'
  // limits (≤ 256 experts, top_k ≤ 8). scratch: shared with other blocks, or null for its own.
  // Returns with every upload complete (forward may run on any stream).
  DeviceMoeFfn(const kernels::WeightMatrix& router, std::span<const ExpertWeights> experts, int top_k,
               bool renormalize, int64_t max_rows, std::string_view what,
               std::shared_ptr<MoeScratch> scratch = nullptr);

  // out = residual (when not null) + MoE(x). x, residual, out: device [n_rows, hidden]; active:
  // device [n_rows] or null (all rows active); rows with active 0 get out = residual (or 0).
  void forward(const float* x, int64_t n_rows, const uint8_t* active, const float* residual, float* out,
               cudaStream_t stream);

  int n_experts() const { return n_experts_; }
  int64_t hidden() const { return hidden_; }
  size_t weight_bytes() const;
  // The expert offsets of the last forward (synchronises the stream): slots per expert, and at
  // index n_experts the start of the pruned rows' slots.
  std::vector<int32_t> last_offsets(cudaStream_t stream) const;

 private:
  int n_experts_ = 0;
  int top_k_ = 0;
  bool renormalize_ = true;
  int64_t hidden_ = 0;
  int64_t expert_ffn_ = 0;
  int64_t max_rows_ = 0;
  DeviceFormat expert_format_ = DeviceFormat::kF32;
  DeviceMatrix router_;
  std::vector<DeviceMatrix> gates_;
  std::vector<DeviceMatrix> ups_;
  std::vector<DeviceMatrix> downs_;
  DeviceBuffer<MatrixView> gate_views_;
  DeviceBuffer<MatrixView> up_views_;
  DeviceBuffer<MatrixView> down_views_;
  DeviceBuffer<int32_t> experts_;
  DeviceBuffer<float> weights_;
  DeviceBuffer<uint8_t> permute_workspace_;
  DeviceBuffer<int32_t> offsets_;
  DeviceBuffer<int32_t> slot_assignment_;
  DeviceBuffer<int32_t> slot_row_;
  DeviceBuffer<int32_t> position_of_;
  DeviceBuffer<int32_t> tiles_;
  std::shared_ptr<MoeScratch> scratch_;
};

}  // namespace elephant::cuda
