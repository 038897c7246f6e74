// The CUDA backend's runtime: finding a usable device, checked CUDA calls, and device buffers.
//
// Binaries link the CUDA runtime statically, so they start on machines without a driver or GPU.
// `probe()` never throws: it says whether a device can be used and, if not, why (no driver, no
// device, a device older than the architectures this build targets). Everything else throws
// elephant::Error naming the CUDA call, the error and where it happened.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace elephant::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  int multiprocessors = 0;
  size_t total_memory = 0;
  double peak_bandwidth_gbs = 0.0;  // from the memory clock and bus width the driver reports
};

struct Availability {
  bool usable = false;
  std::string reason;               // why not, when !usable
  std::vector<DeviceInfo> devices;  // every device the driver lists, usable or not
};

// Also checks that device 0 has a compute capability this build has code for (sm_80 or newer).
Availability probe();

// A one-line description for logs and errors: "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)".
std::string describe(const DeviceInfo& device);

// Throws Error("CUDA: <expr> failed at file:line: <name>: <description>") unless status is success.
void check(cudaError_t status, const char* expr, const char* file, int line);
// After a kernel launch: launch-configuration errors surface here, not at the next call.
void check_launch(const char* kernel, const char* file, int line);

// A launcher's precondition on its arguments (checked on the host, before any launch).
void require(bool ok, const char* condition, const char* file, int line);

#define ELEPHANT_CUDA_CHECK(expr) ::elephant::cuda::check((expr), #expr, __FILE__, __LINE__)
#define ELEPHANT_CUDA_CHECK_LAUNCH(kernel) ::elephant::cuda::check_launch(kernel, __FILE__, __LINE__)
#define ELEPHANT_CUDA_REQUIRE(ok, condition) ::elephant::cuda::require((ok), condition, __FILE__, __LINE__)

// Owning device allocation of n elements of T (uninitialised). Move-only.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) : size_(n) {
    if (n > 0) ELEPHANT_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), n * sizeof(T)));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept : data_(other.data_), size_(other.size_) {
    other.data_ = nullptr;
    other.size_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = other.data_;
      size_ = other.size_;
      other.data_ = nullptr;
      other.size_ = 0;
    }
    return *this;
  }
  ~DeviceBuffer() { release(); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }

  void upload(const T* host, size_t n) {
    check_fits(n);
    if (n > 0) ELEPHANT_CUDA_CHECK(cudaMemcpy(data_, host, n * sizeof(T), cudaMemcpyHostToDevice));
  }
  void upload(const std::vector<T>& host) { upload(host.data(), host.size()); }
  std::vector<T> download() const {
    std::vector<T> host(size_);
    if (size_ > 0) ELEPHANT_CUDA_CHECK(cudaMemcpy(host.data(), data_, size_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  void release() {
    if (data_ != nullptr) cudaFree(data_);
    data_ = nullptr;
    size_ = 0;
  }
  void check_fits(size_t n) const;

  T* data_ = nullptr;
  size_t size_ = 0;
};

[[noreturn]] void fail_buffer_overflow(size_t capacity, size_t requested, size_t element_size);

template <typename T>
void DeviceBuffer<T>::check_fits(size_t n) const {
  if (n > size_) fail_buffer_overflow(size_, n, sizeof(T));
}

template <typename T>
DeviceBuffer<T> to_device(const std::vector<T>& host) {
  DeviceBuffer<T> buffer(host.size());
  buffer.upload(host);
  return buffer;
}

}  // namespace elephant::cuda
