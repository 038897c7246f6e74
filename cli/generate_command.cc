// `elephant generate`: one prompt, streamed to stdout as it is generated; speed on stderr.
// A text prompt (-p) needs the model directory's tokenizer (tokenizer.json or tokenizer.model);
// with --chat it is wrapped as a user message in the model's chat template first. Token-id
// prompts (--prompt-ids) print ids.
#include <cstdio>

#include "chat/chat_template.h"
#include "cli/common.h"
#include "cli/device.h"
#include "core/error.h"
#include "core/parallel.h"
#include "engine/generate.h"
#include "ops/ops.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace elephant::cli {
namespace {

struct GenerateFlags {
  ModelFlags model;
  std::string prompt_text;
  std::vector<int32_t> prompt_ids;
  bool chat = false;
  std::string system;
  engine::GenerateOptions options;
  bool ignore_eos = false;
};

// fwrite, not printf: generated text may contain NUL characters.
void print_text(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

double tokens_per_second(size_t n, double seconds) { return seconds > 0 ? static_cast<double>(n) / seconds : 0.0; }

// The prompt text as the model should see it: raw, or rendered through the chat template.
std::string prompt_for_model(const GenerateFlags& flags) {
  if (!flags.chat) return flags.prompt_text;
  const chat::Json tokenizer_config = load_chat_config(flags.model.model_dir, "--chat");
  chat::Json messages = chat::Json::array();
  if (!flags.system.empty()) messages.push_back({{"role", "system"}, {"content", flags.system}});
  messages.push_back({{"role", "user"}, {"content", flags.prompt_text}});
  return chat::apply_chat_template(tokenizer_config, messages, true);
}

void run(GenerateFlags& flags) {
  if (flags.prompt_ids.empty() == flags.prompt_text.empty()) {
    fail("give exactly one of -p/--prompt TEXT or --prompt-ids 1,2,3");
  }
  if (!flags.system.empty() && !flags.chat) fail("--system needs --chat");
  auto model = load_model(flags.model);
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  std::vector<int32_t> prompt = flags.prompt_ids;
  if (!flags.prompt_text.empty()) {
    tokenizer = tokenizer::Tokenizer::load(flags.model.model_dir);
    // A chat template writes the special tokens itself, so none are added again.
    prompt = tokenizer->encode(prompt_for_model(flags), !flags.chat);
    if (tokenizer->vocab_size() > model->config().vocab_size) {
      fail("{}: the tokenizer has {} ids but the model's vocabulary is {}", flags.model.model_dir,
           tokenizer->vocab_size(), model->config().vocab_size);
    }
  }
  check_token_ids(prompt, *model, "--prompt-ids");
  const DeviceRunner device(*model, flags.model.device, 1, std::max<int>(static_cast<int>(prompt.size()), 1));
  flags.options.stop_on_eos = !flags.ignore_eos;

  engine::GenerateCallbacks callbacks;
  std::unique_ptr<tokenizer::StreamDecoder> stream;
  bool first = true;
  if (tokenizer) {
    stream = std::make_unique<tokenizer::StreamDecoder>(*tokenizer, true);
    callbacks.detokenize = [&](std::span<const int32_t> ids) { return tokenizer->decode(ids, true); };
    // A plain prompt is echoed so the output reads as one text; a chat reply stands alone.
    if (!flags.chat) print_text(flags.prompt_text);
  }
  callbacks.on_token = [&](int32_t token) {
    if (stream) {
      print_text(stream->step(token));
    } else {
      std::printf("%s%d", first ? "" : " ", token);
    }
    std::fflush(stdout);
    first = false;
    return true;
  };
  const auto result = engine::generate(*model, prompt, flags.options, callbacks, device.forward());
  if (stream && result.stop_reason != engine::StopReason::kStopString) print_text(stream->finish());
  std::printf("\n");
  std::fflush(stdout);
  const std::string ran_on = flags.model.device == "cuda"
                                 ? device.description()
                                 : fmt::format("kernels: {}, {} threads", ops::active_kernels().name, thread_count());
  std::fprintf(stderr,
               "prompt: %zu tokens, %.1f tokens/s | generation: %zu tokens, %.1f tokens/s | stop: %s | %s\n",
               prompt.size(), tokens_per_second(prompt.size(), result.prompt_seconds), result.tokens.size(),
               tokens_per_second(result.tokens.size(), result.generate_seconds),
               engine::stop_reason_name(result.stop_reason).c_str(), ran_on.c_str());
}

}  // namespace

void register_generate(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers) {
  static GenerateFlags flags;
  auto* command = app.add_subcommand("generate", "generate text (or token ids) from a prompt");
  add_model_flags(command, flags.model);
  add_device_flag(command, flags.model.device);
  command->add_option("-p,--prompt", flags.prompt_text, "prompt text (needs the model's tokenizer)");
  command->add_option("--prompt-ids", flags.prompt_ids, "prompt token ids, comma separated")->delimiter(',');
  command->add_flag("--chat", flags.chat, "wrap the prompt as a user message in the model's chat template");
  command->add_option("--system", flags.system, "system message for --chat");
  add_generation_flags(command, flags.options);
  command->add_flag("--ignore-eos", flags.ignore_eos, "keep generating past end-of-sequence tokens");
  handlers.emplace_back(command, [] { run(flags); });
}

}  // namespace elephant::cli
