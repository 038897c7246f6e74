// `elephant quantize`: writes a quantized copy of a model directory (docs/quantization.md).
//
// Which matrices: the routed experts (scope "experts", the default: > 90% of an MoE model's
// weights), plus attention, dense MLP, shared-expert projections and an untied lm_head with
// scope "all". Never quantized: the embedding (rows are looked up, not multiplied), router and
// shared-expert gates (routing decisions are the most precision-sensitive step), norms, biases.
// The names come from the family's tensor patterns, so the selection is exact, never a guess from
// name substrings.
//
// Output: one model.safetensors (quantized tensors in place of their ".weight", everything else
// copied byte for byte), config.json with "quantization_config", every other regular file of the
// input copied. Tensors are produced one at a time while writing (memory: one tensor), and the
// result is verified by reloading it and comparing a few logits with the input model.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <tuple>

#include "cli/common.h"
#include "config/model_config.h"
#include "core/error.h"
#include "core/parallel.h"
#include "format/checkpoint.h"
#include "format/quantization.h"
#include "format/safetensors_writer.h"
#include "kernels/quantize.h"
#include "models/family_tensors.h"
#include "models/random_shapes.h"
#include "models/seq2seq_model.h"
#include "models/seq2seq_tensors.h"

namespace elephant::cli {
namespace {

struct QuantizeFlags {
  std::string input;
  std::string random_shape;
  std::string output;
  int bits = 0;
  int64_t group = 128;
  std::string scope = "experts";
  std::string scale_dtype = "f16";
  bool force = false;
  int threads = 0;
};

struct MatrixShape {
  int64_t rows, cols;
};

// Weight name -> shape of every matrix the scope quantizes.
std::map<std::string, MatrixShape> matrices_to_quantize(const config::ModelConfig& c, const std::string& scope) {
  const models::FamilyTensorNames& names = models::family_tensor_names(c.family);
  const auto name = [](const std::string& pattern, int layer, int expert = 0) {
    return fmt::format(fmt::runtime(pattern), layer, expert);
  };
  const int64_t hidden = c.hidden_size;
  std::map<std::string, MatrixShape> selected;
  const auto add_swiglu = [&](const std::string& gate, const std::string& up, const std::string& down, int64_t width) {
    selected[gate] = {width, hidden};
    selected[up] = {width, hidden};
    selected[down] = {hidden, width};
  };
  for (int l = 0; l < c.n_layers; ++l) {
    const bool is_moe = c.layers[static_cast<size_t>(l)].is_moe;
    if (is_moe) {
      for (int e = 0; e < c.moe.n_experts; ++e) {
        add_swiglu(name(names.expert_gate, l, e), name(names.expert_up, l, e), name(names.expert_down, l, e),
                   c.moe.expert_ffn);
      }
    }
    if (scope != "all") continue;
    const std::string prefix = fmt::format("model.layers.{}.self_attn.", l);
    const int64_t q_dim = int64_t{c.n_heads} * c.head_dim;
    const int64_t kv_dim = int64_t{c.n_kv_heads} * c.head_dim;
    selected[prefix + "q_proj.weight"] = {q_dim, hidden};
    selected[prefix + "k_proj.weight"] = {kv_dim, hidden};
    selected[prefix + "v_proj.weight"] = {kv_dim, hidden};
    selected[prefix + "o_proj.weight"] = {hidden, q_dim};
    if (!is_moe) {
      add_swiglu(name(names.dense_gate, l), name(names.dense_up, l), name(names.dense_down, l), c.dense_ffn);
    } else if (c.moe.shared_expert_ffn > 0) {
      add_swiglu(name(names.shared_gate, l), name(names.shared_up, l), name(names.shared_down, l),
                 c.moe.shared_expert_ffn);
    }
  }
  if (scope == "all" && !c.tie_word_embeddings) selected["lm_head.weight"] = {c.vocab_size, hidden};
  return selected;
}

// The same selection for the encoder-decoder families.
std::map<std::string, MatrixShape> seq2seq_matrices_to_quantize(const config::Seq2SeqConfig& c, const std::string& scope) {
  const models::Seq2SeqTensorNames& names = models::seq2seq_tensor_names(c.family);
  const auto name = [](const std::string& pattern, int layer, int expert = 0) {
    return fmt::format(fmt::runtime(pattern), layer, expert);
  };
  const int64_t d = c.d_model;
  const int64_t inner = int64_t{c.n_heads} * c.head_dim;
  std::map<std::string, MatrixShape> selected;
  const auto add_attention = [&](const models::AttentionTensorNames& n, int layer) {
    const std::string prefix = name(n.prefix, layer);
    selected[prefix + n.q + ".weight"] = {inner, d};
    selected[prefix + n.k + ".weight"] = {inner, d};
    selected[prefix + n.v + ".weight"] = {inner, d};
    selected[prefix + n.o + ".weight"] = {d, inner};
  };
  for (const auto& [stack, n, decoder] : {std::tuple{&c.encoder, &names.encoder, false}, std::tuple{&c.decoder, &names.decoder, true}}) {
    for (int l = 0; l < stack->n_layers; ++l) {
      const bool is_moe = stack->is_moe[static_cast<size_t>(l)];
      for (int e = 0; is_moe && e < c.n_experts; ++e) {
        selected[name(n->expert_in, l, e) + ".weight"] = {stack->ffn, d};
        selected[name(n->expert_out, l, e) + ".weight"] = {d, stack->ffn};
      }
      if (scope != "all") continue;
      add_attention(n->self_attention, l);
      if (decoder) add_attention(n->cross_attention, l);
      if (!is_moe) {
        selected[name(n->dense_in, l) + ".weight"] = {stack->ffn, d};
        selected[name(n->dense_out, l) + ".weight"] = {d, stack->ffn};
      }
    }
  }
  if (scope == "all" && !c.tie_word_embeddings) selected[names.lm_head] = {c.vocab_size, d};
  return selected;
}

void check_output_directory(const std::filesystem::path& input, const std::filesystem::path& output, bool force) {
  std::error_code error;
  if (!input.empty() && std::filesystem::exists(output) && std::filesystem::equivalent(input, output, error)) {
    fail("-o {}: is the input directory; write the quantized model elsewhere", output.string());
  }
  if (std::filesystem::exists(output)) {
    if (!std::filesystem::is_directory(output)) fail("-o {}: exists and is not a directory", output.string());
    if (!std::filesystem::is_empty(output) && !force) {
      fail("-o {}: directory exists and is not empty; pass --force to overwrite", output.string());
    }
  }
  std::filesystem::create_directories(output);
}

// Tokenizer, generation config and the like travel with the weights.
void copy_side_files(const std::filesystem::path& input, const std::filesystem::path& output) {
  for (const auto& entry : std::filesystem::directory_iterator(input)) {
    const std::string file = entry.path().filename().string();
    if (!entry.is_regular_file() || file == "config.json" || file == "model.safetensors.index.json" ||
        file.ends_with(".safetensors")) {
      continue;
    }
    std::filesystem::copy_file(entry.path(), output / file, std::filesystem::copy_options::overwrite_existing);
  }
}

// Quantizes one fp32-widened matrix, rows split across threads.
struct QuantizedMatrix {
  std::vector<std::byte> qweight;
  std::vector<std::byte> scales;
};

QuantizedMatrix quantize_matrix(const format::TensorView& view, const MatrixShape& shape, const QuantizeFlags& flags,
                                DType scale_dtype) {
  std::vector<float> weights(static_cast<size_t>(shape.rows * shape.cols));
  widen_to_f32(view.bytes.data(), view.dtype, shape.rows * shape.cols, weights.data());
  QuantizedMatrix result;
  const std::string& what = view.name;
  if (flags.bits == 8) {
    result.qweight.resize(weights.size());
    result.scales.resize(static_cast<size_t>(shape.rows) * sizeof(float));
    auto* q = reinterpret_cast<int8_t*>(result.qweight.data());
    auto* scales = reinterpret_cast<float*>(result.scales.data());
    parallel_for(shape.rows, 64, [&](int64_t begin, int64_t end) {
      kernels::quantize_int8_per_channel(weights.data() + begin * shape.cols, end - begin, shape.cols,
                                         q + begin * shape.cols, scales + begin, what);
    });
  } else {
    const int64_t n_groups = shape.cols / flags.group;
    result.qweight.resize(weights.size() / 2);
    result.scales.resize(static_cast<size_t>(shape.rows * n_groups) * sizeof(uint16_t));
    auto* packed = reinterpret_cast<uint8_t*>(result.qweight.data());
    auto* scales = reinterpret_cast<uint16_t*>(result.scales.data());
    parallel_for(shape.rows, 64, [&](int64_t begin, int64_t end) {
      kernels::quantize_int4_groups(weights.data() + begin * shape.cols, end - begin, shape.cols, flags.group,
                                    scale_dtype, packed + begin * shape.cols / 2, scales + begin * n_groups, what);
    });
  }
  return result;
}

// Reloads the output and compares the logits of a few probe tokens with the input model's.
// Compares the logits of probe positions computed by the input and the quantized model.
void report_agreement(const std::vector<float>& expected, const std::vector<float>& actual, int64_t vocab,
                      const std::filesystem::path& output, size_t n_quantized) {
  const auto n_rows = static_cast<int64_t>(expected.size()) / vocab;
  double max_error = 0.0, max_reference = 0.0;
  int agree = 0;
  for (int64_t r = 0; r < n_rows; ++r) {
    const auto begin = static_cast<size_t>(r * vocab);
    const auto end = begin + static_cast<size_t>(vocab);
    for (size_t i = begin; i < end; ++i) {
      max_error = std::max(max_error, static_cast<double>(std::fabs(expected[i] - actual[i])));
      max_reference = std::max(max_reference, static_cast<double>(std::fabs(expected[i])));
    }
    const auto argmax = [&](const std::vector<float>& v) {
      return std::max_element(v.begin() + static_cast<int64_t>(begin), v.begin() + static_cast<int64_t>(end)) - v.begin();
    };
    agree += argmax(expected) == argmax(actual) ? 1 : 0;
  }
  if (!std::isfinite(max_error)) fail("{}: verification failed: the quantized model produces non-finite logits", output.string());
  std::fprintf(stderr,
               "verify: reloaded %s (%zu quantized matrices); logits of %lld probe positions vs the input model: max "
               "|diff| %.4g (%.2g of max |logit|), top-1 agreement %d/%lld\n",
               output.string().c_str(), n_quantized, static_cast<long long>(n_rows), max_error,
               max_reference > 0 ? max_error / max_reference : 0.0, agree, static_cast<long long>(n_rows));
}

std::vector<int32_t> probe_tokens(int64_t vocab) {
  std::vector<int32_t> tokens;
  for (int64_t i = 0; i < 8 && i < vocab; ++i) tokens.push_back(static_cast<int32_t>((i * 7919 + 1) % vocab));
  return tokens;
}

void verify(models::Model& original, const std::filesystem::path& output, size_t n_quantized) {
  auto quantized = models::Model::load(output);
  layers::RowBatch rows;
  const auto tokens = probe_tokens(original.config().vocab_size);
  for (size_t i = 0; i < tokens.size(); ++i) rows.add(tokens[i], static_cast<int32_t>(i), 0);
  auto original_cache = original.make_kv_cache();
  auto quantized_cache = quantized->make_kv_cache();
  report_agreement(original.forward(rows, original_cache), quantized->forward(rows, quantized_cache),
                   original.config().vocab_size, output, n_quantized);
}

// Encodes the probe tokens as a source and teacher-forces them through the decoder.
std::vector<float> seq2seq_probe_logits(models::Seq2SeqModel& model) {
  const auto tokens = probe_tokens(model.config().vocab_size);
  const auto encoded = model.encode({tokens});
  models::DecoderCache cache;
  std::vector<float> logits;
  for (int32_t token : tokens) {
    models::DecoderCache* caches[] = {&cache};
    const models::EncodedSource* sources[] = {&encoded.front()};
    const auto step = model.decode(std::span(&token, 1), caches, sources);
    logits.insert(logits.end(), step.begin(), step.end());
  }
  return logits;
}

void verify_seq2seq(models::Seq2SeqModel& original, const std::filesystem::path& output, size_t n_quantized) {
  auto quantized = models::Seq2SeqModel::load(output);
  report_agreement(seq2seq_probe_logits(original), seq2seq_probe_logits(*quantized), original.config().vocab_size,
                   output, n_quantized);
}

void run(const QuantizeFlags& flags) {
  if (flags.threads > 0) set_thread_count(flags.threads);
  const std::filesystem::path input = flags.input;
  const std::filesystem::path output = flags.output;
  if (flags.bits == 4 && !kernels::valid_group_size(flags.group)) {
    fail("--group {}: expected a power of two from 16 to 1024 (32, 64 or 128 are usual)", flags.group);
  }
  const DType scale_dtype = flags.scale_dtype == "bf16" ? DType::kBF16 : DType::kF16;
  if (flags.input.empty() == flags.random_shape.empty()) {
    fail("give exactly one of -m/--model DIR or --random-model SHAPE ({})", models::random_shape_names());
  }
  // The source model is loaded first: for random weights that is what creates the tensors (the
  // loader asks for each one), and verification compares against it afterwards.
  std::unique_ptr<models::Model> source;
  std::unique_ptr<models::Seq2SeqModel> seq2seq_source;
  if (!flags.input.empty() && is_seq2seq_model(flags.input)) {
    seq2seq_source = models::Seq2SeqModel::load(input);
  } else if (!flags.random_shape.empty()) {
    std::fprintf(stderr, "quantize: creating random BF16 weights for %s...\n", flags.random_shape.c_str());
    source = models::Model::from_checkpoint(
        format::Checkpoint::random(models::random_model_config(flags.random_shape), DType::kBF16, 1));
  } else {
    source = models::Model::load(input);
  }
  const format::Checkpoint* checkpoint = seq2seq_source ? &seq2seq_source->checkpoint() : &source->checkpoint();
  if (checkpoint->config().contains("quantization_config")) {
    fail("{}: config.json already has a quantization_config; quantize the full-precision model", input.string());
  }
  const auto selected =
      seq2seq_source ? seq2seq_matrices_to_quantize(seq2seq_source->config(), flags.scope)
                     : matrices_to_quantize(config::parse_model_config(checkpoint->config(), checkpoint->config_path()),
                                            flags.scope);

  // Every check before anything is written.
  for (const auto& [name, shape] : selected) {
    const format::TensorView& view = checkpoint->require(name, {shape.rows, shape.cols});
    if (flags.bits == 4 && shape.cols % flags.group != 0) {
      fail("{}: tensor '{}' has {} columns, not a multiple of --group {}; choose a group size that divides {}",
           view.file->string(), name, shape.cols, flags.group, shape.cols);
    }
  }
  check_output_directory(input, output, flags.force);

  format::SafetensorsWriter writer;
  // int4/int8 pairs: the qweight producer quantizes and leaves the scales for the next tensor.
  auto pending_scales = std::make_shared<std::vector<std::byte>>();
  int64_t bytes_in = 0, bytes_out = 0;
  for (const auto& [name, view] : checkpoint->tensors()) {
    bytes_in += static_cast<int64_t>(view->bytes.size());
    const auto it = selected.find(name);
    if (it == selected.end()) {
      writer.add(name, view->dtype, view->shape, view->bytes);
      bytes_out += static_cast<int64_t>(view->bytes.size());
      continue;
    }
    const MatrixShape shape = it->second;
    const format::TensorView* source = view;
    const int64_t scale_columns = flags.bits == 8 ? 1 : shape.cols / flags.group;
    const std::vector<int64_t> qweight_shape = {shape.rows, flags.bits == 8 ? shape.cols : shape.cols / 2};
    const std::vector<int64_t> scales_shape =
        flags.bits == 8 ? std::vector<int64_t>{shape.rows} : std::vector<int64_t>{shape.rows, scale_columns};
    writer.add(format::qweight_name(name), flags.bits == 8 ? DType::kI8 : DType::kU8, qweight_shape,
               [source, shape, &flags, scale_dtype, pending_scales](std::span<std::byte> out) {
                 QuantizedMatrix q = quantize_matrix(*source, shape, flags, scale_dtype);
                 std::copy(q.qweight.begin(), q.qweight.end(), out.begin());
                 *pending_scales = std::move(q.scales);
               });
    writer.add(format::scales_name(name), flags.bits == 8 ? DType::kF32 : scale_dtype, scales_shape,
               [pending_scales](std::span<std::byte> out) {
                 std::copy(pending_scales->begin(), pending_scales->end(), out.begin());
               });
    bytes_out += qweight_shape[0] * qweight_shape[1] +
                 shape.rows * scale_columns * static_cast<int64_t>(flags.bits == 8 ? sizeof(float) : sizeof(uint16_t));
  }
  writer.set_metadata("format", "pt");
  writer.set_metadata("quantized_by", "elephant quantize");

  std::fprintf(stderr, "quantize: %s -> %s: int%d%s, scope %s, %zu matrices\n", input.string().c_str(),
               output.string().c_str(), flags.bits,
               flags.bits == 4 ? fmt::format(" group {} {} scales", flags.group, dtype_name(scale_dtype)).c_str() : "",
               flags.scope.c_str(), selected.size());
  const bool interactive = isatty(STDERR_FILENO) != 0;
  int last_percent = -1;
  writer.write(output / "model.safetensors", [&](size_t done, size_t total, const std::string& name) {
    const int percent = static_cast<int>(100 * done / total);
    if (interactive) {
      std::fprintf(stderr, "\r\033[Kquantize: %zu/%zu tensors (%d%%) %s", done, total, percent, name.c_str());
      if (done == total) std::fprintf(stderr, "\n");
    } else if (percent / 10 != last_percent / 10 || done == total) {
      std::fprintf(stderr, "quantize: %zu/%zu tensors (%d%%)\n", done, total, percent);
    }
    last_percent = percent;
  });
  // A stale index from an earlier sharded output would shadow the new single file.
  std::filesystem::remove(output / "model.safetensors.index.json");

  nlohmann::json config = checkpoint->config();
  config["quantization_config"] = format::quantization_config_json({flags.bits, flags.bits == 4 ? flags.group : 0, flags.scope});
  std::ofstream(output / "config.json") << config.dump(2) << "\n";
  if (!input.empty()) copy_side_files(input, output);
  std::fprintf(stderr, "quantize: weights %.1f MiB -> %.1f MiB\n", static_cast<double>(bytes_in) / (1 << 20),
               static_cast<double>(bytes_out) / (1 << 20));
  if (seq2seq_source) {
    verify_seq2seq(*seq2seq_source, output, selected.size());
  } else {
    verify(*source, output, selected.size());
  }
}

}  // namespace

void register_quantize(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers) {
  static QuantizeFlags flags;
  auto* command = app.add_subcommand("quantize", "write an int8/int4 quantized copy of a model directory");
  auto* model_option = command->add_option("-m,--model", flags.input, "input model directory (full precision)");
  command
      ->add_option("--random-model", flags.random_shape,
                   "quantize random BF16 weights of a named shape instead of -m, for benchmarks (" +
                       models::random_shape_names() + ")")
      ->excludes(model_option);
  command->add_option("-o,--output", flags.output, "output model directory")->required();
  command->add_option("--bits", flags.bits, "8 (int8 per output channel) or 4 (int4 group-wise)")
      ->required()
      ->check(CLI::IsMember({8, 4}));
  command->add_option("--group", flags.group, "int4: columns per scale, a power of two 16..1024 (default 128)");
  command->add_option("--scope", flags.scope, "experts (default) or all (+ attention, dense/shared MLP, lm_head)")
      ->check(CLI::IsMember({"experts", "all"}));
  command->add_option("--scale-dtype", flags.scale_dtype, "int4 scale dtype: f16 (default) or bf16")
      ->check(CLI::IsMember({"f16", "bf16"}));
  command->add_flag("--force", flags.force, "overwrite a non-empty output directory");
  command->add_option("-t,--threads", flags.threads, "worker threads (default: all cores)")->check(CLI::PositiveNumber);
  handlers.emplace_back(command, [] { run(flags); });
}

}  // namespace elephant::cli
