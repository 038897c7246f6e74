// --device: where an engine's steps run. cpu is Model::forward; cuda uploads a copy of the loaded
// model to the first GPU (cuda::DeviceModel, its own KV cache addressed by the engine's slots and
// positions) and the engine's steps go through it (engine::EngineOptions::forward).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "engine/engine.h"
#include "models/model.h"

namespace elephant::cli {

void add_device_flag(CLI::App* command, std::string& device);

// Fails unless this build has the CUDA backend (the message says how to get one).
void require_cuda_build(const std::string& flag);

class DeviceRunner {
 public:
  // device "cpu": nothing to hold, forward() is empty. "cuda": uploads `model` (which must outlive
  // this) for max_sequences sequences of model.context_length() positions and up to max_step_rows
  // rows per step. Throws Error when this build has no CUDA backend, no GPU can be used, or the
  // model needs what the GPU path lacks (offloaded experts, a bf16 KV cache).
  DeviceRunner(models::Model& model, const std::string& device, int max_sequences, int max_step_rows);
  ~DeviceRunner();

  engine::ForwardFn forward() const;
  // "cpu", or the GPU's name and memory.
  std::string description() const;

 private:
  struct Gpu;
  std::unique_ptr<Gpu> gpu_;
};

}  // namespace elephant::cli
