// The `elephant` command as a user runs it: bad command lines end with CLI11's message and exit
// code, every subcommand has --help, and on the fixtures of all four families `inspect` prints
// the reference parameter counts, `logits` writes the reference logits and `generate` prints the
// reference greedy ids; bad prompt ids and expert counts are one-line errors with exit status 1.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
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

TEST(CommandLine, WithoutModelFlagTheEnvironmentsModelIsUsed) {
  const auto result = run_cli({"inspect"}, {"ELEPHANT_MODEL=" + mixtral()});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("mixtral"));
  const auto missing = run_cli({"generate", "--prompt-ids", "1,2"}, {"ELEPHANT_MODEL=/nowhere/model"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("/nowhere/model"));
}

TEST(CommandLine, HelpNamesTheDefaultModel) {
  const auto result = run_cli({"generate", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.out, AllOf(HasSubstr("ELEPHANT_MODEL"), HasSubstr("models/elephant-tiny-lm")));
}

TEST(CommandLine, NonNumericThreadCount) {
  const auto result = run_cli({"inspect", "-m", mixtral(), "-t", "many"});
  EXPECT_EQ(result.exit_code, exit_code(CLI::ExitCodes::ValidationError));
  EXPECT_THAT(result.err, AllOf(HasSubstr("--threads: Value many"), HasSubstr("Usage:")));
}

TEST(CommandLine, HelpOfEachSubcommand) {
  const std::map<std::string, std::vector<std::string>> options = {
      {"", {"generate", "chat", "perplexity", "logits", "inspect", "--version"}},
      {"chat", {"--model", "--system", "--max-tokens", "--temperature"}},
      {"perplexity", {"--model", "--file", "--window", "--stride", "--reference", "--json"}},
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
  for (const auto& row : report["results"]) {
    EXPECT_GT(row["read_bandwidth_gb_per_s"].get<double>(), 0.0) << "each test has its own bandwidth: " << row.dump();
  }
  // Decode tests are set against tg of the same round; the prompt test is not.
  EXPECT_FALSE(report["results"][0].contains("speedup_vs_tg"));
  EXPECT_EQ(tg["speedup_vs_tg"].get<double>(), 1.0);
  for (int i : {2, 3}) EXPECT_GT(report["results"][i]["speedup_vs_tg"].get<double>(), 0.0);
}

TEST(Bench, RunsTestsInRoundsWithTheSpeedupOfEachRound) {
  // Three rounds: every test runs once per round, so the progress shows the rounds interleaved.
  const auto result = run_cli({"bench", "--random-model", "mini-1L", "-p", "4", "-n", "2", "--batch", "2", "-r", "3",
                               "--bandwidth-buffer-mib", "16"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto at = [&](const std::string& line) { return result.err.find(line); };
  EXPECT_LT(at("round 1/3: batch 2 done"), at("round 2/3: pp4 done")) << result.err;
  EXPECT_LT(at("round 2/3: batch 2 done"), at("round 3/3: pp4 done")) << result.err;
  EXPECT_NE(at("round 3/3: batch 2 done"), std::string::npos) << result.err;
  EXPECT_THAT(result.out, HasSubstr("× tg"));
}

TEST(Bench, PeakRssIsTheModelsOwnWithoutTheBandwidthBuffer) {
  // The bandwidth buffer is resident through the tests; the reported peak must not grow with it.
  const auto peak_rss = [](const char* buffer_mib) {
    const auto result = run_cli({"bench", "--random-model", "mini-1L", "-p", "4", "-n", "2", "--batch", "1", "-r", "1",
                                 "--bandwidth-buffer-mib", buffer_mib, "--json"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return nlohmann::json::parse(result.out)["peak_rss_bytes"].get<double>();
  };
  const double small = peak_rss("16");
  const double large = peak_rss("144");
  EXPECT_GT(small, 0.0);
  EXPECT_LT(std::abs(large - small), 64.0 * (1 << 20)) << "the 128 MiB larger buffer leaked into the peak RSS";
}

TEST(Bench, OnCudaEitherReportsOrSaysWhyNot) {
  // With a GPU the same report comes back; without one (or in a build without the backend) the
  // run fails with a message that names CUDA and the reason, never a crash.
  const auto result = run_cli({"bench", "--device", "cuda", "--random-model", "mini-1L", "-p", "4", "-n", "2", "--batch",
                               "1,3", "-r", "1", "--bandwidth-buffer-mib", "16", "--json"});
  if (result.exit_code == 0) {
    const auto report = nlohmann::json::parse(result.out);
    EXPECT_EQ(report["results"].size(), 4u);
    EXPECT_EQ(report["results"][1]["experts_per_step"].get<double>(), 2.0) << "one row touches exactly top-k experts";
  } else {
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_THAT(result.err, HasSubstr("CUDA"));
  }
}

TEST(Generate, OnCudaGivesTheCpuTokensOrSaysWhyNot) {
  // With a GPU the shipped model's greedy tokens are those of the CPU; without one (or in a build
  // without the backend) the run fails naming CUDA and the reason, before printing anything.
  const std::vector<std::string> args = {"generate", "--prompt-ids", "1,2,3,4,5", "-n", "12"};
  const auto cpu = run_cli(args);
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  std::vector<std::string> on_gpu = args;
  on_gpu.insert(on_gpu.end(), {"--device", "cuda"});
  const auto gpu = run_cli(on_gpu);
  if (gpu.exit_code == 0) {
    EXPECT_EQ(gpu.out, cpu.out);
  } else {
    EXPECT_EQ(gpu.exit_code, 1);
    EXPECT_THAT(gpu.err, HasSubstr("CUDA"));
    EXPECT_EQ(gpu.out, "");
  }
  const auto unknown = run_cli({"generate", "--prompt-ids", "1", "--device", "tpu"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_THAT(unknown.err, HasSubstr("tpu"));
}

TEST(Bench, NoCudaGraphsIsRefusedOnTheCpu) {
  const auto result = run_cli({"bench", "--random-model", "mini-1L", "-p", "4", "-n", "2", "--no-cuda-graphs"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("--no-cuda-graphs applies to --device cuda"));
}

TEST(Bench, ReportsPregatingAccuracyOneAndTwoLayersAhead) {
  const auto result = run_cli({"bench", "-m", mixtral(), "-p", "4", "-n", "8", "--batch", "1", "-r", "1",
                               "--bandwidth-buffer-mib", "16", "--expert-cache", "50%", "--pregate", "--pregate-lookahead",
                               "2", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto cache = nlohmann::json::parse(result.out)["expert_cache"];
  for (const char* key : {"pregate_accuracy", "pregate_two_ahead_accuracy", "previous_step_reuse_accuracy"}) {
    EXPECT_GE(cache[key].get<double>(), 0.0) << key;
    EXPECT_LE(cache[key].get<double>(), 1.0) << key;
  }
  // Every MoE layer gets a one-ahead prediction (the first from the previous token's last hidden
  // state) and, with look-ahead 2, every one after the first a two-ahead one.
  const auto& layers = cache["per_layer"];
  ASSERT_GE(layers.size(), 2u);
  for (size_t l = 0; l < layers.size(); ++l) {
    EXPECT_GT(layers[l]["pregate_accuracy"].get<double>(), 0.0) << layers[l].dump();
    EXPECT_EQ(layers[l].contains("pregate_two_ahead_accuracy"), l > 0) << layers[l].dump();
  }
}

TEST(Bench, PregateOptionsWithoutPregateAreRefused) {
  for (const std::vector<std::string>& flags : {std::vector<std::string>{"--pregate-lookahead", "2"},
                                                std::vector<std::string>{"--no-pregate-next-token"}}) {
    std::vector<std::string> args = {"bench", "-m", mixtral(), "--expert-cache", "50%"};
    args.insert(args.end(), flags.begin(), flags.end());
    const auto result = run_cli(args);
    EXPECT_EQ(result.exit_code, 1) << flags[0];
    EXPECT_EQ(result.err, "error: --pregate-lookahead and --no-pregate-next-token only change --pregate, which is not given\n");
  }
  const auto out_of_range = run_cli({"bench", "-m", mixtral(), "--expert-cache", "50%", "--pregate", "--pregate-lookahead", "3"});
  EXPECT_EQ(out_of_range.exit_code, exit_code(CLI::ExitCodes::ValidationError));
}

TEST(Bench, UnknownRandomShapeListsTheKnownOnes) {
  const auto result = run_cli({"bench", "--random-model", "bogus-2L"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, AllOf(HasSubstr("--random-model 'bogus-2L': unknown shape"), HasSubstr("mixtral-<N>L")));
}

TEST(Bench, ModelAndRandomModelExcludeEachOther) {
  const auto result = run_cli({"bench", "-m", mixtral(), "--random-model", "mini-1L"});
  EXPECT_EQ(result.exit_code, exit_code(CLI::ExitCodes::ExcludesError));
  EXPECT_THAT(result.err, HasSubstr("excludes"));
}

TEST(Quantize, RandomModelIsWrittenAndVerified) {
  const testing::ScratchDir scratch;
  const auto out = (scratch / "mini-int4").string();
  const auto result = run_cli({"quantize", "--random-model", "mini-1L", "-o", out, "--bits", "4", "--group", "64"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.err, AllOf(HasSubstr("verify: reloaded"), HasSubstr("quantized matrices")));
  auto model = models::Model::load(out);
  EXPECT_EQ(model->config().hidden_size, 256);
  EXPECT_TRUE(std::filesystem::exists(scratch / "mini-int4" / "config.json"));
  const auto both = run_cli({"quantize", "-m", mixtral(), "--random-model", "mini-1L", "-o", out, "--bits", "8"});
  EXPECT_EQ(both.exit_code, exit_code(CLI::ExitCodes::ExcludesError));
}

TEST(Perplexity, ReportsTheScoredTokensAsJson) {
  const testing::ScratchDir scratch;
  const auto text = scratch / "text.txt";
  std::ofstream(text) << "Hello, world. Hello again, and hello once more.\n";
  const auto model = testing::fixture_dir("text_mixtral").string();
  const auto result = run_cli({"perplexity", "-m", model, "-f", text.string(), "--window", "8", "--stride", "4",
                               "--reference", model, "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto report = nlohmann::json::parse(result.out);
  EXPECT_GT(report["tokens"].get<int>(), 8);
  EXPECT_EQ(report["window"].get<int>(), 8);
  EXPECT_GT(report["perplexity"].get<double>(), 1.0);
  EXPECT_EQ(report["mean_kl"].get<double>(), 0.0) << "a model against itself";
  EXPECT_EQ(report["same_top1"].get<double>(), 1.0);
  const auto missing = run_cli({"perplexity", "-m", model, "-f", (scratch / "none.txt").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("none.txt: cannot open"));
}

TEST(Chat, AnswersEachLineAndKeepsTheHistory) {
  // Two turns through the ChatML template of the text fixture: the first reply must be the
  // transformers reference for the same single message (text_reference.json, case "chat").
  const auto reference = testing::fixture_json("text_mixtral", "text_reference.json");
  nlohmann::json chat_case;
  for (const auto& c : reference["cases"]) {
    if (c["name"] == "chat") chat_case = c;
  }
  ASSERT_FALSE(chat_case.is_null());
  const testing::ScratchDir scratch;
  const auto input = scratch / "input.txt";
  std::ofstream(input) << chat_case["messages"][0]["content"].get<std::string>() << "\n\nsecond message\n";
  const auto model = testing::fixture_dir("text_mixtral").string();
  const auto result =
      run_cli({"chat", "-m", model, "-n", std::to_string(chat_case["new_ids"].size())}, {}, input.string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, StartsWith(chat_case["text"].get<std::string>() + "\n"));
  EXPECT_GE(std::count(result.out.begin(), result.out.end(), '\n'), 2) << "a reply to each non-empty line";
}

TEST(CommandLine, UnknownKernelSet) {
  const auto result = run_cli({"inspect", "-m", mixtral(), "--kernels", "cuda"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, AllOf(StartsWith("error: "), HasSubstr("cuda")));
}

TEST(CommandLine, KvDtypeIsValidatedAndBf16Generates) {
  const auto bad = run_cli({"generate", "-m", mixtral(), "--prompt-ids", "1,2", "--kv-dtype", "f16"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, AllOf(StartsWith("error: "), HasSubstr("--kv-dtype 'f16'"), HasSubstr("f32 or bf16")));
  const auto bf16 = run_cli({"generate", "-m", mixtral(), "--prompt-ids", "1,2", "-n", "4", "--kv-dtype", "bf16"});
  EXPECT_EQ(bf16.exit_code, 0) << bf16.err;
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
