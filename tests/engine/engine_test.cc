// The batching engine: outputs do not depend on what else runs (different prompt lengths,
// chunked prefill mixed with decode, preemption under a tight KV budget), finished sequences
// leave the routing at once, cancelling frees KV blocks, and a full KV budget queues requests.
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <map>
#include <optional>

#include "core/error.h"

#include "engine/engine.h"
#include "engine/generate.h"
#include "kernels/kernels.h"
#include "ops/ops.h"
#include "support/fixtures.h"

namespace elephant {
namespace {

struct Job {
  std::vector<int32_t> prompt;
  engine::GenerateOptions options;
};

std::vector<Job> mixed_jobs(const std::string& family, bool sampled) {
  const auto reference = testing::fixture_json(family, "prompt.json");
  std::vector<std::vector<int32_t>> prompts = {testing::ids(reference["prompt_ids"])};
  for (const auto& other : reference["other_prompts"]) prompts.push_back(testing::ids(other));
  prompts.push_back({prompts[0].begin(), prompts[0].begin() + 1});  // a one-token prompt
  std::vector<Job> jobs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    Job job{prompts[i], {}};
    job.options.max_new_tokens = 6 + 5 * static_cast<int>(i);
    job.options.stop_on_eos = false;
    if (sampled) {
      job.options.sampling.temperature = 0.9f;
      job.options.sampling.top_p = 0.95f;
      job.options.sampling.seed = 100 + i;
    }
    jobs.push_back(job);
  }
  return jobs;
}

std::vector<std::vector<int32_t>> run_together(models::Model& model, const std::vector<Job>& jobs,
                                               const engine::EngineOptions& options) {
  engine::Engine engine(model, options);
  std::vector<std::vector<int32_t>> outputs(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    engine::Request request{jobs[i].prompt, jobs[i].options, {}};
    request.callbacks.on_finish = [&outputs, i](const engine::GenerateResult& r) { outputs[i] = r.tokens; };
    engine.submit(std::move(request));
  }
  engine.run();
  EXPECT_EQ(engine.kv_cache().free_blocks(), engine.kv_cache().total_blocks()) << "all KV blocks return to the pool";
  return outputs;
}

std::vector<std::vector<int32_t>> run_alone(models::Model& model, const std::vector<Job>& jobs) {
  std::vector<std::vector<int32_t>> outputs;
  for (const auto& job : jobs) outputs.push_back(engine::generate(model, job.prompt, job.options).tokens);
  return outputs;
}

class EngineInvarianceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineInvarianceTest, BatchedOutputsEqualEachSequenceAlone) {
  auto model = models::Model::load(testing::fixture_dir(GetParam()));
  for (bool sampled : {false, true}) {
    const auto jobs = mixed_jobs(GetParam(), sampled);
    const auto alone = run_alone(*model, jobs);
    engine::EngineOptions options;
    EXPECT_EQ(run_together(*model, jobs, options), alone) << "one step for all" << (sampled ? " (sampled)" : "");
    options.max_step_rows = 5;  // prompts are chunked and mixed with other sequences' decode rows
    EXPECT_EQ(run_together(*model, jobs, options), alone) << "chunked prefill" << (sampled ? " (sampled)" : "");
    options.max_step_rows = 512;
    options.max_sequences = 2;  // the rest queue for a free slot
    EXPECT_EQ(run_together(*model, jobs, options), alone) << "queued for slots" << (sampled ? " (sampled)" : "");
  }
}

INSTANTIATE_TEST_SUITE_P(Families, EngineInvarianceTest, ::testing::Values("mixtral", "qwen2_moe", "olmoe"));

// BF16 weights go through the interleaved BF16 kernels, whose passes, chunks and prefetches depend
// on the row count: every kernel table this CPU runs must keep a sequence's tokens whatever shares
// its steps (avx512_bf16 rounds activations to bf16, still row by row).
class EngineKernelInvarianceTest : public ::testing::TestWithParam<const kernels::KernelTable*> {
 protected:
  void SetUp() override { ops::select_kernels(GetParam()->name); }
  void TearDown() override { ops::select_kernels("auto"); }
};

