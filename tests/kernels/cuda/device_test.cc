#include "kernels/cuda/device.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "support/cuda_device.h"

namespace elephant::cuda {
namespace {

TEST(CudaDevice, ProbeSaysWhyWhenNoDeviceCanBeUsed) {
  const Availability availability = probe();
  if (availability.usable) {
    ASSERT_FALSE(availability.devices.empty());
    EXPECT_GE(availability.devices[0].compute_major, 8);
    std::printf("[ device   ] %s, %.0f GB/s peak\n", describe(availability.devices[0]).c_str(),
                availability.devices[0].peak_bandwidth_gbs);
  } else {
    EXPECT_FALSE(availability.reason.empty());
    std::printf("[ device   ] none: %s\n", availability.reason.c_str());
  }
}

TEST(CudaDevice, AllocatingWithoutADeviceThrowsANamedError) {
  if (probe().usable) GTEST_SKIP() << "a device is present";
  try {
    DeviceBuffer<float> buffer(16);
    FAIL() << "allocation without a device did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cudaMalloc"), std::string::npos) << e.what();
  }
}

TEST(CudaDevice, BufferRoundTrip) {
  ELEPHANT_REQUIRE_CUDA_DEVICE();
  const std::vector<int> host = {1, -2, 3, 5, 8};
  DeviceBuffer<int> buffer = to_device(host);
  EXPECT_EQ(buffer.download(), host);
  EXPECT_THROW(buffer.upload(std::vector<int>(6)), Error);
}

}  // namespace
}  // namespace elephant::cuda
