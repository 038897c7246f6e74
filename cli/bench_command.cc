// `elephant bench`: llama-bench / batched-bench style throughput of one model:
//   pp N      one prompt of N tokens processed in a single step,
//   tg N      N tokens generated one at a time by one sequence,
//   batch B   B sequences decoding together (continuous-batching steps of B rows).
// Every figure is put next to this machine's read bandwidth, measured in the same run right after
// each run of the test (on a shared host it drifts by tens of percent within a minute): a decode
// step must read the dense weights plus every expert a row was routed to, so
//   roofline = (dense bytes + experts touched × bytes per expert) / bandwidth
// is the fastest the step can be, and "% roofline" says how close the engine gets.
// Repetitions run in rounds, every test once per round, so each batch size is compared with the
// single sequence (tg) of the same round: the "× tg" speedup is the median of those ratios.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <sys/resource.h>

#include "cli/common.h"
#include "cli/device.h"
#include "core/error.h"
#include "core/memory_bandwidth.h"
#include "core/parallel.h"
#include "core/statistics.h"
#include "engine/engine.h"
#include "format/checkpoint.h"
#include "models/random_shapes.h"
#include "ops/ops.h"

#ifdef ELEPHANT_HAVE_CUDA
#include "cuda/device_model.h"
#include "kernels/cuda/bandwidth.h"
#endif

namespace elephant::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchFlags {
  ModelFlags model;
  std::string random_shape;
  std::string random_dtype = "BF16";
  int prompt_tokens = 128;
  int generate_tokens = 32;
  std::vector<int> batches = {1, 2, 4, 8, 16, 32};
  int batch_prompt_tokens = 16;
  int repetitions = 3;
  bool json = false;
  int64_t bandwidth_buffer_mib = 1024;
  bool cuda_graphs = true;
};

// Positions per sequence the tests need (--context when given): a max_position_embeddings context
// would only make every KV pool larger.
int bench_context(const BenchFlags& flags) {
  if (flags.model.context > 0) return flags.model.context;
  return std::max(flags.prompt_tokens, flags.batch_prompt_tokens + flags.generate_tokens) + 1;
}

// One timed run of a test.
struct Sample {
  double seconds = 0.0;  // the timed steps only
  int64_t steps = 0;
  int64_t tokens = 0;
  double experts_per_step = 0.0;  // expert acquisitions per step, all MoE layers
};

// A test and how to run it once; rep numbers the run (it seeds the prompts).
struct Test {
  std::string name;
  std::function<Sample(int rep)> run_once;
};

struct Measurement {
  std::string test;
  int64_t tokens = 0;
  double seconds = 0.0;          // median over repetitions
  double bytes_per_step = 0.0;   // weights read per step (dense + touched experts)
  double experts_per_step = 0.0; // mean over repetitions
  int64_t steps = 0;
  double bandwidth_gb_per_s = 0.0;  // median of the read bandwidths measured right after each run
  double speedup_vs_tg = 0.0;       // tokens/s over the tg test's in the same round, median; 0: none
};

struct ModelBytes {
  double dense = 0.0;       // read by every step
  double per_expert = 0.0;  // one routed expert of one layer
};

ModelBytes model_bytes(const models::Model& model) {
  const auto counts = model.parameter_counts();
  const auto& c = model.config();
  int64_t n_moe = 0;
  for (const auto& layer : c.layers) n_moe += layer.is_moe ? 1 : 0;
  ModelBytes bytes;
  // The embedding table is gathered a row per token, unless it doubles as the LM head.
  const int64_t embedding = c.tie_word_embeddings ? 0 : counts.embedding_bytes;
  bytes.dense = static_cast<double>(counts.weight_bytes - counts.expert_bytes - embedding);
  if (n_moe > 0) bytes.per_expert = static_cast<double>(counts.expert_bytes) / static_cast<double>(n_moe * c.moe.n_experts);
  return bytes;
}

