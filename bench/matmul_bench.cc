// matmul_bench: one expert matrix at real MoE shapes, every weight format, against this machine's
// own rooflines measured in the same run.
//
//   decode  (1 activation row): bandwidth-bound. Reported as effective GB/s of weight bytes
//           (packed values + scales) and as a fraction of the STREAM-like read bandwidth
//           (core/memory_bandwidth.h). Enough copies of the matrix are cycled through that the
//           working set exceeds the last-level cache, so weights come from DRAM as in a real model.
//   prefill (--prefill-rows, 512 by default): compute-bound. Reported as GFLOP/s (2·rows·cols·N per call) next to
//           OpenBLAS sgemm on the fp32 matrix.
//
// Quantized formats are timed with both activation strategies (kernels.h Activations); ops picks
// one per format. Work is split over output rows exactly as ops::matmul does. The engine's own
// formats of matrices up to 8 MiB are also timed 8 to a group (ops::matmul_group), as the MoE
// layer runs a layer's small experts: one fork, one stream over all of them. Every figure is the
// median of --reps timed calls after a warm-up call.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/memory.h"
#include "core/memory_bandwidth.h"
#include "core/parallel.h"
#include "core/statistics.h"
#include "kernels/interleave.h"
#include "kernels/quantize.h"
#include "ops/ops.h"

#ifdef ELEPHANT_HAVE_OPENBLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int n_threads);
#endif

