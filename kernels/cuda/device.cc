#include "kernels/cuda/device.h"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include "core/error.h"

namespace elephant::cuda {

namespace {

// The oldest architecture CMAKE_CUDA_ARCHITECTURES builds code for (CMakeLists.txt).
constexpr int kMinimumComputeMajor = 8;

std::string error_text(cudaError_t status) {
  return fmt::format("{}: {}", cudaGetErrorName(status), cudaGetErrorString(status));
}

}  // namespace

Availability probe() {
  Availability availability;
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    availability.reason = fmt::format("no usable CUDA driver or device ({})", error_text(status));
    cudaGetLastError();  // the runtime keeps the error sticky per thread otherwise
    return availability;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp props{};
    if (cudaGetDeviceProperties(&props, i) != cudaSuccess) continue;
    DeviceInfo info;
    info.index = i;
    info.name = props.name;
    info.compute_major = props.major;
    info.compute_minor = props.minor;
    info.multiprocessors = props.multiProcessorCount;
    info.total_memory = props.totalGlobalMem;
    int memory_clock_khz = 0;
    int bus_width_bits = 0;
    if (cudaDeviceGetAttribute(&memory_clock_khz, cudaDevAttrMemoryClockRate, i) == cudaSuccess &&
        cudaDeviceGetAttribute(&bus_width_bits, cudaDevAttrGlobalMemoryBusWidth, i) == cudaSuccess) {
      // Double data rate: two transfers per clock.
      info.peak_bandwidth_gbs = 2.0 * memory_clock_khz * 1e3 * (bus_width_bits / 8.0) / 1e9;
    }
    availability.devices.push_back(info);
  }
  if (availability.devices.empty()) {
    availability.reason = "the CUDA driver lists no device";
  } else if (availability.devices[0].compute_major < kMinimumComputeMajor) {
    availability.reason = fmt::format("{} is older than sm_80, the oldest architecture this build targets",
                                      describe(availability.devices[0]));
  } else {
    availability.usable = true;
  }
  return availability;
}

std::string describe(const DeviceInfo& device) {
  return fmt::format("{} (sm_{}{}, {} SMs, {:.1f} GiB)", device.name, device.compute_major, device.compute_minor,
                     device.multiprocessors, static_cast<double>(device.total_memory) / (1024.0 * 1024.0 * 1024.0));
}

void check(cudaError_t status, const char* expr, const char* file, int line) {
  if (status == cudaSuccess) return;
  cudaGetLastError();
  fail("CUDA: {} failed at {}:{}: {}", expr, file, line, error_text(status));
}

void check_launch(const char* kernel, const char* file, int line) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) fail("CUDA: launching {} failed at {}:{}: {}", kernel, file, line, error_text(status));
}

void require(bool ok, const char* condition, const char* file, int line) {
  if (!ok) fail("CUDA: invalid arguments at {}:{}: expected {}", file, line, condition);
}

void fail_buffer_overflow(size_t capacity, size_t requested, size_t element_size) {
  fail("CUDA: copying {} elements of {} bytes into a device buffer of {} elements", requested, element_size, capacity);
}

}  // namespace elephant::cuda
