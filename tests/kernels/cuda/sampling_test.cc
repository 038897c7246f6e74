#include "kernels/cuda/sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/sampler.h"
#include "kernels/cuda/device.h"
#include "support/cuda_device.h"

namespace elephant::cuda {
namespace {

// The CPU's greedy choice: Sampler at temperature 0.
int32_t cpu_greedy(std::vector<float> row) {
  engine::Sampler sampler(engine::SamplingOptions{});
  return sampler.sample(row, {});
}

void check_rows(const std::vector<float>& logits, int64_t n_rows, int64_t vocab, const std::string& what) {
  DeviceBuffer<float> logits_device = to_device(logits);
  DeviceBuffer<int32_t> out(static_cast<size_t>(n_rows));
  argmax(logits_device.data(), n_rows, vocab, out.data(), nullptr);
  ELEPHANT_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<int32_t> ids = out.download();
  for (int64_t r = 0; r < n_rows; ++r) {
    const auto begin = logits.begin() + r * vocab;
    EXPECT_EQ(ids[static_cast<size_t>(r)], cpu_greedy(std::vector<float>(begin, begin + vocab)))
        << what << " row " << r;
  }
}

TEST(CudaArgmax, MatchesGreedySamplingOnRandomLogits) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 4.0f);
  for (const auto& [n_rows, vocab] : {std::pair<int64_t, int64_t>{3, 151936}, {5, 1000}, {2, 32000}, {4, 1}, {1, 1025}}) {
    std::vector<float> logits(static_cast<size_t>(n_rows * vocab));
    for (float& v : logits) v = dist(rng);
    check_rows(logits, n_rows, vocab, std::to_string(n_rows) + "x" + std::to_string(vocab));
  }
}

constexpr int64_t kCraftedVocab = 151936;

// Ties, infinities and NaNs, each with the id the CPU picks.
struct Crafted {
  std::vector<std::vector<float>> rows;
  std::vector<int32_t> expected;
};

Crafted crafted_rows() {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Crafted c;
  const auto row = [&](float fill, int32_t expected) -> std::vector<float>& {
    c.rows.emplace_back(static_cast<size_t>(kCraftedVocab), fill);
    c.expected.push_back(expected);
    return c.rows.back();
  };
  // The maximum repeated in different threads' and warps' strides: the lowest id wins.
  std::vector<float>& repeated = row(0.0f, 1027);
  for (int32_t id : {151935, 70001, 1027, 5000}) repeated[static_cast<size_t>(id)] = 3.5f;
  row(-1.0f, 0);  // every logit equal
  row(-inf, 0);   // every logit -inf
  row(1.0f, kCraftedVocab - 1)[kCraftedVocab - 1] = 2.0f;
  std::vector<float>& infinities = row(1.0f, 99999);
  infinities[99999] = inf;
  infinities[123456] = inf;
  std::vector<float>& nans = row(1.0f, 60000);  // NaNs after id 0 are passed over
  nans[3] = nan;
  nans[60000] = 7.0f;
  nans[60001] = nan;
  std::vector<float>& nan_first = row(1.0f, 0);  // a NaN at id 0 is kept by std::max_element
  nan_first[0] = nan;
  nan_first[17] = 9.0f;
  return c;
}

TEST(CudaArgmax, BreaksTiesAndSkipsNansAsTheCpu) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  const Crafted c = crafted_rows();
  std::vector<float> logits;
  for (const auto& row : c.rows) logits.insert(logits.end(), row.begin(), row.end());
  check_rows(logits, static_cast<int64_t>(c.rows.size()), kCraftedVocab, "crafted");
}

// Host only: the rule the kernel mirrors is the CPU's, so a change in the CPU shows up here.
TEST(CpuGreedy, PicksWhatTheKernelMirrors) {
  const Crafted c = crafted_rows();
  for (size_t r = 0; r < c.rows.size(); ++r) EXPECT_EQ(cpu_greedy(c.rows[r]), c.expected[r]) << "row " << r;
}

TEST(CudaArgmax, RejectsAnEmptyVocabulary) {
  // Checked on the host before any CUDA call, so no device is needed.
  EXPECT_THROW(argmax(nullptr, 1, 0, nullptr, nullptr), Error);
}

}  // namespace
}  // namespace elephant::cuda
