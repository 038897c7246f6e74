// A grid-stride read of 16 bytes per lane per step, summed so the loads cannot be elided: the same
// access pattern as the decode kernels' weight stream, so its rate is the roofline they aim at.
#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "kernels/cuda/bandwidth.h"
#include "kernels/cuda/device.h"

namespace elephant::cuda {

namespace {

__global__ void read_kernel(const uint4* data, size_t n, unsigned* sink) {
  unsigned acc = 0;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const uint4 v = __ldcs(data + i);  // streaming: no reuse, keep it out of L2's way
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x9e3779b9u) *sink = acc;  // practically never true; keeps the loads alive
}

}  // namespace

double measure_read_bandwidth_gbs(size_t bytes, int passes) {
  ELEPHANT_CUDA_REQUIRE(passes >= 1 && bytes >= sizeof(uint4), "bandwidth: at least one pass over at least 16 bytes");
  const size_t n = bytes / sizeof(uint4);
  DeviceBuffer<uint4> data(n);
  DeviceBuffer<unsigned> sink(1);
  ELEPHANT_CUDA_CHECK(cudaMemset(data.data(), 1, n * sizeof(uint4)));
  int device = 0;
  int multiprocessors = 0;
  ELEPHANT_CUDA_CHECK(cudaGetDevice(&device));
  ELEPHANT_CUDA_CHECK(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device));
  const unsigned blocks = static_cast<unsigned>(multiprocessors) * 8;
  cudaEvent_t start;
  cudaEvent_t stop;
  ELEPHANT_CUDA_CHECK(cudaEventCreate(&start));
  ELEPHANT_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<double> rates;
  for (int pass = -1; pass < passes; ++pass) {
    ELEPHANT_CUDA_CHECK(cudaEventRecord(start));
    read_kernel<<<blocks, 256>>>(data.data(), n, sink.data());
    ELEPHANT_CUDA_CHECK_LAUNCH("read_kernel");
    ELEPHANT_CUDA_CHECK(cudaEventRecord(stop));
    ELEPHANT_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    ELEPHANT_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    if (pass >= 0) rates.push_back(static_cast<double>(n * sizeof(uint4)) / (ms * 1e-3) / 1e9);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

}  // namespace elephant::cuda
