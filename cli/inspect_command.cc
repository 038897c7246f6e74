// `elephant inspect`: architecture, parameter counts (total and active per token), dtypes and bytes.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

#include "cli/common.h"

namespace elephant::cli {
namespace {

std::string human_count(int64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.2f}B", static_cast<double>(n) / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.2f}M", static_cast<double>(n) / 1e6);
  if (n >= 1'000) return fmt::format("{:.2f}K", static_cast<double>(n) / 1e3);
  return std::to_string(n);
}

void run(const ModelFlags& flags) {
  auto model = load_model(flags);
  const auto& c = model->config();
  const auto counts = model->parameter_counts();
  int n_moe = 0;
  for (const auto& layer : c.layers) n_moe += layer.is_moe ? 1 : 0;
  std::map<std::string, int64_t> bytes_by_dtype;
  for (const auto& [name, view] : model->checkpoint().tensors()) {
    bytes_by_dtype[std::string(dtype_name(view->dtype))] += static_cast<int64_t>(view->bytes.size());
  }
  fmt::print("model:            {}\n", flags.model_dir);
  fmt::print("family:           {}\n", c.model_type);
  fmt::print("layers:           {} ({} MoE, {} dense)\n", c.n_layers, n_moe, c.n_layers - n_moe);
  fmt::print("hidden size:      {}\n", c.hidden_size);
  fmt::print("attention:        {} heads, {} kv heads, head dim {}\n", c.n_heads, c.n_kv_heads, c.head_dim);
  fmt::print("experts:          {} routed, top-{}, width {}", c.moe.n_experts, c.moe.top_k, c.moe.expert_ffn);
  if (c.moe.shared_expert_ffn > 0) fmt::print(", shared expert width {}", c.moe.shared_expert_ffn);
  fmt::print("\n");
  fmt::print("vocabulary:       {}\n", c.vocab_size);
  fmt::print("parameters:       {} total ({})\n", counts.total, human_count(counts.total));
  fmt::print("active per token: {} ({})\n", counts.active_per_token, human_count(counts.active_per_token));
  fmt::print("weight bytes:     {}\n", counts.weight_bytes);
  std::vector<std::string> dtypes;
  for (const auto& [dtype, bytes] : bytes_by_dtype) dtypes.push_back(fmt::format("{} {} bytes", dtype, bytes));
  fmt::print("dtypes:           {}\n", fmt::join(dtypes, ", "));
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
