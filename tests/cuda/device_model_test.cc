// The CUDA model against its two oracles: Hugging Face transformers' logits on every decoder
// fixture family (the parity test's tolerance), and the CPU model on what the fixtures do not
// cover: several sequences in one batch in arbitrary cache slots, decode steps, and greedy
// continuations of the shipped model. GPU tests skip without a GPU.
#include "cuda/device_model.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include "core/error.h"
#include "engine/engine.h"
#include "format/npy.h"
#include "models/model.h"
#include "support/cuda_device.h"
#include "support/decoder_tolerance.h"
#include "support/fixtures.h"
#include "support/model_runs.h"

namespace elephant::cuda {
namespace {

layers::RowBatch prompt_rows(const std::vector<int32_t>& prompt, int32_t slot, int32_t first_position = 0) {
  layers::RowBatch rows;
  for (size_t i = 0; i < prompt.size(); ++i) rows.add(prompt[i], first_position + static_cast<int32_t>(i), slot);
  return rows;
}

// The host-side split of a batch into attention sequences (runs without a GPU).
TEST(CudaSequencePlan, GroupsRunsOfConsecutivePositionsPerSlot) {
  layers::RowBatch rows;
  for (int32_t p = 5; p < 8; ++p) rows.add(10 + p, p, 2);  // a continued prompt in slot 2
  rows.add(3, 0, 0);                                        // a fresh one-row prompt in slot 0
  rows.add(4, 41, 1);                                       // a decode row in slot 1
  const std::vector<uint8_t> wanted = {0, 0, 1, 1, 1};
  const SequencePlan plan = plan_sequences(rows, wanted, 100, 3, 64);
  EXPECT_EQ(plan.slots, (std::vector<int32_t>{2, 0, 1}));
  EXPECT_EQ(plan.lengths, (std::vector<int32_t>{8, 1, 42}));
  EXPECT_EQ(plan.row_offsets, (std::vector<int32_t>{0, 3, 4, 5}));
  EXPECT_EQ(plan.selected, (std::vector<int32_t>{2, 3, 4}));
  EXPECT_EQ(plan.longest, 42);
  EXPECT_EQ(plan.max_rows, 3);

  layers::RowBatch decode;
  decode.add(1, 9, 1);
  decode.add(2, 3, 0);
  const SequencePlan step = plan_sequences(decode, {}, 100, 3, 64);
  EXPECT_EQ(step.max_rows, 1) << "one row per sequence is a decode step";
  EXPECT_EQ(step.selected, (std::vector<int32_t>{0, 1}));
}

TEST(CudaSequencePlan, RejectsWhatTheKernelsCannotTake) {
  const auto expect_error = [](const layers::RowBatch& rows, const std::string& fragment) {
    try {
      plan_sequences(rows, {}, 100, 2, 64);
      ADD_FAILURE() << "accepted a batch that should fail with: " << fragment;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  layers::RowBatch interleaved;
  interleaved.add(1, 0, 0);
  interleaved.add(1, 0, 1);
  interleaved.add(1, 1, 0);
  expect_error(interleaved, "not one run of consecutive positions");
  layers::RowBatch gap;
  gap.add(1, 0, 0);
  gap.add(1, 2, 0);
  expect_error(gap, "not one run of consecutive positions");
  layers::RowBatch slot;
  slot.add(1, 0, 2);
  expect_error(slot, "slot 2 outside the 2 sequences");
  layers::RowBatch position;
  position.add(1, 64, 0);
  expect_error(position, "position 64 outside the device context of 64");
  layers::RowBatch token;
  token.add(100, 0, 0);
  expect_error(token, "token id 100 is outside the vocabulary");
  expect_error(layers::RowBatch{}, "an empty batch");
}

TEST(CudaDeviceModel, WithoutAGpuTheErrorSaysWhy) {
  if (probe().usable) GTEST_SKIP() << "a device is present";
  auto model = models::Model::load(testing::fixture_dir("mixtral"));
  try {
    DeviceModel device_model(*model);
    FAIL() << "a DeviceModel was built without a device";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
}

class CudaDeviceModelParity : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaDeviceModelParity, AllPositionLogitsMatchTransformers) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  const std::string& family = GetParam();
  auto model = models::Model::load(testing::fixture_dir(family));
  DeviceModel device_model(*model);
  const auto prompt = testing::ids(testing::fixture_json(family, "prompt.json")["prompt_ids"]);
  const auto expected = format::read_npy_f32(testing::fixture_dir(family) / "logits.npy");
  const std::vector<float> actual = device_model.forward(prompt_rows(prompt, 0));
  testing::expect_close(expected.values, actual,
                        testing::decoder_logit_tolerance(model->config(), testing::max_abs(expected.values)),
                        family + " CUDA logits vs transformers");
}

// Two prompts in slots 1 and 0 prefilled in one batch, then decode steps of both together, against
// the CPU model doing the same.
TEST_P(CudaDeviceModelParity, BatchedPrefillAndDecodeMatchTheCpuModel) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  const std::string& family = GetParam();
  auto model = models::Model::load(testing::fixture_dir(family));
  DeviceModelOptions options;
  options.max_sequences = 2;
  DeviceModel device_model(*model, options);
  auto cache = model->make_kv_cache(2);
  const auto reference = testing::fixture_json(family, "prompt.json");
  const std::vector<int32_t> first = testing::ids(reference["prompt_ids"]);
  const std::vector<int32_t> second = testing::ids(reference["other_prompts"][0]);
  layers::RowBatch rows = prompt_rows(first, 1);
  const layers::RowBatch other = prompt_rows(second, 0);
  for (int64_t r = 0; r < other.size(); ++r) rows.add(other.tokens[r], other.positions[r], other.slots[r]);
  std::vector<int32_t> next(2);
  std::vector<int32_t> lengths = {static_cast<int32_t>(first.size()), static_cast<int32_t>(second.size())};
  const double tolerance_scale = 2.0;  // CPU and GPU each carry the rounding the bound allows
  for (int step = 0; step < 4; ++step) {
    const std::vector<float> cpu = model->forward(rows, cache);
    const std::vector<float> gpu = device_model.forward(rows);
    testing::expect_close(cpu, gpu, tolerance_scale * testing::decoder_logit_tolerance(model->config(), testing::max_abs(cpu)),
                          fmt::format("{} step {}", family, step));
    // Decode one more token per sequence: the CPU's greedy choice at each sequence's last row.
    const int64_t vocab = model->config().vocab_size;
    layers::RowBatch decode;
    for (int s = 0; s < 2; ++s) {
      int64_t last_row = -1;
      for (int64_t r = 0; r < rows.size(); ++r) {
        if (rows.slots[r] == 1 - s) last_row = r;
      }
      const auto begin = cpu.begin() + last_row * vocab;
      next[s] = static_cast<int32_t>(std::max_element(begin, begin + vocab) - begin);
      decode.add(next[s], lengths[s], 1 - s);
      ++lengths[s];
    }
    rows = decode;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, CudaDeviceModelParity, ::testing::ValuesIn(testing::decoder_families()),
                         [](const auto& info) { return info.param; });

TEST(CudaDeviceModel, GreedyContinuationsOfTheShippedModelMatchTransformers) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  auto model = models::Model::load(testing::shipped_model_dir("elephant-tiny-lm"));
  DeviceModel device_model(*model);
  const auto reference = testing::fixture_json("tiny_lm", "perplexity.json");
  for (const auto& c : reference["greedy"]) {
    const std::vector<int32_t> prompt = testing::ids(c["prompt_ids"]);
    const std::vector<int32_t> expected = testing::ids(c["new_ids"]);
    std::vector<uint8_t> last_only(prompt.size(), 0);
    last_only.back() = 1;
    std::vector<int32_t> produced = device_model.forward_greedy(prompt_rows(prompt, 0), last_only);
    while (produced.size() < expected.size()) {
      const auto position = static_cast<int32_t>(prompt.size() + produced.size() - 1);
      produced.push_back(device_model.forward_greedy(prompt_rows({produced.back()}, 0, position)).at(0));
    }
    EXPECT_EQ(produced, expected) << c["prompt"].get<std::string>();
  }
}

// Decode steps replayed from captured graphs against the same steps launched kernel by kernel:
// the same kernels on the same data, so the logits must be identical. The steps change the batch
// (one sequence, then two) and grow past attention split boundaries (64 and 128 positions), so the
// graph is captured again and updated in place along the way.
TEST(CudaDeviceModel, DecodeGraphsGiveTheDirectLaunchesLogits) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  auto model = models::Model::load(testing::shipped_model_dir("elephant-tiny-lm"));
  DeviceModelOptions options;
  options.max_sequences = 2;
  options.decode_graphs = false;
  DeviceModel direct(*model, options);
  options.decode_graphs = true;
  DeviceModel graphed(*model, options);
  const int32_t vocab = model->config().vocab_size;
  const auto token = [vocab](int i) { return static_cast<int32_t>((7 * i + 3) % vocab); };
  std::vector<int32_t> prompt;
  for (int i = 0; i < 50; ++i) prompt.push_back(token(i));
  for (DeviceModel* m : {&direct, &graphed}) {
    m->forward(prompt_rows(prompt, 0));
    m->forward(prompt_rows({prompt.begin(), prompt.begin() + 20}, 1));
  }
  int32_t lengths[2] = {50, 20};
  for (int step = 0; step < 90; ++step) {
    layers::RowBatch rows;
    const int sequences = step < 10 || step >= 60 ? 1 : 2;
    for (int s = 0; s < sequences; ++s) rows.add(token(step + s), lengths[s]++, s);
    const std::vector<float> expected = direct.forward(rows);
    const std::vector<float> actual = graphed.forward(rows);
    ASSERT_EQ(expected, actual) << "decode step " << step << " with " << sequences << " sequences";
  }
}

// The engine stepping on the GPU (EngineOptions::forward, as `elephant generate/serve --device
// cuda` run it): three greedy requests of different lengths, prompts chunked and mixed with other
// sequences' decode rows, give the tokens the CPU engine gives.
TEST(CudaDeviceModel, EngineStepsOnTheGpuGiveTheCpuTokens) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  auto model = models::Model::load(testing::shipped_model_dir("elephant-tiny-lm"));
  const auto reference = testing::fixture_json("tiny_lm", "perplexity.json");
  std::vector<std::vector<int32_t>> prompts;
  for (const auto& c : reference["greedy"]) prompts.push_back(testing::ids(c["prompt_ids"]));
  ASSERT_GE(prompts.size(), 2u);
  const auto run = [&](const engine::ForwardFn& forward, int max_step_rows) {
    engine::EngineOptions options;
    options.max_sequences = 3;
    options.max_step_rows = max_step_rows;
    options.forward = forward;
    engine::Engine engine(*model, options);
    std::vector<std::vector<int32_t>> outputs(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      engine::GenerateOptions generate;
      generate.max_new_tokens = 8 + 4 * static_cast<int>(i);
      generate.stop_on_eos = false;
      engine::Request request{prompts[i], generate, {}};
      request.callbacks.on_finish = [&outputs, i](const engine::GenerateResult& r) { outputs[i] = r.tokens; };
      engine.submit(std::move(request));
    }
    engine.run();
    return outputs;
  };
  const auto cpu = run({}, 512);
  for (int max_step_rows : {512, 5}) {
    DeviceModelOptions options;
    options.max_sequences = 3;
    options.context_length = static_cast<int>(model->context_length());
    options.max_batch_rows = max_step_rows;
    options.max_logit_rows = 3;
    DeviceModel device_model(*model, options);
    const auto forward = [&device_model](const layers::RowBatch& rows, std::span<const uint8_t> logits_rows) {
      return device_model.forward(rows, logits_rows);
    };
    EXPECT_EQ(run(forward, max_step_rows), cpu) << max_step_rows << " rows per step";
  }
}

}  // namespace
}  // namespace elephant::cuda
