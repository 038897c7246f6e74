// The `elephant` command as a user runs it: bad command lines end with CLI11's message and exit
// code, every subcommand has --help, and on the fixtures of all four families `inspect` prints
// the reference parameter counts, `logits` writes the reference logits and `generate` prints the
// reference greedy ids; bad prompt ids and expert counts are one-line errors with exit status 1.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli/cli_runner.h"
#include "format/npy.h"
#include "models/model.h"
#include "support/fixtures.h"
#include "support/tolerance.h"

namespace elephant {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::run_cli;
using ::testing::StartsWith;

int exit_code(CLI::ExitCodes code) { return static_cast<int>(code); }

std::string mixtral() { return testing::fixture_dir("mixtral").string(); }

std::string id_list(const std::vector<int32_t>& ids) { return fmt::format("{}", fmt::join(ids, ",")); }

TEST(CommandLine, NoArgumentsPrintsUsageAndAsksForASubcommand) {
  const auto result = run_cli({});
  EXPECT_EQ(result.exit_code, exit_code(CLI::ExitCodes::RequiredError));
  EXPECT_THAT(result.err, AllOf(HasSubstr("A subcommand is required"), HasSubstr("Usage:"), HasSubstr("generate")));
}

TEST(CommandLine, UnknownSubcommand) {
  const auto result = run_cli({"frobnicate", "-m", mixtral()});
  EXPECT_EQ(result.exit_code, exit_code(CLI::ExitCodes::RequiredError));
  EXPECT_THAT(result.err, AllOf(HasSubstr("A subcommand is required"), HasSubstr("Usage:"), HasSubstr("inspect")));
}

TEST(CommandLine, UnknownFlag) {
  const auto result = run_cli({"inspect", "-m", mixtral(), "--bogus"});
  EXPECT_EQ(result.exit_code, exit_code(CLI::ExitCodes::ExtrasError));
  EXPECT_THAT(result.err, AllOf(HasSubstr("--bogus"), HasSubstr("Usage:")));
  EXPECT_EQ(result.out, "");
}

TEST(CommandLine, MissingModel) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"inspect"}, {"generate", "--prompt-ids", "1,2"}, {"logits", "--prompt-ids", "1,2"}}) {
    SCOPED_TRACE(args[0]);
    const auto result = run_cli(args);
    EXPECT_EQ(result.exit_code, exit_code(CLI::ExitCodes::RequiredError));
    EXPECT_THAT(result.err, AllOf(HasSubstr("--model is required"), HasSubstr("Usage:")));
  }
}

TEST(CommandLine, NonNumericThreadCount) {
  const auto result = run_cli({"inspect", "-m", mixtral(), "-t", "many"});
  EXPECT_EQ(result.exit_code, exit_code(CLI::ExitCodes::ValidationError));
  EXPECT_THAT(result.err, AllOf(HasSubstr("--threads: Value many"), HasSubstr("Usage:")));
}

TEST(CommandLine, HelpOfEachSubcommand) {
  const std::map<std::string, std::vector<std::string>> options = {
      {"", {"generate", "logits", "inspect", "--version"}},
      {"generate", {"--model", "--prompt-ids", "--max-tokens", "--temperature", "--ignore-eos", "--experts-per-token"}},
      {"logits", {"--model", "--prompt-ids", "--output", "--kernels"}},
      {"inspect", {"--model", "--threads", "--context"}},
  };
  for (const auto& [command, expected] : options) {
    SCOPED_TRACE(command);
    const auto result =
        run_cli(command.empty() ? std::vector<std::string>{"--help"} : std::vector<std::string>{command, "--help"});
    EXPECT_EQ(result.exit_code, 0);
    for (const auto& option : expected) EXPECT_THAT(result.out, HasSubstr(option));
  }
}

