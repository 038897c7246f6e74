// End to end, text in and text out, against Hugging Face: on tests/fixtures/text_mixtral (a tiny
// Mixtral with a trained byte-level BPE tokenizer and the Qwen2 ChatML template, made by
// tools/make_text_fixture.py) the prompt text, the rendered chat prompt, the prompt ids, the
// greedy ids and the decoded reply all equal what transformers produced, through the library and
// through `elephant generate`.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "cli/cli_runner.h"
#include "engine/generate.h"
#include "models/model.h"
#include "support/fixtures.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace elephant {
namespace {

constexpr const char* kFixture = "text_mixtral";

// One case of text_reference.json.
struct TextCase {
  std::string name;
  std::string prompt;  // what the user types: -p TEXT
  bool chat = false;
  std::string system;  // --system, empty for none
  chat::Json messages;
  std::string rendered;  // apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> new_ids;
  std::string text;  // tokenizer.decode(new_ids, skip_special_tokens=True)
};

const nlohmann::json& reference() {
  static const nlohmann::json value = testing::fixture_json(kFixture, "text_reference.json");
  return value;
}

std::vector<TextCase> load_cases() {
  std::vector<TextCase> cases;
  for (const auto& c : reference().at("cases")) {
    TextCase t;
    t.name = c.at("name").get<std::string>();
    t.prompt = c.at("prompt").get<std::string>();
    t.chat = c.at("chat").get<bool>();
    if (!c.at("system").is_null()) t.system = c.at("system").get<std::string>();
    if (t.chat) {
      t.messages = chat::Json::parse(c.at("messages").dump());
      t.rendered = c.at("rendered").get<std::string>();
    }
    t.prompt_ids = testing::ids(c.at("prompt_ids"));
    t.new_ids = testing::ids(c.at("new_ids"));
    t.text = c.at("text").get<std::string>();
    cases.push_back(std::move(t));
  }
  return cases;
}

const std::vector<TextCase>& cases() {
  static const std::vector<TextCase> value = load_cases();
  return value;
}

const chat::Json& tokenizer_config() {
  static const chat::Json value =
      chat::Json::parse(format::read_json_file(testing::fixture_dir(kFixture) / "tokenizer_config.json").dump());
  return value;
}

// Parameterised by case name; the names are fixed here (not read from the fixture) so that test
// discovery at build time does not need the fixture files.
class TextGeneration : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    tokenizer_ = tokenizer::Tokenizer::load(testing::fixture_dir(kFixture)).release();
    model_ = models::Model::load(testing::fixture_dir(kFixture)).release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete model_;
    tokenizer_ = nullptr;
    model_ = nullptr;
  }
  const TextCase& text_case() const {
    for (const auto& c : cases()) {
      if (c.name == GetParam()) return c;
    }
    throw std::runtime_error("text_reference.json has no case " + GetParam());
  }

  static tokenizer::Tokenizer* tokenizer_;
  static models::Model* model_;
};

tokenizer::Tokenizer* TextGeneration::tokenizer_ = nullptr;
models::Model* TextGeneration::model_ = nullptr;

TEST(TextFixture, HasThePlainAndBothChatCases) {
  ASSERT_EQ(cases().size(), 3u);
  EXPECT_EQ(cases()[0].name, "plain");
  EXPECT_EQ(cases()[1].name, "chat");
  EXPECT_EQ(cases()[2].name, "chat_system");
  EXPECT_FALSE(cases()[0].chat);
  EXPECT_TRUE(cases()[1].chat && cases()[1].system.empty());
  EXPECT_TRUE(cases()[2].chat && !cases()[2].system.empty());
  const int max_new = reference().at("max_new_tokens").get<int>();
  for (const auto& c : cases()) EXPECT_EQ(c.new_ids.size(), static_cast<size_t>(max_new)) << c.name;
}

