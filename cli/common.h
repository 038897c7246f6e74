// Options and helpers shared by every `elephant` subcommand that loads a model.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/model.h"

namespace elephant::cli {

struct ModelFlags {
  std::string model_dir;
  int threads = 0;
  std::string kernels = "auto";
  std::optional<int> experts_per_token;
  int context = 0;
};

// Adds -m/--model, --threads, --kernels, --experts-per-token, --context to a subcommand.
void add_model_flags(CLI::App* command, ModelFlags& flags, bool model_required = true);
// Applies thread/kernel choices and loads the model; throws Error on bad input.
std::unique_ptr<models::Model> load_model(const ModelFlags& flags);
// Throws Error naming the flag when an id is outside the model's vocabulary.
void check_token_ids(const std::vector<int32_t>& ids, const models::Model& model, const char* flag);

// Each subcommand registers itself with a handler run after parsing.
using Handler = std::function<void()>;
void register_generate(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers);
void register_logits(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers);
void register_inspect(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers);
void register_bench(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers);
void register_quantize(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers);

}  // namespace elephant::cli