std::vector<int32_t> random_tokens(int n, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> pick(3, vocab - 1);
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  for (auto& t : tokens) t = pick(rng);
  return tokens;
}

// Runs `sequences` requests of `prompt` tokens + `generate` tokens; times only the decode steps in
// which every sequence takes part (rows == sequences, all decoding).
Sample run_decode(models::Model& model, int sequences, int prompt, int generate, int rep) {
  engine::EngineOptions options;
  options.max_sequences = sequences;
  options.max_step_rows = std::max(sequences * prompt, sequences);
  engine::Engine engine(model, options);
  for (int s = 0; s < sequences; ++s) {
    engine::Request request{random_tokens(prompt, model.config().vocab_size, 1000 * rep + s), {}, {}};
    request.options.max_new_tokens = generate + 1;
    request.options.stop_on_eos = false;
    engine.submit(std::move(request));
  }
  Sample sample;
  double experts = 0.0;
  while (true) {
    const auto start = Clock::now();
    if (!engine.step()) break;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const auto& stats = engine.last_step();
    if (stats.decode_rows != sequences || stats.rows != sequences) continue;
    sample.seconds += elapsed;
    experts += static_cast<double>(stats.experts_touched);
    ++sample.steps;
  }
  sample.tokens = sample.steps * sequences;
  sample.experts_per_step = sample.steps > 0 ? experts / static_cast<double>(sample.steps) : 0.0;
  return sample;
}

Sample run_prefill(models::Model& model, int tokens) {
  const auto prompt = random_tokens(tokens, model.config().vocab_size, 7);
  auto cache = model.make_kv_cache();
  layers::RowBatch rows;
  for (int i = 0; i < tokens; ++i) rows.add(prompt[static_cast<size_t>(i)], i, 0);
  std::vector<uint8_t> last_only(static_cast<size_t>(tokens), 0);
  last_only.back() = 1;
  const auto& c = model.config();
  const auto acquisitions = [&] {
    uint64_t total = 0;
    for (int l = 0; l < c.n_layers; ++l) {
      if (!c.layers[static_cast<size_t>(l)].is_moe) continue;
      for (int e = 0; e < c.moe.n_experts; ++e) total += model.experts().acquire_count(l, e);
    }
    return total;
  };
  const uint64_t before = acquisitions();
  const auto start = Clock::now();
  model.forward(rows, cache, last_only);
  Sample sample;
  sample.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  sample.steps = 1;
  sample.tokens = tokens;
  sample.experts_per_step = static_cast<double>(acquisitions() - before);
  return sample;
}

// pp, tg and the batch sizes, in the order of the report; `prompt` and `decode` run one of each.
std::vector<Test> bench_tests(const BenchFlags& flags, const std::function<Sample(int tokens)>& prompt,
                              const std::function<Sample(int sequences, int rep)>& decode) {
  std::vector<Test> tests;
  if (flags.prompt_tokens > 0) {
    tests.push_back({fmt::format("pp{}", flags.prompt_tokens), [=](int) { return prompt(flags.prompt_tokens); }});
  }
  if (flags.generate_tokens > 0) {
    tests.push_back({fmt::format("tg{}", flags.generate_tokens), [=](int rep) { return decode(1, rep); }});
    for (int batch : flags.batches) {
      tests.push_back({fmt::format("batch {}", batch), [=](int rep) { return decode(batch, rep); }});
    }
  }
  return tests;
}

