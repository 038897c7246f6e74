#include "cli/device.h"

#include "core/error.h"

#ifdef ELEPHANT_HAVE_CUDA
#include "cuda/device_model.h"
#endif

namespace elephant::cli {

void add_device_flag(CLI::App* command, std::string& device) {
  command->add_option("--device", device, "cpu (default) or cuda: run the model on the first GPU")
      ->check(CLI::IsMember({"cpu", "cuda"}));
}

void require_cuda_build(const std::string& flag) {
#ifndef ELEPHANT_HAVE_CUDA
  fail("{}: this build has no CUDA backend (configure with nvcc on the PATH or -DELEPHANT_CUDA=ON)", flag);
#else
  static_cast<void>(flag);
#endif
}

#ifdef ELEPHANT_HAVE_CUDA
struct DeviceRunner::Gpu {
  std::unique_ptr<cuda::DeviceModel> model;
};
#else
struct DeviceRunner::Gpu {};
#endif

DeviceRunner::DeviceRunner(models::Model& model, const std::string& device, int max_sequences, int max_step_rows) {
  if (device != "cuda") return;
  require_cuda_build("--device cuda");
  if (model.kv_cache_dtype() != DType::kF32) fail("--device cuda: the CUDA backend keeps K and V in fp32 (--kv-dtype f32)");
#ifdef ELEPHANT_HAVE_CUDA
  cuda::DeviceModelOptions options;
  options.max_sequences = max_sequences;
  options.context_length = static_cast<int>(model.context_length());
  options.max_batch_rows = max_step_rows;
  options.max_logit_rows = max_sequences;  // the engine wants each sequence's last row only
  gpu_ = std::make_unique<Gpu>();
  gpu_->model = std::make_unique<cuda::DeviceModel>(model, options);
#else
  static_cast<void>(max_sequences);
  static_cast<void>(max_step_rows);
#endif
}

DeviceRunner::~DeviceRunner() = default;

engine::ForwardFn DeviceRunner::forward() const {
#ifdef ELEPHANT_HAVE_CUDA
  if (gpu_) {
    cuda::DeviceModel* gpu = gpu_->model.get();
    return [gpu](const layers::RowBatch& rows, std::span<const uint8_t> logits_rows) {
      return gpu->forward(rows, logits_rows);
    };
  }
#endif
  return {};
}

std::string DeviceRunner::description() const {
#ifdef ELEPHANT_HAVE_CUDA
  if (gpu_) return cuda::describe(gpu_->model->device());
#endif
  return "cpu";
}

}  // namespace elephant::cli
