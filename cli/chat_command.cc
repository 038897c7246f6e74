// `elephant chat`: a conversation on stdin/stdout. Each input line is a user message; the reply
// is streamed, then added to the history, and the next turn renders the whole history through
// the model's chat template again. When the history no longer fits the context, the oldest
// exchanges are dropped (the system message stays).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "chat/chat_template.h"
#include "cli/common.h"
#include "cli/device.h"
#include "core/error.h"
#include "engine/generate.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace elephant::cli {
namespace {

struct ChatFlags {
  ModelFlags model;
  std::string system;
  engine::GenerateOptions options;
};

void print_text(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

// Renders the history, dropping the oldest user/assistant exchanges until prompt and reply fit.
std::vector<int32_t> fitting_prompt(const chat::Json& tokenizer_config, chat::Json& messages,
                                    const tokenizer::Tokenizer& tokenizer, int64_t budget) {
  for (;;) {
    std::vector<int32_t> ids = tokenizer.encode(chat::apply_chat_template(tokenizer_config, messages, true), false);
    if (static_cast<int64_t>(ids.size()) <= budget) return ids;
    const size_t first_turn = !messages.empty() && messages[0]["role"] == "system" ? 1 : 0;
    if (messages.size() < first_turn + 3) {
      fail("the message is {} tokens with the chat template, but only {} fit beside the reply (-n) in the context",
           ids.size(), budget);
    }
    messages.erase(messages.begin() + static_cast<std::ptrdiff_t>(first_turn),
                   messages.begin() + static_cast<std::ptrdiff_t>(first_turn + 2));
  }
}

void run(const ChatFlags& flags) {
  auto model = load_model(flags.model);
  const auto tokenizer = tokenizer::Tokenizer::load(flags.model.model_dir);
  const chat::Json tokenizer_config = load_chat_config(flags.model.model_dir, "chat");
  const bool interactive = isatty(STDIN_FILENO) != 0;
  if (interactive) {
    std::fprintf(stderr, "elephant chat with %s: type a message and press Enter; Ctrl-D ends.\n",
                 flags.model.model_dir.c_str());
  }
  chat::Json messages = chat::Json::array();
  if (!flags.system.empty()) messages.push_back({{"role", "system"}, {"content", flags.system}});
  const int64_t budget = model->context_length() - flags.options.max_new_tokens;
  if (budget <= 0) {
    fail("-n {} leaves no room for a prompt in the context of {} tokens", flags.options.max_new_tokens,
         model->context_length());
  }
  const DeviceRunner device(*model, flags.model.device, 1, static_cast<int>(budget));
  std::string line;
  for (;;) {
    if (interactive) {
      std::fputs("> ", stdout);
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    messages.push_back({{"role", "user"}, {"content", line}});
    std::vector<int32_t> prompt;
    try {
      prompt = fitting_prompt(tokenizer_config, messages, *tokenizer, budget);
    } catch (const Error& error) {
      std::fprintf(stderr, "error: %s\n", error.what());
      messages.erase(messages.end() - 1);
      continue;
    }
    tokenizer::StreamDecoder stream(*tokenizer, true);
    engine::GenerateCallbacks callbacks;
    callbacks.detokenize = [&](std::span<const int32_t> ids) { return tokenizer->decode(ids, true); };
    callbacks.on_token = [&](int32_t token) {
      print_text(stream.step(token));
      std::fflush(stdout);
      return true;
    };
    const auto result = engine::generate(*model, prompt, flags.options, callbacks, device.forward());
    if (result.stop_reason != engine::StopReason::kStopString) print_text(stream.finish());
    std::printf("\n");
    std::fflush(stdout);
    messages.push_back({{"role", "assistant"}, {"content", result.text}});
  }
  if (interactive) std::printf("\n");
}

}  // namespace

void register_chat(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers) {
  static ChatFlags flags;
  auto* command = app.add_subcommand("chat", "chat on stdin/stdout through the model's chat template");
  add_model_flags(command, flags.model);
  add_device_flag(command, flags.model.device);
  command->add_option("--system", flags.system, "system message");
  add_generation_flags(command, flags.options);
  handlers.emplace_back(command, [] { run(flags); });
}

}  // namespace elephant::cli