// Runs every test once per round for `repetitions` rounds; after each run, measure_bandwidth (when
// given) measures the read bandwidth that the run is set against.
std::vector<Measurement> run_rounds(const std::vector<Test>& tests, int repetitions, const ModelBytes& bytes,
                                    const std::function<double()>& measure_bandwidth) {
  std::vector<std::vector<Sample>> samples(tests.size());
  std::vector<std::vector<double>> bandwidths(tests.size());
  for (int rep = 0; rep < repetitions; ++rep) {
    for (size_t t = 0; t < tests.size(); ++t) {
      samples[t].push_back(tests[t].run_once(rep));
      if (!measure_bandwidth) continue;
      std::fprintf(stderr, "round %d/%d: %s done; measuring read bandwidth...\n", rep + 1, repetitions,
                   tests[t].name.c_str());
      bandwidths[t].push_back(measure_bandwidth());
    }
  }
  const auto tokens_per_s = [](const Sample& s) { return s.seconds > 0 ? static_cast<double>(s.tokens) / s.seconds : 0.0; };
  const auto tg = std::find_if(tests.begin(), tests.end(), [](const Test& t) { return t.name.starts_with("tg"); });
  std::vector<Measurement> results;
  for (size_t t = 0; t < tests.size(); ++t) {
    Measurement m{tests[t].name};
    std::vector<double> seconds, speedups;
    double experts = 0.0;
    for (size_t rep = 0; rep < samples[t].size(); ++rep) {
      const Sample& sample = samples[t][rep];
      seconds.push_back(sample.seconds);
      experts += sample.experts_per_step;
      m.steps = sample.steps;
      m.tokens = sample.tokens;
      if (tg != tests.end() && !tests[t].name.starts_with("pp")) {
        const double reference = tokens_per_s(samples[static_cast<size_t>(tg - tests.begin())][rep]);
        if (reference > 0) speedups.push_back(tokens_per_s(sample) / reference);
      }
    }
    m.seconds = median(seconds);
    m.experts_per_step = experts / static_cast<double>(samples[t].size());
    m.bytes_per_step = bytes.dense + m.experts_per_step * bytes.per_expert;
    if (!bandwidths[t].empty()) m.bandwidth_gb_per_s = median(bandwidths[t]);
    if (!speedups.empty()) m.speedup_vs_tg = median(speedups);
    results.push_back(std::move(m));
  }
  return results;
}

// Appends the measurements to report (and prints the table unless --json), each next to the
// bandwidth measured right after it; the report's read_bandwidth_gb_per_s is their median.
void add_results(const BenchFlags& flags, const std::string& model_name, const std::string& where, const ModelBytes& bytes,
                 const std::vector<Measurement>& results, nlohmann::json& report) {
  std::vector<double> bandwidths;
  for (const auto& m : results) bandwidths.push_back(m.bandwidth_gb_per_s);
  const double median_bandwidth = bandwidths.empty() ? 0.0 : median(bandwidths);
  report["read_bandwidth_gb_per_s"] = median_bandwidth;
  report["dense_bytes_per_step"] = bytes.dense;
  report["bytes_per_expert"] = bytes.per_expert;
  report["results"] = nlohmann::json::array();
  if (!flags.json) {
    fmt::print("model: {} | {} | read bandwidth measured after each run, median {:.1f} GB/s\n", model_name, where,
               median_bandwidth);
    fmt::print("{:>10} {:>12} {:>8} {:>10} {:>12} {:>10} {:>10} {:>14}\n", "test", "tokens/s", "× tg", "ms/step",
               "weights GB/s", "read GB/s", "% roofline", "experts/step");
  }
  for (const auto& m : results) {
    const double step_seconds = m.steps > 0 ? m.seconds / static_cast<double>(m.steps) : 0.0;
    const double gb_per_s = step_seconds > 0 ? m.bytes_per_step / step_seconds / 1e9 : 0.0;
    const double roofline = m.bandwidth_gb_per_s > 0 ? gb_per_s / m.bandwidth_gb_per_s : 0.0;
    const double tokens_per_s = m.seconds > 0 ? static_cast<double>(m.tokens) / m.seconds : 0.0;
    report["results"].push_back({{"test", m.test},
                                 {"tokens", m.tokens},
                                 {"seconds", m.seconds},
                                 {"tokens_per_s", tokens_per_s},
                                 {"ms_per_step", step_seconds * 1e3},
                                 {"weights_gb_per_s", gb_per_s},
                                 {"read_bandwidth_gb_per_s", m.bandwidth_gb_per_s},
                                 {"fraction_of_bandwidth", roofline},
                                 {"experts_per_step", m.experts_per_step}});
    if (m.speedup_vs_tg > 0) report["results"].back()["speedup_vs_tg"] = m.speedup_vs_tg;
    if (!flags.json) {
      const std::string speedup = m.speedup_vs_tg > 0 ? fmt::format("{:.2f}", m.speedup_vs_tg) : "";
      fmt::print("{:>10} {:>12.1f} {:>8} {:>10.2f} {:>12.1f} {:>10.1f} {:>9.0f}% {:>14.1f}\n", m.test, tokens_per_s,
                 speedup, step_seconds * 1e3, gb_per_s, m.bandwidth_gb_per_s, 100.0 * roofline, m.experts_per_step);
    }
  }
}