namespace elephant {
namespace {

constexpr size_t kColdBytes = size_t{256} << 20;  // > 4 × a 32 MiB L3, to defeat the cache
// Small experts (Qwen3-MoE: 8 active of 0.75-0.8 MiB in int4) run as one group per layer
// (ops::matmul_group), so the engine-path formats of small shapes are also timed that way.
constexpr int kGroupedExperts = 8;
constexpr double kMaxGroupedBytes = 64.0 * (1 << 20);

struct Options {
  int threads = 0;
  int reps = 5;
  bool prefill = true;
  int64_t prefill_rows = 512;  // also what batched decode looks like at a few rows per expert
};

struct Shape {
  int64_t rows, cols;
};

// One format's bytes, repeated `copies` times so that cycling through them reads from DRAM; on huge
// pages like the engine's weight copies and the meter's buffer.
struct Weights {
  std::string name;
  kernels::WeightFormat format = kernels::WeightFormat::kDense;
  HugePageBuffer data, scales;
  size_t data_bytes = 0, scale_bytes = 0;
  int copies = 1;
  // Set when these bytes are the interleaved copy (interleave.h) of that matrix.
  const Weights* checkpoint_layout = nullptr;
  kernels::WeightMatrix matrix(const Shape& shape, DType dtype, DType scale_dtype, int64_t group, int copy) const {
    if (checkpoint_layout != nullptr) {
      kernels::WeightMatrix w = checkpoint_layout->matrix(shape, dtype, scale_dtype, group, 0);
      w.interleaved_data = data.data() + static_cast<size_t>(copy) * data_bytes;
      if (scale_bytes) w.interleaved_scales = scales.data() + static_cast<size_t>(copy) * scale_bytes;
      return w;
    }
    kernels::WeightMatrix w{dtype, shape.rows, shape.cols, data.data() + static_cast<size_t>(copy) * data_bytes};
    w.format = format;
    if (format != kernels::WeightFormat::kDense) {
      w.scales = scales.data() + static_cast<size_t>(copy) * scale_bytes;
      w.scale_dtype = scale_dtype;
      w.group_size = group;
    }
    return w;
  }
};

Weights replicate(std::string name, kernels::WeightFormat format, const void* data, size_t data_bytes,
                  const void* scales, size_t scale_bytes) {
  Weights w{std::move(name), format, {}, {}, data_bytes, scale_bytes, 1};
  w.copies = static_cast<int>(std::max<size_t>(1, (kColdBytes + data_bytes - 1) / (data_bytes + scale_bytes)));
  w.data = HugePageBuffer(data_bytes * static_cast<size_t>(w.copies));
  w.scales = HugePageBuffer(scale_bytes * static_cast<size_t>(w.copies));
  for (int c = 0; c < w.copies; ++c) {
    std::memcpy(w.data.data() + static_cast<size_t>(c) * data_bytes, data, data_bytes);
    if (scale_bytes) std::memcpy(w.scales.data() + static_cast<size_t>(c) * scale_bytes, scales, scale_bytes);
  }
  return w;
}

double seconds_of(const std::function<void()>& fn) {
  const auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// reps (a, b) timings of two functions called alternately, after one warm-up call of each. OpenMP
// and OpenBLAS each keep their worker threads spinning for a while after a call; on a machine
// with few cores those spinning threads would take the cores from the other library's call, so
// each call starts after a pause long enough for them to go to sleep. OpenBLAS's threads yield-spin
// for 2^28 cycles (~70 ms at 4 GHz) by default: with 50 ms they still took a core from some of our
// calls on Zen 4 (perf: 11% of samples in sched_yield; prefill ratios dropping to 0.5× at random).
std::vector<std::pair<double, double>> alternate_seconds(int reps, const std::function<void()>& a,
                                                         const std::function<void()>& b) {
  constexpr auto kSettle = std::chrono::milliseconds(150);
  a();
  b();
  std::vector<std::pair<double, double>> pairs;
  for (int r = 0; r < reps; ++r) {
    std::this_thread::sleep_for(kSettle);
    const double first = seconds_of(a);
    std::this_thread::sleep_for(kSettle);
    pairs.emplace_back(first, seconds_of(b));
  }
  return pairs;
}

double median_seconds(int reps, const std::function<void()>& fn) {
  fn();
  std::vector<double> seconds;
  for (int r = 0; r < reps; ++r) seconds.push_back(seconds_of(fn));
  return median(seconds);
}

void run_kernel(kernels::MatmulFn kernel, const float* x, int64_t n_rows, const kernels::WeightMatrix& w, float* y) {
  const int64_t step = ops::matmul_range_rows(w, n_rows);
  parallel_for_owned((w.rows + step - 1) / step, [&](int64_t range) {
    kernel(x, n_rows, w, y, w.rows, range * step, std::min(w.rows, (range + 1) * step));
  });
}

void bench_shape(const Shape& shape, const Options& options, const ReadBandwidthMeter& meter) {
  std::mt19937_64 rng(shape.rows * 31 + shape.cols);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  const int64_t n = shape.rows * shape.cols;
  std::vector<float> w32(static_cast<size_t>(n));
  for (float& v : w32) v = normal(rng);
  std::vector<uint16_t> w16(w32.size());
  for (size_t i = 0; i < w32.size(); ++i) w16[i] = f32_to_bf16(w32[i]);
  std::vector<int8_t> q8(w32.size());
  std::vector<float> s8(static_cast<size_t>(shape.rows));
  kernels::quantize_int8_per_channel(w32.data(), shape.rows, shape.cols, q8.data(), s8.data(), "bench");
  constexpr int64_t kGroup = 128;
  std::vector<uint8_t> q4(w32.size() / 2);
  std::vector<uint16_t> s4(static_cast<size_t>(n / kGroup));
  kernels::quantize_int4_groups(w32.data(), shape.rows, shape.cols, kGroup, DType::kF16, q4.data(), s4.data(), "bench");

  struct Variant {
    const Weights* weights;
    DType dtype, scale_dtype;
    int64_t group;
    kernels::MatmulFn kernel;
    std::string label;
    // The engine's own path for this format (ops picks this kernel), so it is also timed the way
    // the MoE layer runs small experts: kGroupedExperts matrices in one ops::matmul_group call.
    bool engine_path = false;
  };
  const Weights f32 = replicate("fp32", kernels::WeightFormat::kDense, w32.data(), w32.size() * 4, nullptr, 0);
  const Weights bf16 = replicate("bf16", kernels::WeightFormat::kDense, w16.data(), w16.size() * 2, nullptr, 0);
  const Weights int8 = replicate("int8", kernels::WeightFormat::kInt8PerChannel, q8.data(), q8.size(), s8.data(), s8.size() * 4);
  const Weights int4 = replicate("int4 g128", kernels::WeightFormat::kInt4Group, q4.data(), q4.size(), s4.data(), s4.size() * 2);
  const kernels::KernelTable& table = ops::active_kernels();
  const auto i8 = static_cast<size_t>(kernels::Activations::kInt8);
  const auto f = static_cast<size_t>(kernels::Activations::kF32);
  std::vector<Variant> variants = {
      {&f32, DType::kF32, DType::kF32, 0, table.matmul, "fp32"},
      {&bf16, DType::kBF16, DType::kF32, 0, table.matmul, "bf16"},
      {&int8, DType::kI8, DType::kF32, 0, table.matmul_int8[f], "int8, fp32 act"},
      {&int8, DType::kI8, DType::kF32, 0, table.matmul_int8[i8], "int8, int8 act"},
      {&int4, DType::kU8, DType::kF16, kGroup, table.matmul_int4[f], "int4 g128, fp32 act"},
      {&int4, DType::kU8, DType::kF16, kGroup, table.matmul_int4[i8], "int4 g128, int8 act"},
  };
  // The opt-in table's dense kernel, next to the fp32-activation one it would replace.
  const kernels::KernelTable* bf16_table = kernels::avx512_bf16_kernels();
  if (bf16_table && !table.bf16_activations) {
    variants.insert(variants.begin() + 2, {&bf16, DType::kBF16, DType::kF32, 0, bf16_table->matmul, "bf16, bf16 act"});
  }
  // The interleaved copies the model makes for tables that read them.
  Weights bf16_interleaved, int4_interleaved;
  if (table.reads_interleaved.bf16 && kernels::can_interleave_bf16(bf16.matrix(shape, DType::kBF16, DType::kF32, 0, 0))) {
    const kernels::WeightMatrix source = bf16.matrix(shape, DType::kBF16, DType::kF32, 0, 0);
    std::vector<std::byte> data(static_cast<size_t>(kernels::interleaved_bf16_bytes(source)));
    kernels::interleave_bf16(source, data.data());
    bf16_interleaved = replicate("bf16 interleaved", kernels::WeightFormat::kDense, data.data(), data.size(), nullptr, 0);
    bf16_interleaved.checkpoint_layout = &bf16;
    variants.push_back({&bf16_interleaved, DType::kBF16, DType::kF32, 0, table.matmul, "bf16 interleaved", true});
    if (bf16_table && !table.bf16_activations) {
      variants.push_back({&bf16_interleaved, DType::kBF16, DType::kF32, 0, bf16_table->matmul, "bf16 ilv., bf16 act"});
    }
  }
  Weights int8_interleaved;
  if (table.reads_interleaved.int8 && kernels::can_interleave_int8(int8.matrix(shape, DType::kI8, DType::kF32, 0, 0))) {
    const kernels::WeightMatrix source = int8.matrix(shape, DType::kI8, DType::kF32, 0, 0);
    std::vector<std::byte> data(static_cast<size_t>(kernels::interleaved_int8_bytes(source)));
    kernels::interleave_int8(source, data.data());
    int8_interleaved = replicate("int8 interleaved", kernels::WeightFormat::kInt8PerChannel, data.data(), data.size(),
                                 nullptr, 0);
    int8_interleaved.checkpoint_layout = &int8;
    variants.push_back({&int8_interleaved, DType::kI8, DType::kF32, 0, table.matmul_int8[i8], "int8 interleaved", true});
  }
  if (table.reads_interleaved.int4 && kernels::can_interleave_int4(int4.matrix(shape, DType::kU8, DType::kF16, kGroup, 0))) {
    const kernels::WeightMatrix source = int4.matrix(shape, DType::kU8, DType::kF16, kGroup, 0);
    std::vector<std::byte> data(static_cast<size_t>(kernels::interleaved_int4_data_bytes(source)));
    std::vector<std::byte> scales(static_cast<size_t>(kernels::interleaved_int4_scale_bytes(source)));
    kernels::interleave_int4(source, data.data(), scales.data());
    int4_interleaved = replicate("int4 g128 interleaved", kernels::WeightFormat::kInt4Group, data.data(), data.size(),
                                 scales.data(), scales.size());
    int4_interleaved.checkpoint_layout = &int4;
    variants.push_back({&int4_interleaved, DType::kU8, DType::kF16, kGroup, table.matmul_int4[i8], "int4 g128 interleaved", true});
  }

  std::vector<float> x(static_cast<size_t>(options.prefill_rows * shape.cols));
  for (float& v : x) v = normal(rng) * 50.0f;
  std::vector<float> y(static_cast<size_t>(options.prefill_rows * shape.rows));
  const double prefill_flop = 2.0 * options.prefill_rows * static_cast<double>(n);
#ifdef ELEPHANT_HAVE_OPENBLAS
  const auto sgemm = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(options.prefill_rows), static_cast<int>(shape.rows),
                static_cast<int>(shape.cols), 1.0f, x.data(), static_cast<int>(shape.cols), w32.data(),
                static_cast<int>(shape.cols), 0.0f, y.data(), static_cast<int>(shape.rows));
  };
  std::vector<double> sgemm_seconds;
#endif
  // The host's bandwidth flips between levels within seconds, so each decode timing is paired with
  // a bandwidth measurement taken right before it, and the fraction reported is the median of the
  // per-pair fractions. call(copy) reads `bytes` starting at that copy and returns the next copy.
  struct Decode {
    double seconds, stream_gb_s, fraction;
  };
  const auto time_decode = [&](double bytes, const std::function<int(int)>& call) {
    int copy = 0;
    std::vector<double> timings, bandwidths, fractions;
    for (int r = 0; r < options.reps * 3; ++r) {
      const double bandwidth = meter.measure_gb_per_s(3);
      const double seconds = median_seconds(5, [&] { copy = call(copy); });
      timings.push_back(seconds);
      bandwidths.push_back(bandwidth);
      fractions.push_back(bytes / seconds / 1e9 / bandwidth);
    }
    return Decode{median(timings), median(bandwidths), median(fractions)};
  };
  const auto print_decode = [&](const std::string& label, double bytes, const Decode& d, const std::string& prefill) {
    fmt::print("{:>5}×{:<6} {:<21}{:9.3f} ms {:8.1f} GB/s {:8.1f} GB/s {:6.0f}% {:>8.2f} MiB   {}\n", shape.rows,
               shape.cols, label, d.seconds * 1e3, bytes / d.seconds / 1e9, d.stream_gb_s, 100.0 * d.fraction,
               bytes / (1 << 20), prefill);
  };
  for (const Variant& v : variants) {
    const double bytes = static_cast<double>(v.weights->data_bytes + v.weights->scale_bytes);
    const Decode decode = time_decode(bytes, [&](int copy) {
      run_kernel(v.kernel, x.data(), 1, v.weights->matrix(shape, v.dtype, v.scale_dtype, v.group, copy), y.data());
      return (copy + 1) % v.weights->copies;
    });
    std::string prefill = "-";
    if (options.prefill) {
      const auto w = v.weights->matrix(shape, v.dtype, v.scale_dtype, v.group, 0);
      const auto kernel = [&] { run_kernel(v.kernel, x.data(), options.prefill_rows, w, y.data()); };
#ifdef ELEPHANT_HAVE_OPENBLAS
      // The host's speed drifts by 2x within a minute, so sgemm is timed alternately with the
      // kernel and the ratio is the median of the per-pair ratios, not a ratio of two medians
      // taken minutes apart.
      const std::vector<std::pair<double, double>> pairs = alternate_seconds(options.reps, kernel, sgemm);
      std::vector<double> seconds, ratios;
      for (const auto& [ours, theirs] : pairs) {
        seconds.push_back(ours);
        ratios.push_back(theirs / ours);
        sgemm_seconds.push_back(theirs);
      }
      prefill = fmt::format("{:7.1f}  ({:4.2f}× sgemm)", prefill_flop / median(seconds) / 1e9, median(ratios));
#else
      prefill = fmt::format("{:7.1f}", prefill_flop / median_seconds(options.reps, kernel) / 1e9);
#endif
    }
    print_decode(v.label, bytes, decode, prefill);
    if (v.engine_path && bytes * kGroupedExperts <= kMaxGroupedBytes && v.weights->copies >= kGroupedExperts) {
      std::vector<kernels::WeightMatrix> matrices(kGroupedExperts);
      std::vector<ops::MatmulTask> tasks(kGroupedExperts);
      std::vector<float> outputs(static_cast<size_t>(kGroupedExperts * shape.rows));
      const Decode grouped = time_decode(bytes * kGroupedExperts, [&](int copy) {
        for (int e = 0; e < kGroupedExperts; ++e) {
          matrices[static_cast<size_t>(e)] =
              v.weights->matrix(shape, v.dtype, v.scale_dtype, v.group, (copy + e) % v.weights->copies);
          tasks[static_cast<size_t>(e)] = {x.data(), 1, &matrices[static_cast<size_t>(e)], outputs.data() + e * shape.rows};
        }
        ops::matmul_group(tasks);
        return (copy + kGroupedExperts) % v.weights->copies;
      });
      print_decode(fmt::format("  {} in one group", kGroupedExperts), bytes * kGroupedExperts, grouped, "-");
    }
  }
#ifdef ELEPHANT_HAVE_OPENBLAS
  if (options.prefill) {
    fmt::print("{:>5}×{:<6} {:<20} {:>57} {:7.1f}  (median of all its timings)\n", shape.rows, shape.cols,
               "OpenBLAS sgemm fp32", "", prefill_flop / median(sgemm_seconds) / 1e9);
  }
#endif
}

}  // namespace
}  // namespace elephant

