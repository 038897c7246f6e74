// A decoder model running on the GPU: the CPU Model's weights uploaded once in the CUDA kernels'
// layout, a device KV cache, and the same forward contract as models::Model::forward (rows of any
// sequences, logits for selected rows), so the CPU model is its oracle in tests.
//
// Every decoder family Elephant loads runs here (routing rule R1, SwiGLU experts and dense layers,
// gated shared experts, q/k norms, biases, clipping, sliding windows). Decode steps (one row per
// sequence) replay a captured CUDA graph: one launch instead of ~20 per layer. Not yet: offloaded
// experts (the model must be loaded resident).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/moe_ffn.h"
#include "kernels/cuda/weight_layout.h"
#include "layers/rows.h"
#include "models/model.h"

namespace elephant::cuda {

// How a batch's rows split into sequences for the attention kernels: each sequence is one run of
// consecutive rows with consecutive positions in one cache slot. Host logic, tested without a GPU.
struct SequencePlan {
  std::vector<int32_t> slots;        // [sequences] cache slot
  std::vector<int32_t> lengths;      // [sequences] last position + 1 (cached positions included)
  std::vector<int32_t> row_offsets;  // [sequences + 1] first row of each sequence, then n_rows
  std::vector<int32_t> selected;     // rows whose logits are wanted
  int32_t longest = 0;               // max of lengths
  int32_t max_rows = 0;              // most rows of one sequence: 1 means a decode step
};

// Throws Error for an empty batch, a token outside [0, vocab), a slot outside [0, max_sequences),
// a position outside [0, context_length), logits_rows of the wrong size, or a slot whose rows
// are not one run of consecutive positions.
SequencePlan plan_sequences(const layers::RowBatch& rows, std::span<const uint8_t> logits_rows, int vocab_size,
                            int max_sequences, int context_length);

struct DeviceModelOptions {
  int max_sequences = 1;     // KV-cache slots: a row's slot must be below this
  int context_length = 0;    // positions per slot; 0: min(max_position_embeddings, 4096)
  int max_batch_rows = 256;  // rows per forward call (workspace size)
  int max_logit_rows = 0;    // rows whose logits one call may want; 0: max_batch_rows (logits take
                             // rows × vocab floats: an engine wants one row per sequence)
  bool decode_graphs = true; // replay decode steps from captured CUDA graphs (false: launch each kernel)
};

class DeviceModel {
 public:
  // Throws Error when no device can be used or the model uses what this backend lacks.
  DeviceModel(models::Model& model, const DeviceModelOptions& options = {});
  ~DeviceModel();

  // Logits [n_selected, vocab] of the rows whose logits_rows entry is non-zero (every row when
  // empty), in row order. A sequence's rows in one batch must be consecutive positions, as the
  // engine sends them.
  std::vector<float> forward(const layers::RowBatch& rows, std::span<const uint8_t> logits_rows = {});
  // The greedy next token of each selected row, chosen on the device (only ids are copied back).
  std::vector<int32_t> forward_greedy(const layers::RowBatch& rows, std::span<const uint8_t> logits_rows = {});

  // Experts that received at least one row in the last forward, summed over MoE layers
  // (synchronises; for benchmarks and tests, outside timed regions).
  int experts_touched_last_step() const;

  const DeviceInfo& device() const { return device_; }
  size_t weight_bytes() const { return weight_bytes_; }
  int context_length() const { return context_length_; }

  struct Linear;
  struct Block;

 private:
  // Uploads the batch, then runs the blocks, the final norm and the LM head into logits_ (and the
  // argmax into next_tokens_ when greedy); returns the selected rows' count.
  int64_t compute_logits(const layers::RowBatch& rows, std::span<const uint8_t> logits_rows, bool greedy);
  // The kernels of one step on the uploaded batch: launched directly or captured into a graph.
  void enqueue_step(int64_t n_rows, bool greedy);
  // Replays the decode graph, capturing it again when the launch shapes changed since the last step.
  void launch_decode_graph(int64_t n_rows, bool greedy);
  DecodeSplit decode_split(const Block& block) const;
  // y = x·a^T (SwiGLU with `up`) as a one-group grouped matmul; offsets: the group's {0, rows} on
  // the device (dense_offsets_ when null).
  void matmul(const float* x, int64_t n_rows, const Linear& a, const Linear* up, float* y,
              const int32_t* offsets = nullptr);
  void attention(const Block& block, int layer, int64_t n_rows);

  const config::ModelConfig& config_;
  DeviceInfo device_;
  DeviceModelOptions options_;
  int context_length_ = 0;
  int max_logit_rows_ = 0;
  size_t weight_bytes_ = 0;
  cudaStream_t stream_ = nullptr;

  DeviceMatrix embedding_;
  std::unique_ptr<Linear> lm_head_;
  DeviceBuffer<float> final_norm_;
  std::vector<Block> blocks_;

  AttentionShape attention_shape_;
  std::vector<DeviceBuffer<float>> k_cache_;  // per layer: [max_sequences, n_kv, context, head_dim]
  std::vector<DeviceBuffer<float>> v_cache_;

  // Workspace, sized for max_batch_rows.
  DeviceBuffer<int32_t> tokens_, positions_, slots_, selected_;
  DeviceBuffer<int32_t> dense_offsets_;  // {0, n_rows}: a dense matmul is a one-expert group
  DeviceBuffer<int32_t> lm_offsets_;     // {0, n_selected}: the LM head's group
  DeviceBuffer<int32_t> tiles_;
  DeviceBuffer<int32_t> sequence_slots_, sequence_lengths_, sequence_rows_;
  DeviceBuffer<float> x_, normed_, branch_, q_, k_, v_, context_, ffn_, shared_out_, gate_logit_, final_rows_;
  DeviceBuffer<float> attention_workspace_;
  DeviceBuffer<float> logits_;
  DeviceBuffer<int32_t> next_tokens_;
  SequencePlan plan_;  // the current batch's (set by compute_logits, read by attention)

  // The instantiated decode graph and the launch shapes it was captured with; a step with other
  // shapes captures again (kernel arguments are baked into a graph, buffer contents are not).
  cudaGraphExec_t decode_graph_ = nullptr;
  std::vector<int64_t> decode_graph_shapes_;
};

}  // namespace elephant::cuda
