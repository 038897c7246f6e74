// Golden tests: real model chat templates rendered by apply_chat_template must equal what
// transformers' tokenizer.apply_chat_template renders for the same conversations.
//
// The fixtures (tests/fixtures/chat/<template>.json) are written by tools/make_chat_fixtures.py
// from transformers itself; each case holds the inputs and either the expected prompt or the
// message of the template's raise_exception. Every template under tests/fixtures/chat/templates
// must have a fixture, so a template added without regenerating fails here.
#include "chat/chat_template.h"
#include "core/error.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace elephant::chat {
namespace {

const std::filesystem::path kChatFixtures = std::filesystem::path(ELEPHANT_FIXTURES_DIR) / "chat";

Json load_fixture(const std::string& name) {
  std::ifstream in(kChatFixtures / (name + ".json"));
  EXPECT_TRUE(in.good()) << "missing fixture " << name << ".json: run tools/make_chat_fixtures.py";
  std::stringstream buffer;
  buffer << in.rdbuf();
  return Json::parse(buffer.str());
}

std::tm parse_now(const std::string& iso) {
  std::tm now{};
  std::istringstream in(iso);
  in >> std::get_time(&now, "%Y-%m-%dT%H:%M:%S");
  return now;
}

class GoldenTemplateTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTemplateTest, MatchesTransformers) {
  const Json fixture = load_fixture(GetParam());
  RenderOptions options;
  options.now = parse_now(fixture.at("now").get<std::string>());
  ASSERT_FALSE(fixture.at("cases").empty());
  for (const Json& c : fixture.at("cases")) {
    SCOPED_TRACE("case " + c.at("name").get<std::string>());
    const auto run = [&] {
      return apply_chat_template(fixture.at("tokenizer_config"), c.at("messages"),
                                 c.at("add_generation_prompt").get<bool>(), c.at("extra"), options);
    };
    if (c.contains("error")) {
      try {
        const std::string rendered = run();
        ADD_FAILURE() << "expected the template to raise, it rendered:\n" << rendered;
      } catch (const Error& e) {
        EXPECT_EQ(e.what(), c.at("error").get<std::string>());
      }
    } else {
      EXPECT_EQ(run(), c.at("expected").get<std::string>());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(RealTemplates, GoldenTemplateTest,
                         ::testing::Values("mixtral", "qwen2_chatml", "qwen2_5", "qwen3", "olmoe", "deepseek_v2",
                                           "deepseek_v3", "deepseek_v3_1", "gpt_oss"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(GoldenTemplates, EveryTemplateHasAFixtureAndATest) {
  const std::vector<std::string> tested = {"mixtral", "qwen2_chatml", "qwen2_5",      "qwen3",  "olmoe",
                                           "deepseek_v2", "deepseek_v3", "deepseek_v3_1", "gpt_oss"};
  size_t templates = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kChatFixtures / "templates")) {
    if (entry.path().extension() != ".jinja") continue;
    ++templates;
    const std::string name = entry.path().stem().string();
    EXPECT_NE(std::find(tested.begin(), tested.end(), name), tested.end()) << name << " is not in the golden test";
    EXPECT_TRUE(std::filesystem::exists(kChatFixtures / (name + ".json"))) << name << " has no fixture";
  }
  EXPECT_EQ(templates, tested.size());
}

// The fixtures' tokenizer_config carries the template text; it must be the committed .jinja file,
// so the golden cases really exercise the templates SOURCES.md describes.
TEST(GoldenTemplates, FixturesEmbedTheCommittedTemplates) {
  for (const auto& entry : std::filesystem::directory_iterator(kChatFixtures / "templates")) {
    if (entry.path().extension() != ".jinja") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    const Json fixture = load_fixture(entry.path().stem().string());
    EXPECT_EQ(fixture.at("tokenizer_config").at("chat_template").get<std::string>(), text.str()) << entry.path();
  }
}

}  // namespace
}  // namespace elephant::chat
