#include "models/model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/memory.h"
#include "models/family_tensors.h"
#include "models/tensor_reader.h"
#include "ops/ops.h"

namespace elephant::models {
namespace {

using config::ModelConfig;
using format::Checkpoint;

std::string name(const std::string& pattern, int layer, int expert = 0) {
  return fmt::format(fmt::runtime(pattern), layer, expert);
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::filesystem::path& directory, const ModelOptions& options) {
  return from_checkpoint(Checkpoint::open(directory), options);
}

std::unique_ptr<Model> Model::from_checkpoint(std::unique_ptr<format::Checkpoint> checkpoint,
                                              const ModelOptions& options) {
  std::unique_ptr<Model> model(new Model());
  model->options_ = options;
  model->checkpoint_ = std::move(checkpoint);
  model->config_ = config::parse_model_config(model->checkpoint_->config(), model->checkpoint_->config_path());
  if (options.experts_per_token) config::set_experts_per_token(model->config_, *options.experts_per_token);
  if (options.context_length < 0) fail("--context {}: expected a positive number of tokens", options.context_length);
  if (options.kv_dtype != DType::kF32 && options.kv_dtype != DType::kBF16) {
    fail("--kv-dtype {}: the KV cache holds F32 or BF16", dtype_name(options.kv_dtype));
  }
  model->load_weights();
  model->checkpoint_->warn_unused_tensors(model->config_.model_type);
  if (const WeightCopies& copies = model->copies_; copies.skipped() > 0) {
    const auto memory = memory_info();
    const double reserve_gib =
        static_cast<double>(WeightCopies::reserve_bytes(memory ? memory->total_bytes : 0)) / (1 << 30);
    warn(fmt::format("{}: {} weight matrices ({:.2f} GiB) are read from the mapped checkpoint: copying them for "
                     "the CPU kernels (interleaved where the kernels read that layout, on huge pages) would leave "
                     "less than {:.1f} GiB of memory available (decode, batched decode and prefill run slower on "
                     "them)",
                     model->checkpoint_->directory().string(), copies.skipped(),
                     static_cast<double>(copies.skipped_bytes()) / (1 << 30), reserve_gib));
  }
  return model;
}

void Model::load_weights() {
  const ModelConfig& c = config_;
  const FamilyTensorNames& names = family_tensor_names(c.family);
  TensorReader reader(*checkpoint_, counts_);
  const bool copy = options_.cpu_weight_copies;
  copies_ = WeightCopies(WeightCopies::interleaved_by_active_kernels());
  const auto cpu_layout = [&](auto weights) {
    if (copy) copies_.add(weights);
    return weights;
  };
  const int64_t hidden = c.hidden_size;
  const int64_t q_dim = int64_t{c.n_heads} * c.head_dim;
  const int64_t kv_dim = int64_t{c.n_kv_heads} * c.head_dim;

  embedding_ = reader.dense_matrix("model.embed_tokens.weight", c.vocab_size, hidden);
  counts_.embedding_bytes = counts_.weight_bytes;
  if (c.tie_word_embeddings) {
    lm_head_ = embedding_;
    if (copy) copies_.add(lm_head_, /*keep_source=*/true);
  } else {
    lm_head_ = cpu_layout(reader.matrix("lm_head.weight", c.vocab_size, hidden));
  }
  final_norm_ = reader.vector("model.norm.weight", hidden);

  std::vector<std::vector<layers::SwigluWeights>> experts(static_cast<size_t>(c.n_layers));
  int64_t expert_params = 0;
  const int64_t bytes_before_experts = counts_.weight_bytes;
  std::vector<uint8_t> fused_layers(static_cast<size_t>(c.n_layers), 0);
  for (int l = 0; l < c.n_layers; ++l) {
    if (!c.layers[static_cast<size_t>(l)].is_moe) continue;
    fused_layers[static_cast<size_t>(l)] =
        !checkpoint_->contains(name(names.expert_gate, l, 0)) && checkpoint_->contains(name(names.fused_gate_up, l));
    if (fused_layers[static_cast<size_t>(l)]) {
      experts[static_cast<size_t>(l)] = reader.fused_experts(name(names.fused_gate_up, l), name(names.fused_down, l),
                                                             c.moe.n_experts, hidden, c.moe.expert_ffn);
      expert_params += int64_t{c.moe.n_experts - c.moe.top_k} * 3 * hidden * c.moe.expert_ffn;
      continue;
    }
    for (int e = 0; e < c.moe.n_experts; ++e) {
      layers::SwigluWeights expert = reader.swiglu(name(names.expert_gate, l, e), name(names.expert_up, l, e),
                                                   name(names.expert_down, l, e), hidden, c.moe.expert_ffn);
      // Offloaded experts are read into cache slots in the checkpoint layout.
      experts[static_cast<size_t>(l)].push_back(options_.expert_cache ? expert : cpu_layout(expert));
    }
    expert_params += int64_t{c.moe.n_experts - c.moe.top_k} * 3 * hidden * c.moe.expert_ffn;
  }
  counts_.expert_bytes = counts_.weight_bytes - bytes_before_experts;
  if (options_.expert_cache) {
    const auto locate = [this](std::span<const std::byte> bytes) {
      const auto region = checkpoint_->locate(bytes);
      return layers::ExpertHomeRegion{region.file, region.offset, region.size};
    };
    auto store = std::make_unique<layers::OffloadingExpertStore>(std::move(experts), locate, *options_.expert_cache);
    offload_ = store.get();
    experts_ = std::move(store);
  } else {
    experts_ = std::make_unique<layers::ResidentExpertStore>(std::move(experts));
  }

  blocks_.resize(static_cast<size_t>(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l) {
    Block& block = blocks_[static_cast<size_t>(l)];
    const std::string prefix = fmt::format("model.layers.{}.", l);
    block.input_norm = reader.vector(prefix + "input_layernorm.weight", hidden);
    block.post_attention_norm = reader.vector(prefix + "post_attention_layernorm.weight", hidden);

    layers::AttentionWeights attention;
    attention.q = cpu_layout(reader.matrix(prefix + "self_attn.q_proj.weight", q_dim, hidden));
    attention.k = cpu_layout(reader.matrix(prefix + "self_attn.k_proj.weight", kv_dim, hidden));
    attention.v = cpu_layout(reader.matrix(prefix + "self_attn.v_proj.weight", kv_dim, hidden));
    attention.o = cpu_layout(reader.matrix(prefix + "self_attn.o_proj.weight", hidden, q_dim));
    if (c.attention_bias) {
      attention.q_bias = reader.vector(prefix + "self_attn.q_proj.bias", q_dim);
      attention.k_bias = reader.vector(prefix + "self_attn.k_proj.bias", kv_dim);
      attention.v_bias = reader.vector(prefix + "self_attn.v_proj.bias", kv_dim);
    }
    if (c.qk_norm == config::QkNorm::kPerHead) {
      attention.q_norm = reader.vector(prefix + "self_attn.q_norm.weight", c.head_dim);
      attention.k_norm = reader.vector(prefix + "self_attn.k_norm.weight", c.head_dim);
    } else if (c.qk_norm == config::QkNorm::kWholeProjection) {
      attention.q_norm = reader.vector(prefix + "self_attn.q_norm.weight", q_dim);
      attention.k_norm = reader.vector(prefix + "self_attn.k_norm.weight", kv_dim);
    }
    block.attention = std::make_unique<layers::Attention>(config_, l, std::move(attention));

    if (c.layers[static_cast<size_t>(l)].is_moe) {
      std::optional<layers::SharedExpert> shared;
      if (c.moe.shared_expert_ffn > 0) {
        shared = layers::SharedExpert{cpu_layout(reader.swiglu(name(names.shared_gate, l), name(names.shared_up, l),
                                                               name(names.shared_down, l), hidden, c.moe.shared_expert_ffn)),
                                      std::nullopt};
        if (c.moe.shared_expert_gated) shared->gate = reader.dense_matrix(name(names.shared_expert_gate, l), 1, hidden);
      }
      const std::string& router = fused_layers[static_cast<size_t>(l)] ? names.fused_router : names.router;
      block.moe = std::make_unique<layers::MoeLayer>(config_, l, reader.dense_matrix(name(router, l), c.moe.n_experts, hidden),
                                                     *experts_, std::move(shared));
    } else {
      block.dense = cpu_layout(reader.swiglu(name(names.dense_gate, l), name(names.dense_up, l), name(names.dense_down, l),
                                             hidden, c.dense_ffn));
    }
  }
  counts_.active_per_token = counts_.total - expert_params;
}

int64_t Model::context_length() const {
  return options_.context_length > 0 ? options_.context_length : config_.max_positions;
}

layers::KvCache Model::make_kv_cache(int n_sequences) const {
  return make_kv_cache_for_budget(kv_sequence_bytes() * n_sequences);
}

int64_t Model::kv_sequence_bytes() const {
  const int64_t blocks = (context_length() + options_.kv_block_size - 1) / options_.kv_block_size;
  return blocks * layers::KvCache::block_bytes(config_.n_layers, int64_t{config_.n_kv_heads} * config_.head_dim,
                                               options_.kv_block_size, options_.kv_dtype);
}

layers::KvCache Model::make_kv_cache_for_budget(int64_t budget_bytes) const {
  const int64_t kv_dim = int64_t{config_.n_kv_heads} * config_.head_dim;
  const int64_t block_bytes =
      layers::KvCache::block_bytes(config_.n_layers, kv_dim, options_.kv_block_size, options_.kv_dtype);
  const int64_t n_blocks = std::max(kv_sequence_bytes(), budget_bytes) / block_bytes;
  return layers::KvCache(config_.n_layers, kv_dim, options_.kv_block_size, static_cast<int>(n_blocks), context_length(),
                         options_.kv_dtype);
}

std::vector<float> Model::forward(const layers::RowBatch& rows, layers::KvCache& cache,
                                  std::span<const uint8_t> logits_rows) {
  const ModelConfig& c = config_;
  const int64_t n = rows.size();
  const int64_t hidden = c.hidden_size;
  for (int64_t r = 0; r < n; ++r) {
    const int32_t token = rows.tokens[static_cast<size_t>(r)];
    if (token < 0 || token >= c.vocab_size) fail("token id {} is outside the vocabulary [0, {})", token, c.vocab_size);
    const int32_t slot = rows.slots[static_cast<size_t>(r)];
    if (!cache.reserve(slot, rows.positions[static_cast<size_t>(r)] + 1)) {
      fail("the KV cache is full ({} blocks of {} positions in use)", cache.total_blocks(), cache.block_size());
    }
  }

  std::vector<float> x(static_cast<size_t>(n * hidden));       // [n, H] residual stream
  std::vector<float> normed(static_cast<size_t>(n * hidden));  // [n, H]
  std::vector<float> branch(static_cast<size_t>(n * hidden));  // [n, H] attention / FFN output
  const size_t element_bytes = dtype_size_bytes(embedding_.dtype);
  for (int64_t r = 0; r < n; ++r) {
    const auto* row = static_cast<const std::byte*>(embedding_.data) +
                      static_cast<size_t>(rows.tokens[static_cast<size_t>(r)]) * hidden * element_bytes;
    widen_to_f32(row, embedding_.dtype, hidden, x.data() + r * hidden);
  }

  for (size_t l = 0; l < blocks_.size(); ++l) {
    Block& block = blocks_[l];
    ops::rms_norm(x.data(), n, hidden, block.input_norm, c.rms_norm_eps, normed.data());
    block.attention->forward(normed.data(), rows, cache, branch.data());
    for (size_t i = 0; i < x.size(); ++i) x[i] += branch[i];
    ops::rms_norm(x.data(), n, hidden, block.post_attention_norm, c.rms_norm_eps, normed.data());
    // Speculative pre-gating: the next MoE layers' routers on this layer's FFN input predict their
    // experts, whose loads then overlap this layer's FFN. Only what is loaded depends on it.
    const auto predictions = options_.pregate ? predict_next_moe_layers(static_cast<int>(l), normed.data(), n)
                                              : std::vector<Prediction>{};
    const auto hint_next = [&] {
      for (const Prediction& p : predictions) experts_->hint(p.layer, p.experts, p.distance);
    };
    if (block.moe) {
      block.moe->forward(normed.data(), n, branch.data(), hint_next);
    } else {
      hint_next();
      layers::swiglu_forward(block.dense, normed.data(), n, branch.data(), scratch_);
    }
    for (size_t i = 0; i < x.size(); ++i) x[i] += branch[i];
  }

  std::vector<float> selected;
  for (int64_t r = 0; r < n; ++r) {
    if (logits_rows.empty() || logits_rows[static_cast<size_t>(r)]) {
      selected.insert(selected.end(), x.begin() + r * hidden, x.begin() + (r + 1) * hidden);
    }
  }
  const int64_t n_selected = static_cast<int64_t>(selected.size()) / hidden;
  if (options_.pregate && options_.pregate_next_token) hint_next_token(selected.data(), n_selected);
  ops::rms_norm(selected.data(), n_selected, hidden, final_norm_, c.rms_norm_eps, selected.data());
  std::vector<float> logits(static_cast<size_t>(n_selected * c.vocab_size));
  ops::matmul(selected.data(), n_selected, lm_head_, logits.data());
  return logits;
}

std::vector<Model::Prediction> Model::predict_next_moe_layers(int after, const float* normed, int64_t n) const {
  std::vector<Prediction> predictions;
  for (size_t next = static_cast<size_t>(after + 1); next < blocks_.size(); ++next) {
    if (static_cast<int>(predictions.size()) == options_.pregate_lookahead) break;
    if (!blocks_[next].moe) continue;
    predictions.push_back({static_cast<int>(next), static_cast<int>(predictions.size()) + 1,
                           blocks_[next].moe->predict_experts(normed, n)});
  }
  return predictions;
}

void Model::hint_next_token(const float* final_hidden, int64_t n_rows) {
  const auto first_moe = std::find_if(blocks_.begin(), blocks_.end(), [](const Block& b) { return b.moe != nullptr; });
  if (first_moe == blocks_.end() || n_rows == 0) return;
  std::vector<float> normed(static_cast<size_t>(n_rows * config_.hidden_size));
  ops::rms_norm(final_hidden, n_rows, config_.hidden_size, first_moe->post_attention_norm, config_.rms_norm_eps,
                normed.data());
  const int before_first = static_cast<int>(first_moe - blocks_.begin()) - 1;
  for (const Prediction& p : predict_next_moe_layers(before_first, normed.data(), n_rows)) {
    experts_->hint(p.layer, p.experts, p.distance);
  }
}

}  // namespace elephant::models
