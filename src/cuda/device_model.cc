#include "cuda/device_model.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "kernels/cuda/model_kernels.h"
#include "kernels/cuda/norm.h"
#include "kernels/cuda/rope.h"
#include "kernels/cuda/sampling.h"

namespace elephant::cuda {

// A dense matrix as a one-expert group, so dense layers reuse the grouped fused-dequant kernels.
struct DeviceModel::Linear {
  DeviceMatrix matrix;
  DeviceBuffer<MatrixView> view;  // [1]
};

struct DeviceModel::Block {
  DeviceBuffer<float> input_norm;
  DeviceBuffer<float> post_attention_norm;
  std::unique_ptr<Linear> q, k, v, o;
  DeviceBuffer<float> q_bias, k_bias, v_bias, q_norm, k_norm;
  int sliding_window = 0;
  std::unique_ptr<DeviceMoeFfn> moe;  // null for dense layers
  std::unique_ptr<Linear> shared_gate, shared_up, shared_down, shared_gate_logit;
  std::unique_ptr<Linear> dense_gate, dense_up, dense_down;
};

namespace {

constexpr int kDefaultMaxContext = 4096;

template <typename T>
void upload_async(DeviceBuffer<T>& buffer, const T* host, size_t n, cudaStream_t stream) {
  if (n > buffer.size()) fail_buffer_overflow(buffer.size(), n, sizeof(T));
  if (n > 0) ELEPHANT_CUDA_CHECK(cudaMemcpyAsync(buffer.data(), host, n * sizeof(T), cudaMemcpyHostToDevice, stream));
}

// The first n elements of a device buffer, once the stream's work is done.
template <typename T>
std::vector<T> download_after(const DeviceBuffer<T>& buffer, size_t n, cudaStream_t stream) {
  std::vector<T> host(n);
  ELEPHANT_CUDA_CHECK(cudaMemcpyAsync(host.data(), buffer.data(), n * sizeof(T), cudaMemcpyDeviceToHost, stream));
  ELEPHANT_CUDA_CHECK(cudaStreamSynchronize(stream));
  return host;
}

DeviceBuffer<float> upload_vector(const std::vector<float>& values, size_t& bytes) {
  bytes += values.size() * sizeof(float);
  return to_device(values);
}

}  // namespace

SequencePlan plan_sequences(const layers::RowBatch& rows, std::span<const uint8_t> logits_rows, int vocab_size,
                            int max_sequences, int context_length) {
  const int64_t n = rows.size();
  if (n == 0) fail("CUDA forward: an empty batch");
  if (!logits_rows.empty() && static_cast<int64_t>(logits_rows.size()) != n) {
    fail("CUDA forward: {} logits_rows flags for {} rows", logits_rows.size(), n);
  }
  SequencePlan plan;
  for (int64_t r = 0; r < n; ++r) {
    const auto row = static_cast<size_t>(r);
    const int32_t token = rows.tokens[row];
    const int32_t position = rows.positions[row];
    const int32_t slot = rows.slots[row];
    if (token < 0 || token >= vocab_size) fail("token id {} is outside the vocabulary [0, {})", token, vocab_size);
    if (slot < 0 || slot >= max_sequences) {
      fail("CUDA forward: slot {} outside the {} sequences the device cache holds", slot, max_sequences);
    }
    if (position < 0 || position >= context_length) {
      fail("CUDA forward: position {} outside the device context of {} positions", position, context_length);
    }
    const bool continues = r > 0 && slot == rows.slots[row - 1] && position == rows.positions[row - 1] + 1;
    if (!continues) {
      if (std::find(plan.slots.begin(), plan.slots.end(), slot) != plan.slots.end()) {
        fail("CUDA forward: the rows of slot {} are not one run of consecutive positions", slot);
      }
      plan.slots.push_back(slot);
      plan.row_offsets.push_back(static_cast<int32_t>(r));
      plan.lengths.push_back(0);
    }
    plan.lengths.back() = position + 1;
    if (logits_rows.empty() || logits_rows[row] != 0) plan.selected.push_back(static_cast<int32_t>(r));
  }
  plan.row_offsets.push_back(static_cast<int32_t>(n));
  plan.longest = *std::max_element(plan.lengths.begin(), plan.lengths.end());
  for (size_t s = 0; s + 1 < plan.row_offsets.size(); ++s) {
    plan.max_rows = std::max(plan.max_rows, plan.row_offsets[s + 1] - plan.row_offsets[s]);
  }
  return plan;
}

DeviceModel::DeviceModel(models::Model& model, const DeviceModelOptions& options)
    : config_(model.config()), options_(options) {
  const Availability availability = probe();
  if (!availability.usable) fail("CUDA: {}", availability.reason);
  device_ = availability.devices[0];
  if (model.offloading_experts() != nullptr) {
    fail("CUDA: the model was loaded with --expert-cache; the CUDA backend needs every expert resident");
  }
  const config::ModelConfig& c = config_;
  if (options.max_sequences < 1 || options.max_batch_rows < 1 || options.max_logit_rows < 0) {
    fail("CUDA: max_sequences ({}) and max_batch_rows ({}) must be at least 1, max_logit_rows ({}) at least 0",
         options.max_sequences, options.max_batch_rows, options.max_logit_rows);
  }
  max_logit_rows_ = options.max_logit_rows > 0 ? std::min(options.max_logit_rows, options.max_batch_rows)
                                               : options.max_batch_rows;
  context_length_ = options.context_length > 0 ? options.context_length : std::min(c.max_positions, kDefaultMaxContext);
  ELEPHANT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));

  const auto upload_linear = [this](const kernels::WeightMatrix& w, const std::string& what) {
    auto linear = std::make_unique<Linear>();
    linear->matrix = DeviceMatrix::upload(pack_for_device(w, what));
    linear->view = to_device(std::vector<MatrixView>{linear->matrix.view()});
    weight_bytes_ += linear->matrix.bytes();
    return linear;
  };
  embedding_ = DeviceMatrix::upload(pack_for_device(model.embedding(), "model.embed_tokens.weight"));
  weight_bytes_ += embedding_.bytes();
  lm_head_ = upload_linear(model.lm_head(), "lm_head.weight");
  final_norm_ = upload_vector(model.final_norm(), weight_bytes_);

  const int64_t rows = options.max_batch_rows;
  const int64_t hidden = c.hidden_size;
  const int64_t q_dim = int64_t{c.n_heads} * c.head_dim;
  const int64_t kv_dim = int64_t{c.n_kv_heads} * c.head_dim;
  int64_t widest_ffn = 1;
  auto moe_scratch = std::make_shared<MoeScratch>();
  // SwiGLU pairs run gate and up through one decoder: they must share a format.
  const auto check_pair = [](const Linear& gate, const Linear& up, const std::string& what) {
    if (gate.matrix.format() != up.matrix.format()) {
      fail("{}: gate stored as {}, up as {}; the CUDA SwiGLU kernel needs one format", what,
           device_format_name(gate.matrix.format()), device_format_name(up.matrix.format()));
    }
  };
  for (size_t l = 0; l < model.blocks().size(); ++l) {
    const models::Model::Block& source = model.blocks()[l];
    const std::string prefix = fmt::format("model.layers.{}.", l);
    Block block;
    block.input_norm = upload_vector(source.input_norm, weight_bytes_);
    block.post_attention_norm = upload_vector(source.post_attention_norm, weight_bytes_);
    const layers::AttentionWeights& attention = source.attention->weights();
    block.q = upload_linear(attention.q, prefix + "self_attn.q_proj.weight");
    block.k = upload_linear(attention.k, prefix + "self_attn.k_proj.weight");
    block.v = upload_linear(attention.v, prefix + "self_attn.v_proj.weight");
    block.o = upload_linear(attention.o, prefix + "self_attn.o_proj.weight");
    block.q_bias = upload_vector(attention.q_bias, weight_bytes_);
    block.k_bias = upload_vector(attention.k_bias, weight_bytes_);
    block.v_bias = upload_vector(attention.v_bias, weight_bytes_);
    block.q_norm = upload_vector(attention.q_norm, weight_bytes_);
    block.k_norm = upload_vector(attention.k_norm, weight_bytes_);
    block.sliding_window = c.layers[l].sliding_window;
    if (source.moe) {
      std::vector<ExpertWeights> experts;
      for (int e = 0; e < c.moe.n_experts; ++e) {
        const layers::SwigluWeights& w = model.experts().acquire(static_cast<int>(l), e);
        experts.push_back({w.gate, w.up, w.down});
      }
      block.moe = std::make_unique<DeviceMoeFfn>(source.moe->router(), experts, c.moe.top_k,
                                                 c.moe.router.renormalize_top_k, rows, prefix + "mlp", moe_scratch);
      weight_bytes_ += block.moe->weight_bytes();
      if (const auto& shared = source.moe->shared()) {
        block.shared_gate = upload_linear(shared->mlp.gate, prefix + "shared expert gate");
        block.shared_up = upload_linear(shared->mlp.up, prefix + "shared expert up");
        block.shared_down = upload_linear(shared->mlp.down, prefix + "shared expert down");
        if (shared->gate) block.shared_gate_logit = upload_linear(*shared->gate, prefix + "shared expert gate logit");
        check_pair(*block.shared_gate, *block.shared_up, prefix + "shared expert");
        widest_ffn = std::max(widest_ffn, shared->mlp.gate.rows);
      }
    } else {
      block.dense_gate = upload_linear(source.dense.gate, prefix + "mlp.gate_proj.weight");
      block.dense_up = upload_linear(source.dense.up, prefix + "mlp.up_proj.weight");
      block.dense_down = upload_linear(source.dense.down, prefix + "mlp.down_proj.weight");
      check_pair(*block.dense_gate, *block.dense_up, prefix + "mlp");
      widest_ffn = std::max(widest_ffn, source.dense.gate.rows);
    }
    blocks_.push_back(std::move(block));
  }

  attention_shape_.n_heads = c.n_heads;
  attention_shape_.n_kv_heads = c.n_kv_heads;
  attention_shape_.head_dim = c.head_dim;
  attention_shape_.max_length = context_length_;
  const size_t cache_floats = static_cast<size_t>(options.max_sequences) * static_cast<size_t>(kv_dim) *
                              static_cast<size_t>(context_length_);
  for (size_t l = 0; l < blocks_.size(); ++l) {
    k_cache_.emplace_back(cache_floats);
    v_cache_.emplace_back(cache_floats);
  }

  const auto floats = [rows](int64_t width) { return static_cast<size_t>(rows * width); };
  tokens_ = DeviceBuffer<int32_t>(static_cast<size_t>(rows));
  positions_ = DeviceBuffer<int32_t>(static_cast<size_t>(rows));
  slots_ = DeviceBuffer<int32_t>(static_cast<size_t>(rows));
  selected_ = DeviceBuffer<int32_t>(static_cast<size_t>(rows));
  dense_offsets_ = DeviceBuffer<int32_t>(2);
  lm_offsets_ = DeviceBuffer<int32_t>(2);
  tiles_ = DeviceBuffer<int32_t>(static_cast<size_t>(expert_gemm_tile_capacity(rows, 1)));
  sequence_slots_ = DeviceBuffer<int32_t>(static_cast<size_t>(rows));
  sequence_lengths_ = DeviceBuffer<int32_t>(static_cast<size_t>(rows));
  sequence_rows_ = DeviceBuffer<int32_t>(static_cast<size_t>(rows) + 1);
  x_ = DeviceBuffer<float>(floats(hidden));
  normed_ = DeviceBuffer<float>(floats(hidden));
  branch_ = DeviceBuffer<float>(floats(hidden));
  shared_out_ = DeviceBuffer<float>(floats(hidden));
  final_rows_ = DeviceBuffer<float>(floats(hidden));
  q_ = DeviceBuffer<float>(floats(q_dim));
  context_ = DeviceBuffer<float>(floats(q_dim));
  k_ = DeviceBuffer<float>(floats(kv_dim));
  v_ = DeviceBuffer<float>(floats(kv_dim));
  ffn_ = DeviceBuffer<float>(floats(widest_ffn));
  gate_logit_ = DeviceBuffer<float>(static_cast<size_t>(rows));
  next_tokens_ = DeviceBuffer<int32_t>(static_cast<size_t>(rows));
  logits_ = DeviceBuffer<float>(static_cast<size_t>(max_logit_rows_) * static_cast<size_t>(c.vocab_size));
  // Decode attention's scratch for the largest split any batch can need, so nothing is reallocated
  // while a step's kernels are queued.
  size_t attention_floats = 0;
  for (const Block& block : blocks_) {
    AttentionShape shape = attention_shape_;
    shape.sliding_window = block.sliding_window;
    for (int n = 1; n <= std::min<int64_t>(options.max_sequences, rows); ++n) {
      const DecodeSplit split = plan_decode_split(shape, n, context_length_, device_.multiprocessors);
      attention_floats = std::max(attention_floats, decode_workspace_floats(shape, n, split));
    }
  }
  attention_workspace_ = DeviceBuffer<float>(attention_floats);
  // Uploads went through the legacy default stream; stream_ is not ordered after it.
  ELEPHANT_CUDA_CHECK(cudaDeviceSynchronize());
}

