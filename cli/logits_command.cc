// `elephant logits`: the fp32 logits of every prompt position as a NumPy .npy [tokens, vocab],
// for comparing against other implementations.
#include <cstdio>

#include "cli/common.h"
#include "format/npy.h"

namespace elephant::cli {
namespace {

struct LogitsFlags {
  ModelFlags model;
  std::vector<int32_t> prompt_ids;
  std::string output = "logits.npy";
};

void run(const LogitsFlags& flags) {
  auto model = load_model(flags.model);
  check_token_ids(flags.prompt_ids, *model, "--prompt-ids");
  auto cache = model->make_kv_cache();
  layers::RowBatch rows;
  for (size_t i = 0; i < flags.prompt_ids.size(); ++i) rows.add(flags.prompt_ids[i], static_cast<int32_t>(i), 0);
  const std::vector<float> logits = model->forward(rows, cache);
  format::write_npy_f32(flags.output, logits, {rows.size(), model->config().vocab_size});
  std::fprintf(stderr, "wrote %s: [%zu, %d] float32\n", flags.output.c_str(), flags.prompt_ids.size(),
               model->config().vocab_size);
}

}  // namespace

void register_logits(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers) {
  static LogitsFlags flags;
  auto* command = app.add_subcommand("logits", "write the logits of every prompt position to a .npy file");
  add_model_flags(command, flags.model);
  command->add_option("--prompt-ids", flags.prompt_ids, "prompt token ids, comma separated")->delimiter(',')->required();
  command->add_option("-o,--output", flags.output, "output .npy file (default logits.npy)");
  handlers.emplace_back(command, [] { run(flags); });
}

}  // namespace elephant::cli