int main(int argc, char** argv) {
  using namespace elephant;
  Options options;
  std::vector<Shape> shapes = {{4096, 14336}, {14336, 4096}, {1024, 3584}, {2048, 768}};
  bool custom_shapes = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--threads" && i + 1 < argc) {
      options.threads = std::stoi(argv[++i]);
    } else if (arg == "--reps" && i + 1 < argc) {
      options.reps = std::max(1, std::stoi(argv[++i]));
    } else if (arg == "--prefill-rows" && i + 1 < argc) {
      options.prefill_rows = std::max(1, std::stoi(argv[++i]));
    } else if (arg == "--no-prefill") {
      options.prefill = false;
    } else if (arg == "--shape" && i + 1 < argc) {
      const std::string value = argv[++i];
      const auto x = value.find('x');
      if (x == std::string::npos) {
        fmt::print(stderr, "--shape {}: expected ROWSxCOLS\n", value);
        return 2;
      }
      if (!custom_shapes) shapes.clear();
      custom_shapes = true;
      shapes.push_back({std::stoll(value.substr(0, x)), std::stoll(value.substr(x + 1))});
    } else {
      fmt::print(stderr,
                 "usage: matmul_bench [--threads N] [--reps N] [--no-prefill] [--prefill-rows N] [--shape ROWSxCOLS]...\n"
                 "  default shapes: 4096x14336 14336x4096 1024x3584 2048x768 (rows = outputs)\n");
      return 2;
    }
  }
  if (options.threads > 0) set_thread_count(options.threads);
#ifdef ELEPHANT_HAVE_OPENBLAS
  openblas_set_num_threads(thread_count());
#endif
  const ReadBandwidthMeter meter(size_t{512} << 20, thread_count());
  fmt::print("kernels: {}, threads: {}; decode: medians of {} timings, each of 5 calls after a STREAM-like read of\n"
             "512 MiB (median of 3 passes); \"of BW\" is the median of the per-timing fractions (the host's bandwidth drifts)\n",
             ops::active_kernels().name, thread_count(), options.reps * 3);
  fmt::print("{:<12} {:<20} {:>12} {:>13} {:>13} {:>7} {:>12}   {}\n", "shape", "weights", "decode", "weights read",
             "read BW", "of BW", "bytes", options.prefill ? fmt::format("prefill {} rows GFLOP/s", options.prefill_rows) : "");
  for (const Shape& shape : shapes) bench_shape(shape, options, meter);
  return 0;
}