DeviceModel::~DeviceModel() {
  if (decode_graph_ != nullptr) cudaGraphExecDestroy(decode_graph_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

void DeviceModel::matmul(const float* x, int64_t n_rows, const Linear& a, const Linear* up, float* y,
                         const int32_t* offsets) {
  const MatrixView& view = a.matrix.view();
  ExpertMatmul m;
  m.x = x;
  m.x_stride = view.cols;
  m.offsets = offsets != nullptr ? offsets : dense_offsets_.data();
  m.n_experts = 1;
  m.max_slots = n_rows;
  m.a_views = a.view.data();
  m.b_views = up != nullptr ? up->view.data() : nullptr;
  m.format = a.matrix.format();
  m.out_features = view.rows;
  m.in_features = view.cols;
  m.y = y;
  m.y_stride = view.rows;
  if (n_rows <= kGemvMaxSlots) {
    launch_expert_gemv(m, stream_);
  } else {
    launch_expert_gemm_tiled(m, tiles_.data(), stream_);
  }
}

void DeviceModel::attention(const Block& block, int layer, int64_t n_rows) {
  const config::ModelConfig& c = config_;
  const int64_t q_dim = int64_t{c.n_heads} * c.head_dim;
  const int64_t kv_dim = int64_t{c.n_kv_heads} * c.head_dim;
  matmul(normed_.data(), n_rows, *block.q, nullptr, q_.data());
  matmul(normed_.data(), n_rows, *block.k, nullptr, k_.data());
  matmul(normed_.data(), n_rows, *block.v, nullptr, v_.data());
  if (block.q_bias.size() > 0) {
    add_bias(q_.data(), block.q_bias.data(), n_rows, q_dim, stream_);
    add_bias(k_.data(), block.k_bias.data(), n_rows, kv_dim, stream_);
    add_bias(v_.data(), block.v_bias.data(), n_rows, kv_dim, stream_);
  }
  if (c.clip_qkv > 0.0f) {
    clamp_in_place(q_.data(), n_rows * q_dim, c.clip_qkv, stream_);
    clamp_in_place(k_.data(), n_rows * kv_dim, c.clip_qkv, stream_);
    clamp_in_place(v_.data(), n_rows * kv_dim, c.clip_qkv, stream_);
  }
  if (c.qk_norm == config::QkNorm::kPerHead) {
    rms_norm(q_.data(), block.q_norm.data(), q_.data(), n_rows * c.n_heads, c.head_dim, c.rms_norm_eps, stream_);
    rms_norm(k_.data(), block.k_norm.data(), k_.data(), n_rows * c.n_kv_heads, c.head_dim, c.rms_norm_eps, stream_);
  } else if (c.qk_norm == config::QkNorm::kWholeProjection) {
    rms_norm(q_.data(), block.q_norm.data(), q_.data(), n_rows, q_dim, c.rms_norm_eps, stream_);
    rms_norm(k_.data(), block.k_norm.data(), k_.data(), n_rows, kv_dim, c.rms_norm_eps, stream_);
  }
  rope(q_.data(), n_rows, c.n_heads, c.head_dim, positions_.data(), c.rope_theta, stream_);
  rope(k_.data(), n_rows, c.n_kv_heads, c.head_dim, positions_.data(), c.rope_theta, stream_);
  float* k_cache = k_cache_[static_cast<size_t>(layer)].data();
  float* v_cache = v_cache_[static_cast<size_t>(layer)].data();
  store_kv(k_.data(), slots_.data(), positions_.data(), n_rows, c.n_kv_heads, c.head_dim, context_length_, k_cache, stream_);
  store_kv(v_.data(), slots_.data(), positions_.data(), n_rows, c.n_kv_heads, c.head_dim, context_length_, v_cache, stream_);

  AttentionShape shape = attention_shape_;
  shape.sliding_window = block.sliding_window;
  const auto n_sequences = static_cast<int>(plan_.slots.size());
  if (plan_.max_rows == 1) {
    const DecodeSplit split = decode_split(block);
    const size_t workspace = decode_workspace_floats(shape, n_sequences, split);
    if (attention_workspace_.size() < workspace) fail_buffer_overflow(attention_workspace_.size(), workspace, sizeof(float));
    decode_attention(q_.data(), k_cache, v_cache, sequence_lengths_.data(), n_sequences, shape, split,
                     attention_workspace_.data(), context_.data(), stream_, sequence_slots_.data());
  } else {
    prefill_attention(q_.data(), k_cache, v_cache, sequence_lengths_.data(), sequence_rows_.data(), n_sequences,
                      plan_.max_rows, shape, context_.data(), stream_, sequence_slots_.data());
  }
  matmul(context_.data(), n_rows, *block.o, nullptr, branch_.data());
}

DecodeSplit DeviceModel::decode_split(const Block& block) const {
  AttentionShape shape = attention_shape_;
  shape.sliding_window = block.sliding_window;
  return plan_decode_split(shape, static_cast<int>(plan_.slots.size()), plan_.longest, device_.multiprocessors);
}

int64_t DeviceModel::compute_logits(const layers::RowBatch& rows, std::span<const uint8_t> logits_rows, bool greedy) {
  const config::ModelConfig& c = config_;
  const int64_t n = rows.size();
  if (n > options_.max_batch_rows) fail("CUDA forward: {} rows, more than max_batch_rows {}", n, options_.max_batch_rows);
  plan_ = plan_sequences(rows, logits_rows, c.vocab_size, options_.max_sequences, context_length_);
  if (static_cast<int64_t>(plan_.selected.size()) > max_logit_rows_) {
    fail("CUDA forward: logits of {} rows wanted, more than max_logit_rows {}", plan_.selected.size(), max_logit_rows_);
  }
  const int32_t dense_offsets[2] = {0, static_cast<int32_t>(n)};
  const int32_t lm_offsets[2] = {0, static_cast<int32_t>(plan_.selected.size())};
  upload_async(tokens_, rows.tokens.data(), static_cast<size_t>(n), stream_);
  upload_async(positions_, rows.positions.data(), static_cast<size_t>(n), stream_);
  upload_async(slots_, rows.slots.data(), static_cast<size_t>(n), stream_);
  upload_async(dense_offsets_, dense_offsets, 2, stream_);
  upload_async(lm_offsets_, lm_offsets, 2, stream_);
  upload_async(sequence_slots_, plan_.slots.data(), plan_.slots.size(), stream_);
  upload_async(sequence_lengths_, plan_.lengths.data(), plan_.lengths.size(), stream_);
  upload_async(sequence_rows_, plan_.row_offsets.data(), plan_.row_offsets.size(), stream_);
  upload_async(selected_, plan_.selected.data(), plan_.selected.size(), stream_);
  if (plan_.max_rows == 1 && options_.decode_graphs) {
    launch_decode_graph(n, greedy);
  } else {
    enqueue_step(n, greedy);
  }
  return static_cast<int64_t>(plan_.selected.size());
}

void DeviceModel::launch_decode_graph(int64_t n_rows, bool greedy) {
  std::vector<int64_t> shapes = {n_rows, static_cast<int64_t>(plan_.selected.size()), greedy ? 1 : 0,
                                 static_cast<int64_t>(plan_.slots.size())};
  for (const Block& block : blocks_) {
    const DecodeSplit split = decode_split(block);
    shapes.push_back(split.chunk_length);
    shapes.push_back(split.n_splits);
  }
  if (decode_graph_ == nullptr || shapes != decode_graph_shapes_) {
    cudaGraph_t graph = nullptr;
    ELEPHANT_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    try {
      enqueue_step(n_rows, greedy);
    } catch (...) {
      cudaStreamEndCapture(stream_, &graph);
      if (graph != nullptr) cudaGraphDestroy(graph);
      throw;
    }
    ELEPHANT_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    // Updating the instantiated graph in place is cheaper than instantiating anew when only kernel
    // arguments or grids changed; a changed topology makes the update fail and we instantiate.
    if (decode_graph_ != nullptr) {
      cudaGraphExecUpdateResultInfo info{};
      if (cudaGraphExecUpdate(decode_graph_, graph, &info) != cudaSuccess) {
        cudaGetLastError();
        cudaGraphExecDestroy(decode_graph_);
        decode_graph_ = nullptr;
      }
    }
    const cudaError_t instantiated = decode_graph_ == nullptr ? cudaGraphInstantiate(&decode_graph_, graph, 0) : cudaSuccess;
    cudaGraphDestroy(graph);
    ELEPHANT_CUDA_CHECK(instantiated);
    decode_graph_shapes_ = std::move(shapes);
  }
  ELEPHANT_CUDA_CHECK(cudaGraphLaunch(decode_graph_, stream_));
}

void DeviceModel::enqueue_step(int64_t n, bool greedy) {
  const config::ModelConfig& c = config_;
  const int64_t hidden = c.hidden_size;
  embed_rows(embedding_.view(), embedding_.format(), tokens_.data(), n, x_.data(), stream_);
  for (size_t l = 0; l < blocks_.size(); ++l) {
    const Block& block = blocks_[l];
    rms_norm(x_.data(), block.input_norm.data(), normed_.data(), n, hidden, c.rms_norm_eps, stream_);
    attention(block, static_cast<int>(l), n);
    add_in_place(x_.data(), branch_.data(), n * hidden, stream_);
    rms_norm(x_.data(), block.post_attention_norm.data(), normed_.data(), n, hidden, c.rms_norm_eps, stream_);
    if (block.moe) {
      block.moe->forward(normed_.data(), n, nullptr, x_.data(), x_.data(), stream_);
      if (block.shared_gate) {
        matmul(normed_.data(), n, *block.shared_gate, block.shared_up.get(), ffn_.data());
        matmul(ffn_.data(), n, *block.shared_down, nullptr, shared_out_.data());
        if (block.shared_gate_logit) matmul(normed_.data(), n, *block.shared_gate_logit, nullptr, gate_logit_.data());
        add_gated_rows(x_.data(), shared_out_.data(), block.shared_gate_logit ? gate_logit_.data() : nullptr, n, hidden,
                       stream_);
      }
    } else {
      matmul(normed_.data(), n, *block.dense_gate, block.dense_up.get(), ffn_.data());
      matmul(ffn_.data(), n, *block.dense_down, nullptr, branch_.data());
      add_in_place(x_.data(), branch_.data(), n * hidden, stream_);
    }
  }
  const auto n_selected = static_cast<int64_t>(plan_.selected.size());
  gather_rows(x_.data(), selected_.data(), n_selected, hidden, final_rows_.data(), stream_);
  rms_norm(final_rows_.data(), final_norm_.data(), final_rows_.data(), n_selected, hidden, c.rms_norm_eps, stream_);
  matmul(final_rows_.data(), n_selected, *lm_head_, nullptr, logits_.data(), lm_offsets_.data());
  if (greedy) argmax(logits_.data(), n_selected, c.vocab_size, next_tokens_.data(), stream_);
}

int DeviceModel::experts_touched_last_step() const {
  int touched = 0;
  for (const Block& block : blocks_) {
    if (!block.moe) continue;
    const std::vector<int32_t> offsets = block.moe->last_offsets(stream_);
    for (int e = 0; e < block.moe->n_experts(); ++e) touched += offsets[static_cast<size_t>(e) + 1] > offsets[static_cast<size_t>(e)] ? 1 : 0;
  }
  return touched;
}

std::vector<float> DeviceModel::forward(const layers::RowBatch& rows, std::span<const uint8_t> logits_rows) {
  const int64_t n_selected = compute_logits(rows, logits_rows, false);
  return download_after(logits_, static_cast<size_t>(n_selected) * static_cast<size_t>(config_.vocab_size), stream_);
}

std::vector<int32_t> DeviceModel::forward_greedy(const layers::RowBatch& rows, std::span<const uint8_t> logits_rows) {
  const int64_t n_selected = compute_logits(rows, logits_rows, true);
  return download_after(next_tokens_, static_cast<size_t>(n_selected), stream_);
}

}  // namespace elephant::cuda