TEST_P(EngineKernelInvarianceTest, Bf16WeightsGiveEachSequenceItsTokensAlone) {
  auto model = models::Model::load(testing::fixture_dir("mixtral") / "bf16");
  for (bool sampled : {false, true}) {
    const auto jobs = mixed_jobs("mixtral", sampled);
    EXPECT_EQ(run_together(*model, jobs, engine::EngineOptions{}), run_alone(*model, jobs))
        << (sampled ? "sampled" : "greedy");
  }
}

INSTANTIATE_TEST_SUITE_P(AvailableKernels, EngineKernelInvarianceTest,
                         ::testing::ValuesIn(kernels::available_kernel_tables()),
                         [](const auto& info) { return std::string(info.param->name); });

TEST(Engine, TightKvBudgetQueuesAndPreemptsWithoutChangingOutputs) {
  models::ModelOptions model_options;
  model_options.context_length = 64;  // 4 blocks of 16 per full sequence
  auto model = models::Model::load(testing::fixture_dir("mixtral"), model_options);
  auto jobs = mixed_jobs("mixtral", false);
  auto sampled = mixed_jobs("mixtral", true);
  jobs.insert(jobs.end(), sampled.begin(), sampled.end());
  for (auto& job : jobs) job.options.max_new_tokens = 40;
  const auto alone = run_alone(*model, jobs);

  engine::EngineOptions options;
  options.kv_budget_bytes = 1;  // rounds up to one full-context sequence: 4 blocks for 8 sequences
  engine::Engine engine(*model, options);
  std::vector<std::vector<int32_t>> outputs(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    engine::Request request{jobs[i].prompt, jobs[i].options, {}};
    request.callbacks.on_finish = [&outputs, i](const engine::GenerateResult& r) { outputs[i] = r.tokens; };
    engine.submit(std::move(request));
  }
  EXPECT_EQ(engine.kv_cache().total_blocks(), 4);
  bool saw_queue = false;
  while (engine.step()) saw_queue |= engine.waiting() > 0 && engine.running() > 0;
  EXPECT_TRUE(saw_queue) << "requests beyond the budget wait instead of failing";
  EXPECT_GT(engine.preemptions(), 0u) << "growing sequences forced a preemption";
  EXPECT_EQ(outputs, alone);
  EXPECT_EQ(engine.kv_cache().free_blocks(), engine.kv_cache().total_blocks());
}

// Steps run through EngineOptions::forward on a stand-in device: a second copy of the model with
// its own KV cache, addressed by the rows' slots and positions (what cuda::DeviceModel does). The
// engine's scheduling must give each sequence the same tokens as running it alone on the CPU.
TEST(Engine, StepsThroughAForwardHookGiveTheSameOutputs) {
  auto model = models::Model::load(testing::fixture_dir("mixtral"));
  auto device_model = models::Model::load(testing::fixture_dir("mixtral"));
  for (bool sampled : {false, true}) {
    const auto jobs = mixed_jobs("mixtral", sampled);
    const auto alone = run_alone(*model, jobs);
    for (int max_step_rows : {512, 5}) {
      engine::EngineOptions options;
      options.max_step_rows = max_step_rows;
      auto device_cache = device_model->make_kv_cache(options.max_sequences);
      int calls = 0;
      options.forward = [&](const layers::RowBatch& rows, std::span<const uint8_t> logits_rows) {
        ++calls;
        for (int64_t r = 0; r < rows.size(); ++r) {
          EXPECT_TRUE(device_cache.reserve(rows.slots[static_cast<size_t>(r)], rows.positions[static_cast<size_t>(r)] + 1));
        }
        return device_model->forward(rows, device_cache, logits_rows);
      };
      EXPECT_EQ(run_together(*model, jobs, options), alone) << max_step_rows << " rows per step" << (sampled ? " (sampled)" : "");
      EXPECT_GT(calls, 0);
    }
  }
}

