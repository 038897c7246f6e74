// A Hugging Face checkpoint directory: config.json plus either model.safetensors or shards listed
// in model.safetensors.index.json. Tensors are looked up by name across shards; every lookup is
// recorded so that tensors no layer read can be reported (a checkpoint/family mismatch shows up
// as unused tensors, never as silently ignored weights).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "format/safetensors.h"

namespace elephant::format {

class Checkpoint {
 public:
  // Opens the directory; validates every file's header and, for sharded checkpoints, that the
  // index and the shards agree.
  static std::unique_ptr<Checkpoint> open(const std::filesystem::path& directory);
  // A checkpoint of random weights for `config` (benchmarks need no download): each tensor the
  // model requires is created on its first request, with the requested shape, in `dtype`
  // (random_checkpoint.cc). 1-D tensors (norms, biases) are near 1 / near 0, matrices uniform in
  // ±1/sqrt(cols), so activations keep unit scale through the layers.
  static std::unique_ptr<Checkpoint> random(nlohmann::json config, DType dtype, uint64_t seed);

  const std::filesystem::path& directory() const { return directory_; }
  const nlohmann::json& config() const { return config_; }
  const std::filesystem::path& config_path() const { return config_path_; }

  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  // The tensor, checked against the expected shape; throws Error naming the file and tensor.
  const TensorView& require(const std::string& name, const std::vector<int64_t>& expected_shape) const;
  const TensorView* find(const std::string& name) const;

  const std::map<std::string, const TensorView*>& tensors() const { return tensors_; }
  std::vector<std::string> unused_tensor_names() const;
  // Warns about every tensor no layer of the `model_type` model read (a family mismatch shows up).
  void warn_unused_tensors(const std::string& model_type) const;

  // Where `bytes` (a span of a tensor view) lie on disk: for reading them again with direct I/O
  // (expert offload). Throws Error when they are not inside one of the checkpoint's files (random
  // checkpoints live in memory only).
  struct FileRegion {
    std::filesystem::path file;
    int64_t offset = 0;
    int64_t size = 0;
  };
  FileRegion locate(std::span<const std::byte> bytes) const;
  size_t file_count() const { return files_.size(); }

 private:
  std::filesystem::path directory_;
  std::filesystem::path config_path_;
  nlohmann::json config_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  mutable std::map<std::string, const TensorView*> tensors_;  // random checkpoints add on request
  mutable std::mutex used_mutex_;
  mutable std::set<std::string> used_;

  struct RandomSource {
    DType dtype;
    uint64_t seed;
  };
  std::optional<RandomSource> random_;
  // Random tensors created on request; a std::map keeps views and bytes at stable addresses.
  mutable std::map<std::string, std::vector<std::byte>> random_bytes_;
  mutable std::map<std::string, TensorView> random_views_;
  const TensorView& synthesize(const std::string& name, const std::vector<int64_t>& shape) const;
};

// Reads and parses a JSON file; throws Error naming the file on I/O or syntax errors.
nlohmann::json read_json_file(const std::filesystem::path& path);

}  // namespace elephant::format