TEST(CommandLine, Version) {
  const auto result = run_cli({"--version"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.out, HasSubstr("elephant 0.1.0"));
}

TEST(CommandLine, ModelDirectoryThatDoesNotExist) {
  const testing::ScratchDir scratch;
  const auto result = run_cli({"inspect", "-m", (scratch / "nowhere").string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, fmt::format("error: {}: not a model directory (expected a folder with config.json and "
                                    "*.safetensors)\n",
                                    (scratch / "nowhere").string()));
}

TEST(CommandLine, PromptIdOutsideTheVocabulary) {
  for (const char* command : {"generate", "logits"}) {
    for (const char* ids : {"5,256", "5,-1"}) {
      SCOPED_TRACE(fmt::format("{} {}", command, ids));
      const testing::ScratchDir scratch;
      std::vector<std::string> args = {command, "-m", mixtral(), "--prompt-ids", ids};
      if (std::string(command) == "logits") args.insert(args.end(), {"-o", (scratch / "l.npy").string()});
      const auto result = run_cli(args);
      EXPECT_EQ(result.exit_code, 1);
      EXPECT_THAT(result.err,
                  AllOf(StartsWith("error: --prompt-ids: id "), HasSubstr("is outside the vocabulary [0, 256)")));
      EXPECT_FALSE(std::filesystem::exists(scratch / "l.npy"));
    }
  }
}

TEST(CommandLine, GenerateWithoutPrompt) {
  const auto result = run_cli({"generate", "-m", mixtral()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, AllOf(StartsWith("error: "), HasSubstr("--prompt-ids")));
}

TEST(CommandLine, ExpertsPerTokenOutOfRange) {
  for (const char* count : {"0", "99"}) {
    SCOPED_TRACE(count);
    const auto result = run_cli({"generate", "-m", mixtral(), "--prompt-ids", "5,6", "--experts-per-token", count});
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_EQ(
        result.err,
        fmt::format("error: --experts-per-token {}: expected 1..4 (the model has 4 experts per MoE layer)\n", count));
    EXPECT_EQ(result.out, "");
  }
}

TEST(Bench, ReportsEveryTestOnARandomModel) {
  // Timings are not checked (they are the machine's), only that the report is complete and its
  // byte and expert accounting follows the model: mini = hidden 256, expert width 512, top-2, BF16.
  const auto result = run_cli({"bench", "--random-model", "mini-1L", "-p", "4", "-n", "2", "--batch", "1,3", "-r", "1",
                               "--bandwidth-buffer-mib", "16", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto report = nlohmann::json::parse(result.out);
  EXPECT_EQ(report["bytes_per_expert"].get<double>(), 3.0 * 256 * 512 * 2);
  EXPECT_GT(report["read_bandwidth_gb_per_s"].get<double>(), 0.0);
  std::vector<std::string> tests;
  for (const auto& row : report["results"]) tests.push_back(row["test"].get<std::string>());
  EXPECT_EQ(tests, (std::vector<std::string>{"pp4", "tg2", "batch 1", "batch 3"}));
  const auto& tg = report["results"][1];
  EXPECT_EQ(tg["tokens"].get<int>(), 2);
  EXPECT_EQ(tg["experts_per_step"].get<double>(), 2.0) << "one row touches exactly top-k experts";
  EXPECT_EQ(report["results"][3]["tokens"].get<int>(), 6) << "3 sequences x 2 decode steps";
}

TEST(Bench, UnknownRandomShapeListsTheKnownOnes) {
  const auto result = run_cli({"bench", "--random-model", "bogus-2L"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, AllOf(HasSubstr("--random-model 'bogus-2L': unknown shape"), HasSubstr("mixtral-<N>L")));
}

TEST(CommandLine, UnknownKernelSet) {
  const auto result = run_cli({"inspect", "-m", mixtral(), "--kernels", "cuda"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, AllOf(StartsWith("error: "), HasSubstr("cuda")));
}

// The number that follows `label` (and spaces) in `inspect` output; -1 when there is none.
int64_t count_after(const std::string& text, const std::string& label) {
  const size_t at = text.find(label);
  if (at == std::string::npos) return -1;
  std::istringstream rest(text.substr(at + label.size()));
  int64_t count = -1;
  rest >> count;
  return count;
}

class FamilyCliTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::filesystem::path dir() const { return testing::fixture_dir(GetParam()); }
  nlohmann::json reference() const { return testing::fixture_json(GetParam(), "prompt.json"); }
};

TEST_P(FamilyCliTest, InspectPrintsTheReferenceParameterCounts) {
  const auto result = run_cli({"inspect", "-m", dir().string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");  // every tensor of the fixture is used: no warnings
  EXPECT_EQ(count_after(result.out, "parameters:"), reference()["total_params"].get<int64_t>()) << result.out;
  EXPECT_EQ(count_after(result.out, "active per token:"), reference()["active_params"].get<int64_t>()) << result.out;
  EXPECT_THAT(result.out, HasSubstr("family:           " + GetParam()));
}

TEST_P(FamilyCliTest, LogitsWritesWhatTheLibraryComputes) {
  const testing::ScratchDir scratch;
  const auto prompt = testing::ids(reference()["prompt_ids"]);
  const auto output = scratch / "logits.npy";
  const auto result = run_cli({"logits", "-m", dir().string(), "--prompt-ids", id_list(prompt), "-o", output.string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.err, HasSubstr(fmt::format("wrote {}: [{}, 256] float32", output.string(), prompt.size())));
  const auto written = format::read_npy_f32(output);
  EXPECT_EQ(written.shape, (std::vector<int64_t>{static_cast<int64_t>(prompt.size()), 256}));

  const auto expected = format::read_npy_f32(dir() / "logits.npy");
  testing::expect_close(expected.values, written.values, 1e-3, GetParam() + " CLI logits vs transformers");

  auto model = models::Model::load(dir());
  auto cache = model->make_kv_cache();
  layers::RowBatch rows;
  for (size_t i = 0; i < prompt.size(); ++i) rows.add(prompt[i], static_cast<int32_t>(i), 0);
  testing::expect_close(model->forward(rows, cache), written.values, 0.0, GetParam() + " CLI logits vs library");
}

TEST_P(FamilyCliTest, GeneratePrintsTheReferenceGreedyIds) {
  const auto expected = testing::ids(reference()["greedy_ids"]);
  const auto result =
      run_cli({"generate", "-m", dir().string(), "--prompt-ids", id_list(testing::ids(reference()["prompt_ids"])), "-n",
               std::to_string(expected.size()), "--ignore-eos"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, fmt::format("{}\n", fmt::join(expected, " ")));
  EXPECT_THAT(result.err,
              AllOf(HasSubstr(fmt::format("generation: {} tokens", expected.size())), Not(HasSubstr("error"))));
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyCliTest, ::testing::ValuesIn(testing::decoder_families()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace elephant