#ifdef ELEPHANT_HAVE_CUDA
// The same tests on the GPU: sequences in slots 0..B-1, greedy tokens chosen on the device, each
// step timed to its end (forward_greedy synchronises to copy the ids back).
Sample cuda_decode(cuda::DeviceModel& gpu, int sequences, int prompt, int generate, int rep, int vocab) {
  layers::RowBatch prefill;
  std::vector<uint8_t> last_rows;
  for (int s = 0; s < sequences; ++s) {
    const auto tokens = random_tokens(prompt, vocab, 1000 * rep + s);
    for (int i = 0; i < prompt; ++i) {
      prefill.add(tokens[static_cast<size_t>(i)], i, s);
      last_rows.push_back(i + 1 == prompt ? 1 : 0);
    }
  }
  std::vector<int32_t> next = gpu.forward_greedy(prefill, last_rows);
  Sample sample;
  double experts = 0.0;
  for (int step = 0; step < generate; ++step) {
    layers::RowBatch rows;
    for (int s = 0; s < sequences; ++s) rows.add(next[static_cast<size_t>(s)], prompt + step, s);
    const auto start = Clock::now();
    next = gpu.forward_greedy(rows);
    sample.seconds += std::chrono::duration<double>(Clock::now() - start).count();
    experts += gpu.experts_touched_last_step();
  }
  sample.steps = generate;
  sample.tokens = int64_t{generate} * sequences;
  sample.experts_per_step = generate > 0 ? experts / generate : 0.0;
  return sample;
}

Sample cuda_prefill(cuda::DeviceModel& gpu, int tokens, int vocab) {
  const auto prompt = random_tokens(tokens, vocab, 7);
  layers::RowBatch rows;
  for (int i = 0; i < tokens; ++i) rows.add(prompt[static_cast<size_t>(i)], i, 0);
  std::vector<uint8_t> last_only(static_cast<size_t>(tokens), 0);
  last_only.back() = 1;
  const auto start = Clock::now();
  gpu.forward_greedy(rows, last_only);
  Sample sample;
  sample.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  sample.steps = 1;
  sample.tokens = tokens;
  sample.experts_per_step = gpu.experts_touched_last_step();
  return sample;
}
#endif

