// cuda_moe_bench: the GPU MoE kernels against cuBLAS fp16 and against the GPU's read bandwidth,
// both measured in the same run (the CPU matmul_bench's discipline, for the GPU).
//
//   table1:  the FasterTransformer MoE paper's Table 1 shape: 40 tokens spread evenly over 1-32
//            active experts, each expert a 1024 -> 4096 matrix. One grouped call of ours (fp16,
//            int8, int4) against cuBLAS fp16 GemmEx, one call per active expert (fp32 accumulate).
//   mixtral: a whole Mixtral-shaped MoE block (hidden 4096, 8 experts of width 14336, top-2) at
//            1-8 tokens: router, permute, SwiGLU experts, finalize. Reported as GB/s of the expert
//            weights the step touches and as a fraction of the measured read bandwidth.
// Weights are random bytes in the kernels' layout (values do not change timings); enough copies of
// every matrix set are cycled through that the working set exceeds the L2 cache.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/cuda/bandwidth.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/moe_ffn.h"
#include "kernels/cuda/moe_kernels.h"
#include "kernels/cuda/weight_layout.h"

namespace elephant::cuda {
namespace {

constexpr size_t kColdBytes = size_t{1} << 30;  // > 20 × a 50 MB L2
constexpr int kReps = 20;

void check_cublas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) fail("cuBLAS: {} failed with status {}", what, static_cast<int>(status));
}

// A random matrix straight in the kernels' layout.
HostPackedMatrix random_packed(DeviceFormat format, int64_t rows, int64_t cols, std::mt19937& rng) {
  HostPackedMatrix m;
  m.format = format;
  m.rows = rows;
  m.cols = cols;
  m.group = format == DeviceFormat::kInt4 ? 128 : 0;
  const int64_t row_bytes = format == DeviceFormat::kInt4 ? cols / 2 : format == DeviceFormat::kInt8 ? cols : cols * 2;
  m.row_pitch = (row_bytes + kRowAlignment - 1) / kRowAlignment * kRowAlignment;
  m.data.resize(static_cast<size_t>(rows * m.row_pitch));
  if (format == DeviceFormat::kF16) {
    auto* halves = reinterpret_cast<uint16_t*>(m.data.data());
    for (size_t i = 0; i < m.data.size() / 2; ++i) halves[i] = f32_to_f16(0.01f * static_cast<float>(static_cast<int>(rng() % 201) - 100));
  } else {
    for (uint8_t& b : m.data) b = static_cast<uint8_t>(rng());
  }
  if (format == DeviceFormat::kInt8) m.scales.assign(static_cast<size_t>(rows), 0.01f);
  if (format == DeviceFormat::kInt4) m.scales.assign(static_cast<size_t>(rows * cols / m.group), 0.01f);
  return m;
}

