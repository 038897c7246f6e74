#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/norm.h"
#include "kernels/cuda/rope.h"
#include "ops/ops.h"
#include "support/cuda_device.h"
#include "support/tolerance.h"

namespace elephant::cuda {
namespace {

using testing::expect_close;
using testing::kEpsF32;
using testing::max_abs;
using testing::reduction_tolerance;

std::vector<float> random_values(size_t n, float low, float high, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

struct NormCase {
  int64_t n_rows;
  int64_t dim;
  float eps;
};

TEST(CudaRmsNorm, MatchesCpu) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  for (const NormCase& c : {NormCase{5, 4096, 1e-6f}, NormCase{3, 1000, 1e-5f}, NormCase{33, 64, 1e-6f},
                            NormCase{2, 7, 1e-6f}}) {
    std::vector<float> x = random_values(static_cast<size_t>(c.n_rows * c.dim), -2.0f, 2.0f, 11);
    // Rows of very different scales: the normalised output must not depend on it.
    for (int64_t i = 0; i < c.dim; ++i) x[static_cast<size_t>(i)] *= 300.0f;
    if (c.n_rows > 1) {
      for (int64_t i = c.dim; i < 2 * c.dim; ++i) x[static_cast<size_t>(i)] *= 1e-3f;
    }
    const std::vector<float> weight = random_values(static_cast<size_t>(c.dim), 0.5f, 1.5f, 12);
    std::vector<float> expected(x.size());
    ops::rms_norm(x.data(), c.n_rows, c.dim, weight, c.eps, expected.data());

    DeviceBuffer<float> x_device = to_device(x);
    DeviceBuffer<float> weight_device = to_device(weight);
    DeviceBuffer<float> out_device(x.size());
    rms_norm(x_device.data(), weight_device.data(), out_device.data(), c.n_rows, c.dim, c.eps, nullptr);
    ELEPHANT_CUDA_CHECK(cudaDeviceSynchronize());
    // The sum of squares is a length-dim reduction summed in another order than on the CPU; its
    // relative error reaches the output through the scale (halved by the square root), plus two
    // roundings of the products.
    const double tolerance = reduction_tolerance(kEpsF32, c.dim, 1, max_abs(expected));
    const std::string what = "rms_norm " + std::to_string(c.n_rows) + "x" + std::to_string(c.dim);
    expect_close(expected, out_device.download(), tolerance, what);

    // In place (out aliasing x), as ops::rms_norm allows.
    rms_norm(x_device.data(), weight_device.data(), x_device.data(), c.n_rows, c.dim, c.eps, nullptr);
    ELEPHANT_CUDA_CHECK(cudaDeviceSynchronize());
    expect_close(expected, x_device.download(), tolerance, what + " in place");
  }
}

struct RopeCase {
  int64_t n_heads;
  int64_t head_dim;
  float theta;
};

TEST(CudaRope, MatchesCpu) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  // Large positions too: angles past 1e5 radians take sinf/cosf's slow argument reduction.
  const std::vector<int32_t> positions = {0, 1, 17, 999, 4095, 32767, 131071};
  const auto n_rows = static_cast<int64_t>(positions.size());
  for (const RopeCase& c : {RopeCase{32, 128, 1e6f}, RopeCase{8, 128, 1e6f}, RopeCase{32, 64, 10000.0f},
                            RopeCase{4, 64, 10000.0f}, RopeCase{1, 2, 10000.0f}, RopeCase{3, 80, 500000.0f}}) {
    const std::vector<float> x = random_values(static_cast<size_t>(n_rows * c.n_heads * c.head_dim), -3.0f, 3.0f, 21);
    std::vector<float> expected = x;
    ops::rope(expected.data(), n_rows, c.n_heads, c.head_dim, positions, c.theta);

    DeviceBuffer<float> x_device = to_device(x);
    DeviceBuffer<int32_t> positions_device = to_device(positions);
    rope(x_device.data(), n_rows, c.n_heads, c.head_dim, positions_device.data(), c.theta, nullptr);
    ELEPHANT_CUDA_CHECK(cudaDeviceSynchronize());
    // The angles are bit-identical (same fp32 inverse frequencies, one fp32 multiply); sinf/cosf
    // are within 2 ulp on the device and within 1 ulp in glibc, so cos and sin differ by at most
    // 3 eps, moving a·cos - b·sin by 6 eps · max|x|, plus a rounding of each product and the sum:
    // under 9 eps · max|x|, which 4 · eps · sqrt(4) · 2 · max|x| (16 eps) covers.
    const double tolerance = reduction_tolerance(kEpsF32, 4, 2, max_abs(x));
    expect_close(expected, x_device.download(), tolerance,
                 "rope " + std::to_string(c.n_heads) + " heads x " + std::to_string(c.head_dim));
  }
}

TEST(CudaRope, InverseFrequenciesAreTheCpuExpression) {
  const std::vector<float> inverse = rope_inverse_frequencies(128, 1e6f);
  ASSERT_EQ(inverse.size(), 64u);
  EXPECT_EQ(inverse[0], 1.0f);
  for (size_t i = 0; i < inverse.size(); ++i) {
    EXPECT_EQ(inverse[i], 1.0f / std::pow(1e6f, static_cast<float>(2 * i) / 128.0f)) << i;
    if (i > 0) {
      EXPECT_LT(inverse[i], inverse[i - 1]) << i;
    }
  }
}

TEST(CudaRope, RejectsHeadDimsItCannotRotate) {
  // Checked on the host before any CUDA call, so no device is needed.
  EXPECT_THROW(rope(nullptr, 1, 1, 3, nullptr, 10000.0f, nullptr), Error);
  EXPECT_THROW(rope(nullptr, 1, 1, kMaxRopeHeadDim + 2, nullptr, 10000.0f, nullptr), Error);
}

}  // namespace
}  // namespace elephant::cuda
