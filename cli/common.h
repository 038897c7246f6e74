// Options and helpers shared by every `elephant` subcommand that loads a model.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "engine/request.h"
#include "models/model.h"

namespace elephant::cli {

struct ModelFlags {
  std::string model_dir;
  int threads = 0;
  std::string kernels = "auto";
  std::optional<int> experts_per_token;
  int context = 0;
  std::string kv_dtype = "f32";
  std::string expert_cache;           // empty: all experts resident
  std::string expert_policy = "lru";
  bool pregate = false;
  int pregate_lookahead = 1;
  bool no_pregate_next_token = false;
  int io_threads = 2;
  std::string device = "cpu";  // commands that take --device (cli/device.h)
};

// The model used when -m is not given: $ELEPHANT_MODEL, else the embedded elephant-tiny-lm of the
// source tree this binary was built from.
std::string default_model_dir();
// Adds -m/--model, --threads, --kernels, --experts-per-token, --context to a subcommand. Without
// model_required, a missing -m means default_model_dir(). Returns the -m option.
CLI::Option* add_model_flags(CLI::App* command, ModelFlags& flags, bool model_required = false);
// Adds -n/--max-tokens, the sampling flags and --stop.
void add_generation_flags(CLI::App* command, engine::GenerateOptions& options);
// tokenizer_config.json of a model directory with its chat template (from the config, or from
// chat_template.jinja beside it as transformers 5 saves it); `flag` names the option that needs it.
chat::Json load_chat_config(const std::string& model_dir, const char* flag);
// --kv-dtype: "f32" or "bf16"; anything else is an Error naming the choices.
DType parse_kv_dtype(const std::string& name);
// Applies thread/kernel choices and loads the model; throws Error on bad input.
// computes: false for a model that is only described (inspect), which then skips the CPU kernels'
// load-time copies of its weights.
std::unique_ptr<models::Model> load_model(const ModelFlags& flags, bool computes = true);
// True when DIR/config.json declares an encoder-decoder family (`elephant translate` models); an
// unreadable config is false, so the decoder-only loader reports what is wrong with it.
bool is_seq2seq_model(const std::string& model_dir);
// Throws Error naming the flag when an id is outside the model's vocabulary.
void check_token_ids(const std::vector<int32_t>& ids, const models::Model& model, const char* flag);

// Each subcommand registers itself with a handler run after parsing.
using Handler = std::function<void()>;
void register_generate(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers);
void register_logits(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers);
void register_inspect(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers);
void register_bench(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers);
void register_perplexity(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers);
void register_chat(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers);
void register_quantize(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers);
void register_translate(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers);
void register_serve(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers);

}  // namespace elephant::cli