TEST(TextFixture, TokenizerAndModelAgreeOnSpecialIds) {
  const auto tokenizer = tokenizer::Tokenizer::load(testing::fixture_dir(kFixture));
  const auto model = models::Model::load(testing::fixture_dir(kFixture));
  EXPECT_EQ(tokenizer->vocab_size(), reference().at("vocab_size").get<int32_t>());
  EXPECT_EQ(model->config().vocab_size, tokenizer->vocab_size());
  EXPECT_EQ(tokenizer->bos_id(), reference().at("bos_token_id").get<int32_t>());
  EXPECT_EQ(tokenizer->eos_id(), reference().at("eos_token_id").get<int32_t>());
  EXPECT_EQ(model->config().eos_token_ids, std::vector<int>{reference().at("eos_token_id").get<int>()});
}

// Text -> ids: -p TEXT gets the tokenizer's special tokens (BOS), a chat prompt is rendered by the
// template, which writes its own specials, and encoded without adding any.
TEST_P(TextGeneration, PromptIdsMatchTransformers) {
  const auto& c = text_case();
  if (!c.chat) {
    EXPECT_EQ(tokenizer_->encode(c.prompt, /*add_special_tokens=*/true), c.prompt_ids);
    return;
  }
  const std::string rendered = chat::apply_chat_template(tokenizer_config(), c.messages, true);
  EXPECT_EQ(rendered, c.rendered);
  EXPECT_EQ(tokenizer_->encode(rendered, /*add_special_tokens=*/false), c.prompt_ids);
}

// Ids -> ids: greedy generation from the reference prompt ids runs all 12 steps (EOS never wins).
TEST_P(TextGeneration, GreedyIdsMatchTransformers) {
  const auto& c = text_case();
  engine::GenerateOptions options;
  options.max_new_tokens = static_cast<int>(c.new_ids.size());
  const auto result = engine::generate(*model_, c.prompt_ids, options);
  EXPECT_EQ(result.tokens, c.new_ids);
  EXPECT_EQ(result.stop_reason, engine::StopReason::kMaxTokens);
}

// Ids -> text: a full decode and the streamed decode the CLI uses both give transformers' text.
TEST_P(TextGeneration, DecodedTextMatchesTransformers) {
  const auto& c = text_case();
  EXPECT_EQ(tokenizer_->decode(c.new_ids, /*skip_special_tokens=*/true), c.text);
  tokenizer::StreamDecoder stream(*tokenizer_, /*skip_special_tokens=*/true);
  std::string streamed;
  for (int32_t id : c.new_ids) streamed += stream.step(id);
  streamed += stream.finish();
  EXPECT_EQ(streamed, c.text);
}

// The whole chain in the library, text to text, as `elephant generate` composes it.
TEST_P(TextGeneration, TextToTextMatchesTransformers) {
  const auto& c = text_case();
  const std::string model_text =
      c.chat ? chat::apply_chat_template(tokenizer_config(), c.messages, true) : c.prompt;
  const auto prompt = tokenizer_->encode(model_text, !c.chat);
  engine::GenerateOptions options;
  options.max_new_tokens = static_cast<int>(c.new_ids.size());
  engine::GenerateCallbacks callbacks;
  callbacks.detokenize = [&](std::span<const int32_t> ids) { return tokenizer_->decode(ids, true); };
  const auto result = engine::generate(*model_, prompt, options, callbacks);
  EXPECT_EQ(result.text, c.text);
}

// The CLI: exit 0 and the reference text on stdout.
TEST_P(TextGeneration, CliPrintsTransformersText) {
  const auto& c = text_case();
  std::vector<std::string> args = {"generate", "-m", testing::fixture_dir(kFixture).string(), "-p", c.prompt,
                                   "-n", std::to_string(c.new_ids.size())};
  if (c.chat) args.push_back("--chat");
  if (!c.system.empty()) {
    args.push_back("--system");
    args.push_back(c.system);
  }
  const auto result = testing::run_cli(args);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("stop: max tokens"), std::string::npos) << result.err;
  if (!c.chat) {
    // A completion: the prompt is echoed and the generated text continues it.
    EXPECT_EQ(result.out, c.prompt + c.text + "\n");
    return;
  }
  // A chat reply is printed on its own.
  EXPECT_EQ(result.out, c.text + "\n");
}

INSTANTIATE_TEST_SUITE_P(Cases, TextGeneration, ::testing::Values("plain", "chat", "chat_system"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace elephant
