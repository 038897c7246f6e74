#include "models/seq2seq_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/parallel.h"
#include "models/seq2seq_tensors.h"
#include "models/tensor_reader.h"

namespace elephant::models {
namespace {

using config::NormKind;
using config::Seq2SeqConfig;

std::string name(const std::string& pattern, int layer, int expert = 0) {
  return fmt::format(fmt::runtime(pattern), layer, expert);
}

// fairseq's sinusoidal table row for position id `position` (tensor2tensor layout: all sines,
// then all cosines), with the fp32 arithmetic transformers uses to build it.
void add_sinusoid(int64_t position, int64_t dim, float* out) {
  const int64_t half = dim / 2;
  const auto step = static_cast<float>(-std::log(10000.0) / static_cast<double>(half - 1));
  for (int64_t i = 0; i < half; ++i) {
    const float angle = static_cast<float>(position) * std::exp(static_cast<float>(i) * step);
    out[i] += std::sin(angle);
    out[half + i] += std::cos(angle);
  }
}

// Rows of one attention call: every query row and where its keys are.
struct KeySpan {
  const float* keys;
  const float* values;
  int64_t n_keys;
  int64_t query_position;
};

void attend_rows(const float* q, int64_t n_rows, std::span<const KeySpan> spans, const Seq2SeqConfig& c,
                 const layers::RelativePositionBias& bias, float* context) {
  const int64_t inner = int64_t{c.n_heads} * c.head_dim;
  // Waking a second thread costs more than a short row's attention (a few thousand multiply-adds
  // while decoding short sentences), so rows are split only when each share is substantial.
  int64_t multiply_adds = 0;
  for (const KeySpan& span : spans.first(static_cast<size_t>(n_rows))) multiply_adds += 2 * span.n_keys * inner;
  constexpr int64_t kMinMultiplyAddsPerThread = int64_t{1} << 17;
  const int64_t min_rows = std::max<int64_t>(1, kMinMultiplyAddsPerThread * n_rows / std::max<int64_t>(1, multiply_adds));
  parallel_for(n_rows, min_rows, [&](int64_t begin, int64_t end) {
    std::vector<float> scores;
    for (int64_t r = begin; r < end; ++r) {
      const KeySpan& span = spans[static_cast<size_t>(r)];
      layers::attend_row(q + r * inner, span.keys, span.values, span.n_keys, c.n_heads, c.head_dim, c.attention_scale,
                         bias, span.query_position, scores, context + r * inner);
    }
  });
}

}  // namespace

std::unique_ptr<Seq2SeqModel> Seq2SeqModel::load(const std::filesystem::path& directory) {
  std::unique_ptr<Seq2SeqModel> model(new Seq2SeqModel());
  model->checkpoint_ = format::Checkpoint::open(directory);
  model->config_ = config::parse_seq2seq_config(model->checkpoint_->config(), model->checkpoint_->config_path());
  model->load_weights();
  model->checkpoint_->warn_unused_tensors(model->config_.model_type);
  return model;
}

void Seq2SeqModel::load_weights() {
  const Seq2SeqConfig& c = config_;
  const Seq2SeqTensorNames& names = seq2seq_tensor_names(c.family);
  TensorReader reader(*checkpoint_, counts_);
  const int64_t d = c.d_model;
  const int64_t inner = int64_t{c.n_heads} * c.head_dim;

  const auto embedding_name = std::find_if(names.embedding.begin(), names.embedding.end(),
                                           [&](const std::string& n) { return checkpoint_->contains(n); });
  if (embedding_name == names.embedding.end()) {
    fail("{}: the {} checkpoint has no embedding table (expected tensor '{}')", checkpoint_->directory().string(),
         c.model_type, names.embedding.front());
  }
  embedding_ = reader.dense_matrix(*embedding_name, c.vocab_size, d);
  counts_.embedding_bytes = counts_.weight_bytes;
  lm_head_ = c.tie_word_embeddings ? embedding_ : reader.matrix(names.lm_head, c.vocab_size, d);

  const auto read_norm = [&](const std::string& base) {
    Norm norm{reader.vector(base + ".weight", d), {}};
    if (c.norm == NormKind::kLayerNorm) norm.bias = reader.vector(base + ".bias", d);
    return norm;
  };
  const auto bias = [&](const std::string& base, int64_t size) {
    return c.linear_bias ? reader.vector(base + ".bias", size) : std::vector<float>{};
  };
  const auto read_projection = [&](const AttentionTensorNames& n, int layer) {
    const std::string prefix = name(n.prefix, layer);
    layers::ProjectionWeights w;
    w.q = reader.matrix(prefix + n.q + ".weight", inner, d);
    w.k = reader.matrix(prefix + n.k + ".weight", inner, d);
    w.v = reader.matrix(prefix + n.v + ".weight", inner, d);
    w.o = reader.matrix(prefix + n.o + ".weight", d, inner);
    w.q_bias = bias(prefix + n.q, inner);
    w.k_bias = bias(prefix + n.k, inner);
    w.v_bias = bias(prefix + n.v, inner);
    w.o_bias = bias(prefix + n.o, d);
    return w;
  };
  const auto read_ffn = [&](const std::string& in, const std::string& out, int64_t width) {
    return layers::ReluFfnWeights{reader.matrix(in + ".weight", width, d), reader.matrix(out + ".weight", d, width),
                                  bias(in, width), bias(out, d)};
  };
  const auto read_relative_bias = [&](const StackTensorNames& n, bool bidirectional) {
    const format::TensorView& view = reader.tensor(n.relative_bias, {c.relative_buckets, c.n_heads});
    std::vector<float> table(static_cast<size_t>(view.numel()));
    widen_to_f32(view.bytes.data(), view.dtype, view.numel(), table.data());
    return layers::RelativePositionBias(std::move(table), c.n_heads, c.relative_buckets, c.relative_max_distance,
                                        bidirectional);
  };

  int64_t inactive_expert_params = 0;
  int64_t expert_bytes = 0;
  const auto read_stack = [&](const config::StackConfig& stack, const StackTensorNames& n, bool decoder) {
    std::vector<Block> blocks(static_cast<size_t>(stack.n_layers));
    for (int l = 0; l < stack.n_layers; ++l) {
      Block& block = blocks[static_cast<size_t>(l)];
      block.self_attention_norm = read_norm(name(n.self_attention_norm, l));
      block.self_attention = read_projection(n.self_attention, l);
      if (decoder) {
        block.cross_attention_norm = read_norm(name(n.cross_attention_norm, l));
        block.cross_attention = read_projection(n.cross_attention, l);
      }
      block.ffn_norm = read_norm(name(n.ffn_norm, l));
      if (!stack.is_moe[static_cast<size_t>(l)]) {
        block.dense = read_ffn(name(n.dense_in, l), name(n.dense_out, l), stack.ffn);
        continue;
      }
      const std::string router = name(n.router, l);
      ops::WeightMatrix router_matrix = reader.dense_matrix(router + ".weight", c.n_experts, d);
      std::vector<float> router_bias = c.router_bias ? reader.vector(router + ".bias", c.n_experts) : std::vector<float>{};
      const int64_t bytes_before = counts_.weight_bytes;
      std::vector<layers::ReluFfnWeights> experts;
      for (int e = 0; e < c.n_experts; ++e) {
        experts.push_back(read_ffn(name(n.expert_in, l, e), name(n.expert_out, l, e), stack.ffn));
      }
      expert_bytes += counts_.weight_bytes - bytes_before;
      inactive_expert_params += int64_t{c.n_experts - c.top_k} * (2 * d * stack.ffn + (c.linear_bias ? stack.ffn + d : 0));
      block.moe = std::make_unique<layers::Seq2SeqMoeLayer>(config_, router_matrix, std::move(router_bias), std::move(experts));
    }
    return blocks;
  };
  encoder_ = read_stack(c.encoder, names.encoder, false);
  decoder_ = read_stack(c.decoder, names.decoder, true);
  encoder_final_norm_ = read_norm(names.encoder.final_norm);
  decoder_final_norm_ = read_norm(names.decoder.final_norm);
  if (c.positions == config::PositionKind::kRelativeBuckets) {
    encoder_bias_ = read_relative_bias(names.encoder, true);
    decoder_bias_ = read_relative_bias(names.decoder, false);
  }
  counts_.expert_bytes = expert_bytes;
  counts_.active_per_token = counts_.total - inactive_expert_params;
}

void Seq2SeqModel::normalize(const Norm& norm, const float* x, int64_t n_rows, float* out) const {
  if (config_.norm == NormKind::kLayerNorm) {
    ops::layer_norm(x, n_rows, config_.d_model, norm.weight, norm.bias, config_.norm_eps, out);
  } else {
    ops::rms_norm(x, n_rows, config_.d_model, norm.weight, config_.norm_eps, out);
  }
}

void Seq2SeqModel::embed(std::span<const int32_t> tokens, std::span<const int64_t> positions, float* out) const {
  const Seq2SeqConfig& c = config_;
  const int64_t d = c.d_model;
  const size_t element_bytes = dtype_size_bytes(embedding_.dtype);
  for (size_t r = 0; r < tokens.size(); ++r) {
    const int32_t token = tokens[r];
    if (token < 0 || token >= c.vocab_size) fail("token id {} is outside the vocabulary [0, {})", token, c.vocab_size);
    float* row = out + static_cast<int64_t>(r) * d;
    widen_to_f32(static_cast<const std::byte*>(embedding_.data) + static_cast<size_t>(token) * d * element_bytes,
                 embedding_.dtype, d, row);
    if (c.embedding_scale != 1.0f) {
      for (int64_t i = 0; i < d; ++i) row[i] *= c.embedding_scale;
    }
    // fairseq positions count from pad_token_id + 1 (a padded slot would keep position pad_token_id).
    if (c.positions == config::PositionKind::kSinusoidal) add_sinusoid(c.pad_token_id + 1 + positions[r], d, row);
  }
}

void Seq2SeqModel::ffn(Block& block, const float* x, int64_t n_rows, std::span<const int32_t> segments, float* out) {
  if (block.moe) {
    block.moe->forward(x, n_rows, segments, out);
  } else {
    layers::relu_ffn_forward(block.dense, x, n_rows, out, scratch_);
  }
}

std::vector<EncodedSource> Seq2SeqModel::encode(const std::vector<std::vector<int32_t>>& sources) {
  const Seq2SeqConfig& c = config_;
  const int64_t d = c.d_model;
  const int64_t inner = int64_t{c.n_heads} * c.head_dim;
  std::vector<int32_t> tokens, segments;
  std::vector<int64_t> positions, starts;
  for (size_t s = 0; s < sources.size(); ++s) {
    if (sources[s].empty()) fail("source {} of the batch is empty: every source needs at least one token", s);
    starts.push_back(static_cast<int64_t>(tokens.size()));
    for (size_t i = 0; i < sources[s].size(); ++i) {
      tokens.push_back(sources[s][i]);
      positions.push_back(static_cast<int64_t>(i));
      segments.push_back(static_cast<int32_t>(s));
    }
  }
  const auto n = static_cast<int64_t>(tokens.size());
  std::vector<float> x(static_cast<size_t>(n * d)), normed(x.size()), branch(x.size());
  std::vector<float> q(static_cast<size_t>(n * inner)), k(q.size()), v(q.size()), context(q.size());
  embed(tokens, positions, x.data());

  std::vector<KeySpan> spans(static_cast<size_t>(n));
  for (Block& block : encoder_) {
    normalize(block.self_attention_norm, x.data(), n, normed.data());
    const layers::ProjectionWeights& w = block.self_attention;
    ops::matmul(normed.data(), n, w.q, q.data(), w.q_bias);
    ops::matmul(normed.data(), n, w.k, k.data(), w.k_bias);
    ops::matmul(normed.data(), n, w.v, v.data(), w.v_bias);
    for (int64_t r = 0; r < n; ++r) {
      const int64_t start = starts[static_cast<size_t>(segments[static_cast<size_t>(r)])];
      spans[static_cast<size_t>(r)] = {k.data() + start * inner, v.data() + start * inner,
                                       static_cast<int64_t>(sources[static_cast<size_t>(segments[static_cast<size_t>(r)])].size()),
                                       positions[static_cast<size_t>(r)]};
    }
    attend_rows(q.data(), n, spans, c, encoder_bias_, context.data());
    ops::matmul(context.data(), n, w.o, branch.data(), w.o_bias);
    for (size_t i = 0; i < x.size(); ++i) x[i] += branch[i];
    normalize(block.ffn_norm, x.data(), n, normed.data());
    ffn(block, normed.data(), n, segments, branch.data());
    for (size_t i = 0; i < x.size(); ++i) x[i] += branch[i];
  }
  normalize(encoder_final_norm_, x.data(), n, x.data());

  std::vector<EncodedSource> encoded(sources.size());
  for (size_t s = 0; s < sources.size(); ++s) {
    EncodedSource& source = encoded[s];
    source.length = static_cast<int64_t>(sources[s].size());
    const float* begin = x.data() + starts[s] * d;
    source.hidden.assign(begin, begin + source.length * d);
    source.keys.resize(decoder_.size());
    source.values.resize(decoder_.size());
  }
  for (size_t l = 0; l < decoder_.size(); ++l) {
    const layers::ProjectionWeights& w = decoder_[l].cross_attention;
    ops::matmul(x.data(), n, w.k, k.data(), w.k_bias);
    ops::matmul(x.data(), n, w.v, v.data(), w.v_bias);
    for (size_t s = 0; s < sources.size(); ++s) {
      const int64_t begin = starts[s] * inner;
      const int64_t end = begin + encoded[s].length * inner;
      encoded[s].keys[l].assign(k.begin() + begin, k.begin() + end);
      encoded[s].values[l].assign(v.begin() + begin, v.begin() + end);
    }
  }
  return encoded;
}

std::vector<float> Seq2SeqModel::decode(std::span<const int32_t> tokens, std::span<DecoderCache* const> caches,
                                        std::span<const EncodedSource* const> sources) {
  const Seq2SeqConfig& c = config_;
  const int64_t d = c.d_model;
  const int64_t inner = int64_t{c.n_heads} * c.head_dim;
  const auto n = static_cast<int64_t>(tokens.size());
  std::vector<int64_t> positions(static_cast<size_t>(n));
  std::vector<int32_t> segments(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) {
    DecoderCache& cache = *caches[static_cast<size_t>(r)];
    cache.keys.resize(decoder_.size());
    cache.values.resize(decoder_.size());
    positions[static_cast<size_t>(r)] = cache.length;
    // Each hypothesis is its own sequence for the Switch capacity count, as in transformers'
    // cached decoding (one token per sequence per step).
    segments[static_cast<size_t>(r)] = static_cast<int32_t>(r);
  }
  std::vector<float> x(static_cast<size_t>(n * d)), normed(x.size()), branch(x.size());
  std::vector<float> q(static_cast<size_t>(n * inner)), k(q.size()), v(q.size()), context(q.size());
  embed(tokens, positions, x.data());

  std::vector<KeySpan> spans(static_cast<size_t>(n));
  for (size_t l = 0; l < decoder_.size(); ++l) {
    Block& block = decoder_[l];
    normalize(block.self_attention_norm, x.data(), n, normed.data());
    const layers::ProjectionWeights& self = block.self_attention;
    ops::matmul(normed.data(), n, self.q, q.data(), self.q_bias);
    ops::matmul(normed.data(), n, self.k, k.data(), self.k_bias);
    ops::matmul(normed.data(), n, self.v, v.data(), self.v_bias);
    for (int64_t r = 0; r < n; ++r) {
      DecoderCache& cache = *caches[static_cast<size_t>(r)];
      cache.keys[l].insert(cache.keys[l].end(), k.begin() + r * inner, k.begin() + (r + 1) * inner);
      cache.values[l].insert(cache.values[l].end(), v.begin() + r * inner, v.begin() + (r + 1) * inner);
      spans[static_cast<size_t>(r)] = {cache.keys[l].data(), cache.values[l].data(), cache.length + 1,
                                       positions[static_cast<size_t>(r)]};
    }
    attend_rows(q.data(), n, spans, c, decoder_bias_, context.data());
    ops::matmul(context.data(), n, self.o, branch.data(), self.o_bias);
    for (size_t i = 0; i < x.size(); ++i) x[i] += branch[i];

    normalize(block.cross_attention_norm, x.data(), n, normed.data());
    const layers::ProjectionWeights& cross = block.cross_attention;
    ops::matmul(normed.data(), n, cross.q, q.data(), cross.q_bias);
    for (int64_t r = 0; r < n; ++r) {
      const EncodedSource& source = *sources[static_cast<size_t>(r)];
      spans[static_cast<size_t>(r)] = {source.keys[l].data(), source.values[l].data(), source.length, 0};
    }
    attend_rows(q.data(), n, spans, c, layers::RelativePositionBias{}, context.data());
    ops::matmul(context.data(), n, cross.o, branch.data(), cross.o_bias);
    for (size_t i = 0; i < x.size(); ++i) x[i] += branch[i];

    normalize(block.ffn_norm, x.data(), n, normed.data());
    ffn(block, normed.data(), n, segments, branch.data());
    for (size_t i = 0; i < x.size(); ++i) x[i] += branch[i];
  }
  for (int64_t r = 0; r < n; ++r) ++caches[static_cast<size_t>(r)]->length;

  normalize(decoder_final_norm_, x.data(), n, x.data());
  if (c.output_scale != 1.0f) {
    for (float& value : x) value *= c.output_scale;
  }
  std::vector<float> logits(static_cast<size_t>(n * c.vocab_size));
  ops::matmul(x.data(), n, lm_head_, logits.data());
  return logits;
}

uint64_t Seq2SeqModel::expert_rows() const {
  uint64_t total = 0;
  for (const auto* stack : {&encoder_, &decoder_}) {
    for (const Block& block : *stack) {
      if (!block.moe) continue;
      for (int e = 0; e < config_.n_experts; ++e) total += block.moe->expert_rows(e);
    }
  }
  return total;
}

uint64_t Seq2SeqModel::dropped_rows() const {
  uint64_t total = 0;
  for (const auto* stack : {&encoder_, &decoder_}) {
    for (const Block& block : *stack) total += block.moe ? block.moe->dropped_rows() : 0;
  }
  return total;
}

}  // namespace elephant::models