// Fills results, each with the device's read bandwidth (measured once: a GPU's own memory does not
// drift like a shared host's), and returns the device's description.
std::string run_on_cuda(models::Model& model, const ModelBytes& bytes, const BenchFlags& flags,
                        std::vector<Measurement>& results) {
#ifdef ELEPHANT_HAVE_CUDA
  cuda::DeviceModelOptions options;
  const int widest_batch = flags.batches.empty() ? 1 : *std::max_element(flags.batches.begin(), flags.batches.end());
  options.max_sequences = widest_batch;
  options.max_batch_rows = std::max({flags.prompt_tokens, widest_batch * flags.batch_prompt_tokens, 1});
  options.context_length = bench_context(flags);
  options.decode_graphs = flags.cuda_graphs;
  std::fprintf(stderr, "uploading the model to the GPU...\n");
  cuda::DeviceModel gpu(model, options);
  const int vocab = model.config().vocab_size;
  const auto tests = bench_tests(
      flags, [&](int tokens) { return cuda_prefill(gpu, tokens, vocab); },
      [&](int sequences, int rep) {
        return cuda_decode(gpu, sequences, flags.batch_prompt_tokens, flags.generate_tokens, rep, vocab);
      });
  results = run_rounds(tests, flags.repetitions, bytes, {});
  std::fprintf(stderr, "measuring GPU read bandwidth (%lld MiB buffer)...\n", static_cast<long long>(flags.bandwidth_buffer_mib));
  const double bandwidth = cuda::measure_read_bandwidth_gbs(static_cast<size_t>(flags.bandwidth_buffer_mib) << 20, 7);
  for (auto& m : results) m.bandwidth_gb_per_s = bandwidth;
  return cuda::describe(gpu.device());
#else
  require_cuda_build("--device cuda");
  return {};
#endif
}

