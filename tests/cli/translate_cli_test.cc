// `elephant translate` as a user runs it: token ids against the Switch fixture's transformers
// references, text with the embedded translator, streaming over a pipe that stays open, and the
// errors for misuse.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "cli/cli_runner.h"
#include "support/fixtures.h"

namespace elephant {
namespace {

using testing::fixture_dir;
using testing::fixture_json;
using testing::run_cli;

std::string join_ids(const std::vector<int32_t>& ids, size_t skip = 0) {
  std::string text;
  for (size_t i = skip; i < ids.size(); ++i) text += (i > skip ? " " : "") + std::to_string(ids[i]);
  return text;
}

// The Switch fixture's sources, one line of ids each.
std::filesystem::path write_sources(const testing::ScratchDir& scratch) {
  const auto path = scratch / "sources.txt";
  std::ofstream out(path);
  const auto reference = fixture_json("switch", "reference.json");
  for (const auto& source : reference["sources"]) {
    out << join_ids(testing::ids(source["src_ids"])) << "\n";
  }
  return path;
}

TEST(TranslateCli, GreedyIdsMatchTransformers) {
  const testing::ScratchDir scratch;
  const auto result = run_cli({"translate", "-m", fixture_dir("switch").string(), "--ids", "--max-new-tokens", "20"}, {},
                              write_sources(scratch).string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::string expected;
  const auto reference = fixture_json("switch", "reference.json");
  for (const auto& source : reference["sources"]) {
    expected += join_ids(testing::ids(source["greedy"]["ids"]), 1) + "\n";
  }
  EXPECT_EQ(result.out, expected);
  EXPECT_NE(result.err.find("translate: 6 sentences"), std::string::npos) << "[" << result.err << "]";
}

TEST(TranslateCli, BeamSearchNBestListMatchesTransformers) {
  const testing::ScratchDir scratch;
  const auto result = run_cli({"translate", "-m", fixture_dir("switch").string(), "--ids", "--max-new-tokens", "20",
                               "--beam", "4", "--n-best", "4", "--early-stopping", "true", "--max-batch-sentences", "2"},
                              {}, write_sources(scratch).string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::istringstream lines(result.out);
  std::string line;
  const auto reference = fixture_json("switch", "reference.json");
  for (const auto& source : reference["sources"]) {
    for (const auto& hypothesis : source["beams"]["beam4"]["hypotheses"]) {
      ASSERT_TRUE(std::getline(lines, line));
      const std::string prefix = std::to_string(source["index"].get<int>()) + " ||| " +
                                 join_ids(testing::ids(hypothesis["ids"]), 1) + " ||| ";
      ASSERT_EQ(line.substr(0, prefix.size()), prefix);
      EXPECT_NEAR(std::stod(line.substr(prefix.size())), hypothesis["score"].get<double>(), 1e-3) << line;
    }
  }
  EXPECT_FALSE(std::getline(lines, line)) << "extra output: " << line;
}

TEST(TranslateCli, EmbeddedTranslatorIsTheDefaultModel) {
  const testing::ScratchDir scratch;
  const auto input = scratch / "en.txt";
  std::ofstream(input) << "In the beginning God created the heavens and the earth.\nJesus wept.\n";
  const auto result = run_cli({"translate"}, {}, input.string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // transformers' greedy output for these lines (tools/eval/eval_mt.py settings).
  EXPECT_EQ(result.out, "En el principio Dios crió los cielos y la tierra.\nY lloró Jesús.\n");
}

// NLLB-MoE text in: "[eng_Latn] tokens </s>" from the fixture's tokenizer, spa_Latn forced first.
TEST(TranslateCli, NllbLanguageTokensMatchTransformers) {
  const testing::ScratchDir scratch;
  const auto input = scratch / "en.txt";
  const auto reference = fixture_json("nllb_moe", "reference.json");
  std::string greedy, beams;
  {
    std::ofstream out(input);
    size_t index = 0;
    for (const auto& text_case : reference["text_cases"]) {
      out << text_case["text"].get<std::string>() << "\n";
      greedy += text_case["greedy"]["text"].get<std::string>() + "\n";
      for (const auto& hypothesis : text_case["beam4"]["hypotheses"]) {
        beams += std::to_string(index) + " ||| " + hypothesis["text"].get<std::string>() + " ||| ";
      }
      ++index;
    }
  }
  const std::vector<std::string> common = {"translate", "-m", fixture_dir("nllb_moe").string(), "--src", "eng_Latn",
                                           "--tgt", "spa_Latn", "--max-new-tokens", "20"};
  const auto greedy_result = run_cli(common, {}, input.string());
  ASSERT_EQ(greedy_result.exit_code, 0) << greedy_result.err;
  EXPECT_EQ(greedy_result.out, greedy);

  auto beam_args = common;
  beam_args.insert(beam_args.end(), {"--beam", "4", "--n-best", "4", "--early-stopping", "true"});
  const auto beam_result = run_cli(beam_args, {}, input.string());
  ASSERT_EQ(beam_result.exit_code, 0) << beam_result.err;
  std::string texts;  // the lines without their scores
  std::istringstream lines(beam_result.out);
  for (std::string line; std::getline(lines, line);) texts += line.substr(0, line.rfind(" ||| ") + 5);
  EXPECT_EQ(texts, beams);

  const auto unknown = run_cli({"translate", "-m", fixture_dir("nllb_moe").string(), "--src", "eng_Latn", "--tgt", "xx_Yyyy"},
                               {}, input.string());
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no language token 'xx_Yyyy'"), std::string::npos) << unknown.err;
}

// A line is translated and written while the input pipe is still open.
TEST(TranslateCli, StreamsLinesFromAnOpenPipe) {
  int to_child[2], from_child[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(from_child), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    dup2(to_child[0], STDIN_FILENO);
    dup2(from_child[1], STDOUT_FILENO);
    close(to_child[1]);
    close(from_child[0]);
    execl(ELEPHANT_CLI_PATH, ELEPHANT_CLI_PATH, "translate", "-t", "1", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  FILE* output = fdopen(from_child[0], "r");
  ASSERT_NE(output, nullptr);
  for (const std::string line : {"Jesus wept.\n", "In the beginning God created the heavens and the earth.\n"}) {
    ASSERT_EQ(write(to_child[1], line.data(), line.size()), static_cast<ssize_t>(line.size()));
    char buffer[4096];
    ASSERT_NE(std::fgets(buffer, sizeof buffer, output), nullptr) << "no translation while the pipe is open";
    EXPECT_GT(std::strlen(buffer), 1u);
  }
  close(to_child[1]);
  fclose(output);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(TranslateCli, MisuseGetsClearErrors) {
  const testing::ScratchDir scratch;
  const auto sources = write_sources(scratch);
  const auto languages = run_cli({"translate", "--src", "eng_Latn", "--tgt", "spa_Latn"});
  EXPECT_EQ(languages.exit_code, 1);
  EXPECT_NE(languages.err.find("has no language tokens"), std::string::npos) << languages.err;

  const auto bad_ids = scratch / "bad.txt";
  std::ofstream(bad_ids) << "5 6 1\n5 x 1\n";
  const auto parse = run_cli({"translate", "-m", fixture_dir("switch").string(), "--ids"}, {}, bad_ids.string());
  EXPECT_EQ(parse.exit_code, 1);
  EXPECT_NE(parse.err.find("line 2: 'x' is not a token id"), std::string::npos) << parse.err;

  const auto n_best = run_cli({"translate", "-m", fixture_dir("switch").string(), "--ids", "--n-best", "3"}, {},
                              sources.string());
  EXPECT_EQ(n_best.exit_code, 1);
  EXPECT_NE(n_best.err.find("--n-best 3: expected 1..1"), std::string::npos) << n_best.err;

  const auto decoder_only = run_cli({"translate", "-m", fixture_dir("mixtral").string(), "--ids"}, {}, sources.string());
  EXPECT_EQ(decoder_only.exit_code, 1);
  EXPECT_NE(decoder_only.err.find("expected an encoder-decoder family"), std::string::npos) << decoder_only.err;

  const auto nllb_without_languages = run_cli({"translate", "-m", fixture_dir("nllb_moe").string(), "--ids"}, {}, sources.string());
  EXPECT_EQ(nllb_without_languages.exit_code, 1);
  EXPECT_NE(nllb_without_languages.err.find("give --src and --tgt"), std::string::npos) << nllb_without_languages.err;
}

}  // namespace
}  // namespace elephant
