#include "cli/common.h"

#include "core/error.h"
#include "core/parallel.h"
#include "ops/ops.h"

namespace elephant::cli {

void add_model_flags(CLI::App* command, ModelFlags& flags, bool model_required) {
  command->add_option("-m,--model", flags.model_dir, "Hugging Face model directory (config.json, *.safetensors)")
      ->required(model_required);
  command->add_option("-t,--threads", flags.threads, "worker threads (default: all cores)")->check(CLI::Range(1, 4096));
  command->add_option("--kernels", flags.kernels, "kernel set: auto, avx2, reference");
  command->add_option("--experts-per-token", flags.experts_per_token,
                      "override the number of routed experts per token (1..E)");
  command->add_option("--context", flags.context, "KV-cache length per sequence (default: max_position_embeddings)")
      ->check(CLI::PositiveNumber);
}

std::unique_ptr<models::Model> load_model(const ModelFlags& flags) {
  if (flags.threads > 0) set_thread_count(flags.threads);
  ops::select_kernels(flags.kernels);
  models::ModelOptions options;
  options.context_length = flags.context;
  options.experts_per_token = flags.experts_per_token;
  return models::Model::load(flags.model_dir, options);
}

void check_token_ids(const std::vector<int32_t>& ids, const models::Model& model, const char* flag) {
  for (int32_t id : ids) {
    if (id < 0 || id >= model.config().vocab_size) {
      fail("{}: id {} is outside the vocabulary [0, {})", flag, id, model.config().vocab_size);
    }
  }
}

}  // namespace elephant::cli