void run(const BenchFlags& flags) {
  if (!flags.cuda_graphs && flags.model.device != "cuda") fail("--no-cuda-graphs applies to --device cuda only");
  std::unique_ptr<models::Model> model;
  std::string model_name = flags.model.model_dir;
  if (!flags.random_shape.empty()) {
    const auto dtype = dtype_from_name(flags.random_dtype);
    if (!dtype) fail("--random-dtype '{}': expected F32, BF16 or F16", flags.random_dtype);
    if (flags.model.threads > 0) set_thread_count(flags.model.threads);
    ops::select_kernels(flags.model.kernels);
    std::fprintf(stderr, "creating random %s weights for %s...\n", flags.random_dtype.c_str(), flags.random_shape.c_str());
    models::ModelOptions options;
    options.context_length = bench_context(flags);
    options.kv_dtype = parse_kv_dtype(flags.model.kv_dtype);
    model = models::Model::from_checkpoint(
        format::Checkpoint::random(models::random_model_config(flags.random_shape), *dtype, 1), options);
    model_name = fmt::format("random {} ({})", flags.random_shape, flags.random_dtype);
  } else {
    ModelFlags model_flags = flags.model;
    model_flags.context = bench_context(flags);
    model = load_model(model_flags);
  }
  const ModelBytes bytes = model_bytes(*model);

  std::vector<Measurement> results;
  if (flags.model.device == "cuda") {
    if (model->kv_cache_dtype() != DType::kF32) fail("--kv-dtype {}: the CUDA backend keeps K and V in fp32", flags.model.kv_dtype);
    const std::string device = run_on_cuda(*model, bytes, flags, results);
    nlohmann::json report = {{"model", model_name}, {"device", device}};
    add_results(flags, model_name, device, bytes, results, report);
    if (flags.json) fmt::print("{}\n", report.dump(2));
    return;
  }
  // The bandwidth buffer is held through the tests so each can be followed by a measurement; the
  // peak RSS reported is the model's own: the high-water mark before the buffer, or the one
  // after the tests less the buffer (resident throughout) if that is higher.
  const auto max_rss_bytes = [] {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<int64_t>(usage.ru_maxrss) * 1024;
  };
  const int64_t load_peak_rss_bytes = max_rss_bytes();
  const auto buffer_bytes = static_cast<size_t>(flags.bandwidth_buffer_mib) << 20;
  std::fprintf(stderr, "allocating the read-bandwidth buffer (%lld MiB)...\n", static_cast<long long>(flags.bandwidth_buffer_mib));
  const ReadBandwidthMeter meter(buffer_bytes, thread_count());
  const auto tests = bench_tests(
      flags, [&](int tokens) { return run_prefill(*model, tokens); },
      [&](int sequences, int rep) {
        return run_decode(*model, sequences, flags.batch_prompt_tokens, flags.generate_tokens, rep);
      });
  results = run_rounds(tests, flags.repetitions, bytes, [&] { return meter.measure_gb_per_s(); });
  const int64_t peak_rss_bytes = std::max(load_peak_rss_bytes, max_rss_bytes() - static_cast<int64_t>(buffer_bytes));

  const models::WeightCopies& copies = model->weight_copies();
  nlohmann::json report = {{"model", model_name},
                           {"peak_rss_bytes", peak_rss_bytes},
                           {"threads", thread_count()},
                           {"kernels", std::string(ops::active_kernels().name)},
                           {"weight_copy_bytes", copies.bytes()},
                           {"interleaved_copy_bytes", copies.interleaved_bytes()},
                           {"weight_copies_skipped", copies.skipped()}};
  std::string where = fmt::format("{} threads | kernels {}", thread_count(), ops::active_kernels().name);
  if (copies.bytes() > 0) {
    where += fmt::format(" ({:.2f} GB of weight copies, {:.2f} GB interleaved)", static_cast<double>(copies.bytes()) / 1e9,
                         static_cast<double>(copies.interleaved_bytes()) / 1e9);
  }
  add_results(flags, model_name, where, bytes, results, report);
  if (auto* offload = model->offloading_experts()) {
    const auto stats = offload->stats();
    int64_t tokens = 0;
    for (const auto& m : results) tokens += m.tokens;
    // Every timed and untimed step counts in the store's totals; per-token figures divide by the
    // tokens of the timed steps, so they are upper bounds.
    const double per_token = tokens > 0 ? 1.0 / static_cast<double>(tokens) : 0.0;
    const auto ratio = [](uint64_t a, uint64_t b) { return b > 0 ? static_cast<double>(a) / static_cast<double>(b) : 0.0; };
    const double home_gb_per_s = offload->measure_home_read_gb_per_s();
    nlohmann::json cache = {{"slots", stats.n_slots},
                            {"slot_bytes", stats.slot_bytes},
                            {"hit_rate", ratio(stats.hits, stats.acquires)},
                            {"late_prefetch_rate", ratio(stats.late_prefetches, stats.acquires)},
                            {"miss_rate", ratio(stats.misses, stats.acquires)},
                            {"loads", stats.loads},
                            {"wasted_prefetches", stats.wasted_prefetches},
                            {"cancelled_prefetches", stats.cancelled_prefetches},
                            {"bytes_loaded_per_token", static_cast<double>(stats.bytes_loaded) * per_token},
                            {"stall_ms_per_token", stats.stall_seconds * 1e3 * per_token},
                            {"pregate_accuracy", ratio(stats.predicted_used, stats.used_with_prediction)},
                            {"pregate_two_ahead_accuracy", ratio(stats.far_predicted_used, stats.used_with_far_prediction)},
                            {"previous_step_reuse_accuracy", ratio(stats.previous_step_used, stats.used_after_previous_step)},
                            {"home_read_gb_per_s", home_gb_per_s}};
    report["expert_cache"] = cache;
    if (!flags.json) {
      fmt::print("expert cache: {} slots x {:.1f} MB | hits {:.1f}% (late prefetch {:.1f}%, misses {:.1f}%) | {} loads, "
                 "{} wasted and {} cancelled prefetches | {:.2f} MB loaded and {:.2f} ms stalled per token | pre-gating accuracy {:.1f}% "
                 "(previous step's experts: {:.1f}%) | peak RSS {:.1f} MB | home-tier read {:.2f} GB/s\n",
                 stats.n_slots, static_cast<double>(stats.slot_bytes) / 1e6, 100 * cache["hit_rate"].get<double>(),
                 100 * cache["late_prefetch_rate"].get<double>(), 100 * cache["miss_rate"].get<double>(), stats.loads,
                 stats.wasted_prefetches, stats.cancelled_prefetches, cache["bytes_loaded_per_token"].get<double>() / 1e6,
                 cache["stall_ms_per_token"].get<double>(), 100 * cache["pregate_accuracy"].get<double>(),
                 100 * cache["previous_step_reuse_accuracy"].get<double>(),
                 static_cast<double>(peak_rss_bytes) / 1e6, home_gb_per_s);
      fmt::print("pre-gating accuracy per MoE layer, one layer ahead{} (previous step's experts):",
                 stats.used_with_far_prediction > 0 ? " / two layers ahead" : "");
    }
    const auto per_layer = offload->prediction_counts_per_layer();
    for (size_t l = 0; l < per_layer.size(); ++l) {
      const layers::PredictionCounts& counts = per_layer[l];
      if (counts.used_with_prediction == 0 && counts.used_after_previous_step == 0) continue;
      nlohmann::json layer = {{"layer", l},
                              {"pregate_accuracy", ratio(counts.predicted_used, counts.used_with_prediction)},
                              {"previous_step_reuse_accuracy", ratio(counts.previous_step_used, counts.used_after_previous_step)}};
      if (counts.used_with_far_prediction > 0) {
        layer["pregate_two_ahead_accuracy"] = ratio(counts.far_predicted_used, counts.used_with_far_prediction);
      }
      report["expert_cache"]["per_layer"].push_back(layer);
      if (!flags.json) {
        const auto percent = [&](uint64_t used, uint64_t total) {
          return total > 0 ? fmt::format("{:.0f}%", 100 * ratio(used, total)) : std::string("n/a");
        };
        fmt::print(" L{} {}", l, percent(counts.predicted_used, counts.used_with_prediction));
        if (counts.used_with_far_prediction > 0) {
          fmt::print(" / {}", percent(counts.far_predicted_used, counts.used_with_far_prediction));
        }
        fmt::print(" ({})", percent(counts.previous_step_used, counts.used_after_previous_step));
      }
    }
    if (!flags.json) fmt::print("\n");
  }
  if (flags.json) fmt::print("{}\n", report.dump(2));
}

}  // namespace