TEST(Engine, FinishedSequenceStopsBeingRouted) {
  auto model = models::Model::load(testing::fixture_dir("olmoe"));
  const auto& c = model->config();
  int n_moe = 0;
  for (const auto& layer : c.layers) n_moe += layer.is_moe;
  const auto reference = testing::fixture_json("olmoe", "prompt.json");
  engine::Engine engine(*model, {});
  engine::Request short_request{testing::ids(reference["prompt_ids"]), {}, {}};
  short_request.options.max_new_tokens = 2;
  engine::Request long_request{testing::ids(reference["other_prompts"][0]), {}, {}};
  long_request.options.max_new_tokens = 8;
  engine.submit(short_request);
  engine.submit(long_request);

  std::vector<engine::StepStats> steps;
  while (engine.step()) steps.push_back(engine.last_step());
  ASSERT_GE(steps.size(), 4u);
  // Step 1: both prompts; step 2: both decode; from step 3 on only the long sequence remains.
  EXPECT_EQ(steps[1].rows, 2);
  for (size_t s = 2; s < steps.size(); ++s) {
    EXPECT_EQ(steps[s].rows, 1) << "step " << s;
    EXPECT_EQ(steps[s].experts_touched, int64_t{n_moe} * c.moe.top_k)
        << "step " << s << ": only the live row's experts are acquired";
  }
  EXPECT_GT(steps[1].experts_touched, steps[2].experts_touched);
}

TEST(Engine, CancelFreesKvBlocksAndReportsCancelled) {
  auto model = models::Model::load(testing::fixture_dir("mixtral"));
  const auto reference = testing::fixture_json("mixtral", "prompt.json");
  engine::Engine engine(*model, {});
  const int total = engine.kv_cache().total_blocks();
  engine::Request request{testing::ids(reference["prompt_ids"]), {}, {}};
  request.options.max_new_tokens = 100;
  request.options.stop_on_eos = false;
  std::optional<engine::StopReason> reason;
  request.callbacks.on_finish = [&](const engine::GenerateResult& r) { reason = r.stop_reason; };
  const auto id = engine.submit(request);
  for (int i = 0; i < 20; ++i) engine.step();
  EXPECT_LT(engine.kv_cache().free_blocks(), total);
  engine.cancel(id);
  engine.step();
  EXPECT_EQ(engine.kv_cache().free_blocks(), total);
  ASSERT_TRUE(reason.has_value());
  EXPECT_EQ(*reason, engine::StopReason::kCancelled);
  EXPECT_EQ(engine.running(), 0u);
}

TEST(Engine, RejectsBadRequestsAtSubmission) {
  auto model = models::Model::load(testing::fixture_dir("mixtral"));
  engine::Engine engine(*model, {});
  EXPECT_THROW(engine.submit({{}, {}, {}}), Error);
  EXPECT_THROW(engine.submit({{100000}, {}, {}}), Error);
  EXPECT_THROW(engine.submit({std::vector<int32_t>(1000, 1), {}, {}}), Error);
}

TEST(Engine, DefaultKvBudgetHoldsEverySequenceUpToHalfTheMemory) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  // A small model: every sequence gets a full context.
  EXPECT_EQ(engine::default_kv_budget_bytes(kGiB / 64, 8, 32 * kGiB), kGiB / 8);
  // Mixtral-sized (8 GiB per 32k-token sequence, 8 sequences) on a 64 GiB machine: half of it,
  // shared by the sequences (the rest queue).
  EXPECT_EQ(engine::default_kv_budget_bytes(8 * kGiB, 8, 64 * kGiB), 32 * kGiB);
  // Never below one full sequence, which the engine needs to run anything.
  EXPECT_EQ(engine::default_kv_budget_bytes(8 * kGiB, 8, 4 * kGiB), 8 * kGiB);
}

TEST(Engine, KvPoolIsReservedNotResident) {
  // A 1 GiB pool for a tiny model: its pages stay untouched until positions are written.
  const auto model = models::Model::load(testing::fixture_dir("mixtral"));
  const auto resident_bytes = [] {
    std::ifstream statm("/proc/self/statm");
    int64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * sysconf(_SC_PAGE_SIZE);
  };
  const int64_t before = resident_bytes();
  engine::EngineOptions options;
  options.max_sequences = 32;
  options.kv_budget_bytes = int64_t{1} << 30;
  engine::Engine engine(*model, options);
  EXPECT_GT(engine.kv_cache().pool_bytes(), options.kv_budget_bytes / 2);
  // Address sanitizer builds write the shadow of a new allocation (an eighth of its size).
  EXPECT_LT(resident_bytes() - before, engine.kv_cache().pool_bytes() / 4);
}

}  // namespace
}  // namespace elephant