class Timer {
 public:
  Timer() {
    ELEPHANT_CUDA_CHECK(cudaEventCreate(&start_));
    ELEPHANT_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~Timer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  // Median microseconds of kReps calls of run(rep), after one warm-up call.
  template <typename Run>
  double median_us(Run&& run) {
    std::vector<double> times;
    for (int rep = -1; rep < kReps; ++rep) {
      ELEPHANT_CUDA_CHECK(cudaEventRecord(start_));
      run(rep + 1);
      ELEPHANT_CUDA_CHECK(cudaEventRecord(stop_));
      ELEPHANT_CUDA_CHECK(cudaEventSynchronize(stop_));
      float ms = 0.0f;
      ELEPHANT_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
      if (rep >= 0) times.push_back(ms * 1e3);
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
  }

 private:
  cudaEvent_t start_;
  cudaEvent_t stop_;
};

// `copies` independent sets of n_experts matrices, so successive reps read cold weights.
struct ExpertSets {
  std::vector<DeviceMatrix> matrices;
  std::vector<DeviceBuffer<MatrixView>> views;
  size_t bytes_per_set = 0;
};

ExpertSets make_sets(DeviceFormat format, int n_experts, int64_t rows, int64_t cols, std::mt19937& rng) {
  ExpertSets sets;
  const HostPackedMatrix one = random_packed(format, rows, cols, rng);
  const size_t bytes = one.data.size() + one.scales.size() * sizeof(float);
  sets.bytes_per_set = bytes * static_cast<size_t>(n_experts);
  const size_t copies = std::max<size_t>(1, kColdBytes / sets.bytes_per_set);
  for (size_t c = 0; c < copies; ++c) {
    std::vector<MatrixView> views;
    for (int e = 0; e < n_experts; ++e) {
      sets.matrices.push_back(DeviceMatrix::upload(one));
      views.push_back(sets.matrices.back().view());
    }
    sets.views.push_back(to_device(views));
  }
  return sets;
}

void table1(Timer& timer, double bandwidth_gbs) {
  constexpr int64_t kTokens = 40;
  constexpr int64_t kIn = 1024;
  constexpr int64_t kOut = 4096;
  fmt::print("\n## Table 1 shape: {} tokens, experts {} -> {}\n\n", kTokens, kIn, kOut);
  fmt::print("| active experts | cuBLAS fp16 µs | ours fp16 µs | int8 µs | int4 µs | int8 vs cuBLAS | int4 vs cuBLAS | int4 of BW |\n");
  fmt::print("|---|---|---|---|---|---|---|---|\n");
  cublasHandle_t handle;
  check_cublas(cublasCreate(&handle), "cublasCreate");
  std::mt19937 rng(1);
  std::vector<uint16_t> x_half(static_cast<size_t>(kTokens * kIn));
  for (uint16_t& v : x_half) v = f32_to_f16(0.01f * static_cast<float>(static_cast<int>(rng() % 201) - 100));
  std::vector<float> x_float(x_half.size());
  for (size_t i = 0; i < x_half.size(); ++i) x_float[i] = f16_to_f32(x_half[i]);
  const DeviceBuffer<uint16_t> d_x_half = to_device(x_half);
  const DeviceBuffer<float> d_x = to_device(x_float);
  DeviceBuffer<float> d_y(static_cast<size_t>(kTokens * kOut));
  for (int n_experts : {1, 2, 4, 8, 16, 32}) {
    std::vector<int32_t> offsets = {0};
    for (int e = 0; e < n_experts; ++e) offsets.push_back(static_cast<int32_t>(kTokens * (e + 1) / n_experts));
    const DeviceBuffer<int32_t> d_offsets = to_device(offsets);
    double us[4] = {};
    double int4_bytes = 0.0;
    int column = 1;
    for (DeviceFormat format : {DeviceFormat::kF16, DeviceFormat::kInt8, DeviceFormat::kInt4}) {
      ExpertSets sets = make_sets(format, n_experts, kOut, kIn, rng);
      if (format == DeviceFormat::kInt4) int4_bytes = static_cast<double>(sets.bytes_per_set);
      ExpertMatmul m;
      m.x = d_x.data();
      m.x_stride = kIn;
      m.offsets = d_offsets.data();
      m.n_experts = n_experts;
      m.max_slots = kTokens;
      m.format = format;
      m.out_features = static_cast<int32_t>(kOut);
      m.in_features = static_cast<int32_t>(kIn);
      m.y = d_y.data();
      m.y_stride = kOut;
      DeviceBuffer<int32_t> tiles(static_cast<size_t>(expert_gemm_tile_capacity(kTokens, n_experts)));
      const bool gemv = kTokens <= kGemvMaxSlots * n_experts;
      us[column++] = timer.median_us([&](int rep) {
        m.a_views = sets.views[static_cast<size_t>(rep) % sets.views.size()].data();
        if (gemv) {
          launch_expert_gemv(m, nullptr);
        } else {
          launch_expert_gemm_tiled(m, tiles.data(), nullptr);
        }
      });
      if (format == DeviceFormat::kF16) {
        const float alpha = 1.0f;
        const float beta = 0.0f;
        us[0] = timer.median_us([&](int rep) {
          const size_t set = static_cast<size_t>(rep) % sets.views.size();
          for (int e = 0; e < n_experts; ++e) {
            const int rows = offsets[static_cast<size_t>(e) + 1] - offsets[static_cast<size_t>(e)];
            const MatrixView& w = sets.matrices[set * static_cast<size_t>(n_experts) + static_cast<size_t>(e)].view();
            // Column-major: y^T [out, rows] = W [in, out]^T · x^T [in, rows].
            check_cublas(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(kOut), rows, static_cast<int>(kIn),
                                      &alpha, w.data, CUDA_R_16F, static_cast<int>(w.row_pitch / 2),
                                      d_x_half.data() + offsets[static_cast<size_t>(e)] * kIn, CUDA_R_16F,
                                      static_cast<int>(kIn), &beta, d_y.data() + offsets[static_cast<size_t>(e)] * kOut,
                                      CUDA_R_32F, static_cast<int>(kOut), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                         "cublasGemmEx");
          }
        });
      }
    }
    fmt::print("| {} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.2f}× | {:.2f}× | {:.0f}% |\n", n_experts, us[0], us[1], us[2],
               us[3], us[0] / us[2], us[0] / us[3], 100.0 * int4_bytes / (us[3] * 1e-6) / 1e9 / bandwidth_gbs);
  }
  cublasDestroy(handle);
}

// An int4 g128 matrix in the engine's CPU layout, which DeviceMoeFfn takes (constant bytes time the
// same as real weights).
kernels::WeightMatrix int4_matrix(int64_t rows, int64_t cols, std::vector<uint8_t>& cpu_bytes,
                                  std::vector<uint16_t>& scales) {
  constexpr int64_t kGroup = 128;
  kernels::WeightMatrix w;
  w.rows = rows;
  w.cols = cols;
  w.format = kernels::WeightFormat::kInt4Group;
  w.dtype = DType::kU8;
  cpu_bytes.assign(static_cast<size_t>(rows * cols / 2), 0x5a);
  scales.assign(static_cast<size_t>(rows * cols / kGroup), f32_to_f16(0.01f));
  w.data = cpu_bytes.data();
  w.scales = scales.data();
  w.scale_dtype = DType::kF16;
  w.group_size = kGroup;
  return w;
}

void mixtral_block(Timer& timer, double bandwidth_gbs) {
  constexpr int64_t kHidden = 4096;
  constexpr int64_t kFfn = 14336;
  constexpr int kExperts = 8;
  constexpr int kTopK = 2;
  fmt::print("\n## Mixtral-shaped MoE block, int4 g128 experts (hidden {}, {} experts × {}, top-{})\n\n", kHidden,
             kExperts, kFfn, kTopK);
  std::mt19937 rng(2);
  std::vector<float> router_values(static_cast<size_t>(kExperts * kHidden));
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (float& v : router_values) v = normal(rng);
  kernels::WeightMatrix router;
  router.rows = kExperts;
  router.cols = kHidden;
  router.data = router_values.data();
  std::vector<std::vector<uint8_t>> bytes(3);
  std::vector<std::vector<uint16_t>> scales(3);
  const ExpertWeights expert{int4_matrix(kFfn, kHidden, bytes[0], scales[0]), int4_matrix(kFfn, kHidden, bytes[1], scales[1]),
                             int4_matrix(kHidden, kFfn, bytes[2], scales[2])};
  const std::vector<ExpertWeights> experts(kExperts, expert);
  constexpr int64_t kMaxTokens = 8;
  DeviceMoeFfn block(router, experts, kTopK, true, kMaxTokens, "mixtral bench");
  const double bytes_per_expert = static_cast<double>(block.weight_bytes()) / kExperts;
  fmt::print("| tokens | µs per step | experts touched | GB/s of touched weights | of BW |\n|---|---|---|---|---|\n");
  for (int64_t tokens : {int64_t{1}, int64_t{2}, int64_t{4}, int64_t{8}}) {
    std::vector<float> x(static_cast<size_t>(tokens * kHidden));
    std::normal_distribution<float> activations(0.0f, 1.0f);
    for (float& v : x) v = activations(rng);
    const DeviceBuffer<float> d_x = to_device(x);
    DeviceBuffer<float> d_out(x.size());
    const double us = timer.median_us([&](int) { block.forward(d_x.data(), tokens, nullptr, d_x.data(), d_out.data(), nullptr); });
    const std::vector<int32_t> offsets = block.last_offsets(nullptr);
    int touched = 0;
    for (int e = 0; e < kExperts; ++e) touched += offsets[static_cast<size_t>(e) + 1] > offsets[static_cast<size_t>(e)] ? 1 : 0;
    const double gbs = touched * bytes_per_expert / (us * 1e-6) / 1e9;
    fmt::print("| {} | {:.1f} | {} | {:.0f} | {:.0f}% |\n", tokens, us, touched, gbs, 100.0 * gbs / bandwidth_gbs);
  }
  fmt::print("\n(an expert is {:.0f} MB, so even one token's two experts exceed the L2 cache: weights come from DRAM)\n",
             bytes_per_expert / 1e6);
}

int run() {
  const Availability availability = probe();
  if (!availability.usable) {
    fmt::print(stderr, "cuda_moe_bench: no CUDA device: {}\n", availability.reason);
    return 1;
  }
  const DeviceInfo& device = availability.devices[0];
  const double bandwidth = measure_read_bandwidth_gbs(size_t{2} << 30, 7);
  fmt::print("# cuda_moe_bench on {}\n\nread bandwidth measured in this run: {:.0f} GB/s (driver's peak figure {:.0f} GB/s)\n",
             describe(device), bandwidth, device.peak_bandwidth_gbs);
  Timer timer;
  table1(timer, bandwidth);
  mixtral_block(timer, bandwidth);
  return 0;
}

}  // namespace
}  // namespace elephant::cuda

int main() {
  try {
    return elephant::cuda::run();
  } catch (const elephant::Error& e) {
    fmt::print(stderr, "cuda_moe_bench: {}\n", e.what());
    return 1;
  }
}