void register_bench(CLI::App& app, std::vector<std::pair<CLI::App*, Handler>>& handlers) {
  static BenchFlags flags;
  auto* command = app.add_subcommand("bench", "measure prompt, generation and batched throughput against bandwidth");
  auto* model_option = add_model_flags(command, flags.model);
  command
      ->add_option("--random-model", flags.random_shape,
                   "benchmark random weights of a named shape instead of -m (" + models::random_shape_names() + ")")
      ->excludes(model_option);
  command->add_option("--random-dtype", flags.random_dtype, "dtype of random weights: BF16 (default), F16, F32");
  command->add_option("-p,--prompt-tokens", flags.prompt_tokens, "pp: prompt length (default 128; 0 = skip)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("-n,--generate-tokens", flags.generate_tokens, "tg and batch: decode steps (default 32; 0 = skip)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--batch", flags.batches, "parallel sequences for batched generation (default 1,2,4,8,16,32)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  command->add_option("--batch-prompt-tokens", flags.batch_prompt_tokens, "prompt length of each batched sequence")
      ->check(CLI::PositiveNumber);
  command->add_option("-r,--repetitions", flags.repetitions, "rounds: each runs every test once; medians over the rounds are reported (default 3)")
      ->check(CLI::PositiveNumber);
  command->add_option("--bandwidth-buffer-mib", flags.bandwidth_buffer_mib,
                      "buffer for the read-bandwidth measurements, held through the run and left out of the peak "
                      "RSS (default 1024; use >= 4x the last-level cache)")
      ->check(CLI::PositiveNumber);
  command->add_flag("--json", flags.json, "print a JSON report instead of the table");
  add_device_flag(command, flags.model.device);
  command->add_flag("!--no-cuda-graphs", flags.cuda_graphs,
                    "with --device cuda: launch every kernel of a decode step instead of replaying a captured graph");
  handlers.emplace_back(command, [] { run(flags); });
}

}  // namespace elephant::cli
