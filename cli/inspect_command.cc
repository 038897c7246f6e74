// `elephant inspect`: architecture, parameter counts (total and active per token), dtypes and bytes.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

#include "cli/common.h"
#include "config/seq2seq_config.h"
#include "models/seq2seq_model.h"

namespace elephant::cli {
namespace {

std::string human_count(int64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.2f}B", static_cast<double>(n) / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.2f}M", static_cast<double>(n) / 1e6);
  if (n >= 1'000) return fmt::format("{:.2f}K", static_cast<double>(n) / 1e3);
  return std::to_string(n);
}

std::string dtype_bytes(const format::Checkpoint& checkpoint) {
  std::map<std::string, int64_t> bytes_by_dtype;
  for (const auto& [name, view] : checkpoint.tensors()) {
    bytes_by_dtype[std::string(dtype_name(view->dtype))] += static_cast<int64_t>(view->bytes.size());
  }
  std::vector<std::string> dtypes;
  for (const auto& [dtype, bytes] : bytes_by_dtype) dtypes.push_back(fmt::format("{} {} bytes", dtype, bytes));
  return fmt::format("{}", fmt::join(dtypes, ", "));
}

void print_counts(const models::ParameterCounts& counts) {
  fmt::print("parameters:       {} total ({})\n", counts.total, human_count(counts.total));
  fmt::print("active per token: {} ({})\n", counts.active_per_token, human_count(counts.active_per_token));
  fmt::print("weight bytes:     {}\n", counts.weight_bytes);
}

void inspect_seq2seq(const ModelFlags& flags) {
  auto model = models::Seq2SeqModel::load(flags.model_dir);
  const auto& c = model->config();
  const auto stack = [](const config::StackConfig& s) {
    std::vector<int> moe;
    for (int i = 0; i < s.n_layers; ++i) {
      if (s.is_moe[static_cast<size_t>(i)]) moe.push_back(i);
    }
    return fmt::format("{} layers, MoE at [{}], FFN width {}", s.n_layers, fmt::join(moe, ", "), s.ffn);
  };
  fmt::print("model:            {}\n", flags.model_dir);
  fmt::print("family:           {} (encoder-decoder)\n", c.model_type);
  fmt::print("encoder:          {}\n", stack(c.encoder));
  fmt::print("decoder:          {}\n", stack(c.decoder));
  fmt::print("d_model:          {}\n", c.d_model);
  fmt::print("attention:        {} heads, head dim {}\n", c.n_heads, c.head_dim);
  fmt::print("experts:          {} routed, top-{}", c.n_experts, c.top_k);
  if (c.routing == config::Seq2SeqRouting::kTop1Capacity) fmt::print(", capacity {} tokens per sequence", c.expert_capacity);
  fmt::print("\n");
  fmt::print("vocabulary:       {}\n", c.vocab_size);
  print_counts(model->parameter_counts());
  fmt::print("dtypes:           {}\n", dtype_bytes(model->checkpoint()));
  fmt::print("files:            {}\n", model->checkpoint().file_count());
}

void run(const ModelFlags& flags) {
  if (is_seq2seq_model(flags.model_dir)) {
    inspect_seq2seq(flags);
    return;
  }
  auto model = load_model(flags, /*computes=*/false);
  const auto& c = model->config();
  const auto counts = model->parameter_counts();
  int n_moe = 0;
  for (const auto& layer : c.layers) n_moe += layer.is_moe ? 1 : 0;
  fmt::print("model:            {}\n", flags.model_dir);
  fmt::print("family:           {}\n", c.model_type);
  fmt::print("layers:           {} ({} MoE, {} dense)\n", c.n_layers, n_moe, c.n_layers - n_moe);
  fmt::print("hidden size:      {}\n", c.hidden_size);
  fmt::print("attention:        {} heads, {} kv heads, head dim {}\n", c.n_heads, c.n_kv_heads, c.head_dim);
  fmt::print("experts:          {} routed, top-{}, width {}", c.moe.n_experts, c.moe.top_k, c.moe.expert_ffn);
  if (c.moe.shared_expert_ffn > 0) fmt::print(", shared expert width {}", c.moe.shared_expert_ffn);
  fmt::print("\n");
  fmt::print("vocabulary:       {}\n", c.vocab_size);
  print_counts(counts);
  fmt::print("dtypes:           {}\n", dtype_bytes(model->checkpoint()));
  fmt::print("files:            {}\n", model->checkpoint().file_count());
}

}  // namespace

void register_inspect(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers) {
  static ModelFlags flags;
  auto* command = app.add_subcommand("inspect", "print a model's architecture, parameter counts and dtypes");
  add_model_flags(command, flags);
  handlers.emplace_back(command, [] { run(flags); });
}

}  // namespace elephant::cli
