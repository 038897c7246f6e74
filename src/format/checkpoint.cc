#include "format/checkpoint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace elephant::format {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream stream(path);
  if (!stream) fail("{}: cannot open", path.string());
  std::stringstream text;
  text << stream.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& error) {  // parse_error, or out_of_range for a number past double
    fail("{}: not valid JSON: {}", path.string(), error.what());
  }
}

std::unique_ptr<Checkpoint> Checkpoint::open(const std::filesystem::path& directory) {
  auto checkpoint = std::make_unique<Checkpoint>();
  checkpoint->directory_ = directory;
  if (!std::filesystem::is_directory(directory)) {
    fail("{}: not a model directory (expected a folder with config.json and *.safetensors)", directory.string());
  }
  checkpoint->config_path_ = directory / "config.json";
  if (!std::filesystem::exists(checkpoint->config_path_)) {
    fail("{}: missing config.json (expected a Hugging Face model directory)", directory.string());
  }
  checkpoint->config_ = read_json_file(checkpoint->config_path_);
  if (!checkpoint->config_.is_object()) fail("{}: must hold a JSON object", checkpoint->config_path_.string());

  const auto index_path = directory / "model.safetensors.index.json";
  const auto single_path = directory / "model.safetensors";
  if (std::filesystem::exists(index_path)) {
    const nlohmann::json index = read_json_file(index_path);
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
      fail("{}: expected an object with a 'weight_map' object", index_path.string());
    }
    std::map<std::string, SafetensorsFile*> shards;
    for (const auto& [name, shard] : index["weight_map"].items()) {
      if (!shard.is_string()) fail("{}: weight_map['{}'] must be a file name", index_path.string(), name);
      const std::string shard_name = shard.get<std::string>();
      if (shard_name.find('/') != std::string::npos || shard_name == "..") {
        fail("{}: weight_map['{}'] = '{}' must be a file name inside the directory", index_path.string(), name,
             shard_name);
      }
      auto it = shards.find(shard_name);
      if (it == shards.end()) {
        const auto shard_path = directory / shard_name;
        if (!std::filesystem::exists(shard_path)) {
          fail("{}: weight_map['{}'] names shard '{}', which does not exist", index_path.string(), name, shard_name);
        }
        checkpoint->files_.push_back(SafetensorsFile::open(shard_path));
        it = shards.emplace(shard_name, checkpoint->files_.back().get()).first;
      }
      const auto& shard_tensors = it->second->tensors();
      const auto tensor = shard_tensors.find(name);
      if (tensor == shard_tensors.end()) {
        fail("{}: index says tensor '{}' is in this shard, but it is not", it->second->path().string(), name);
      }
      checkpoint->tensors_[name] = &tensor->second;
    }
    for (const auto& file : checkpoint->files_) {
      for (const auto& [name, view] : file->tensors()) {
        if (!checkpoint->tensors_.count(name)) {
          warn(fmt::format("{}: tensor '{}' is not listed in {}; ignored", file->path().string(), name,
                           index_path.filename().string()));
        }
      }
    }
  } else if (std::filesystem::exists(single_path)) {
    checkpoint->files_.push_back(SafetensorsFile::open(single_path));
    for (const auto& [name, view] : checkpoint->files_.back()->tensors()) checkpoint->tensors_[name] = &view;
  } else {
    fail("{}: no model.safetensors or model.safetensors.index.json found", directory.string());
  }
  return checkpoint;
}

const TensorView* Checkpoint::find(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) return nullptr;
  std::lock_guard lock(used_mutex_);
  used_.insert(name);
  return it->second;
}

const TensorView& Checkpoint::require(const std::string& name, const std::vector<int64_t>& expected_shape) const {
  const TensorView* view = find(name);
  if (view == nullptr && random_) view = &synthesize(name, expected_shape);
  if (view == nullptr) {
    fail("{}: tensor '{}' is missing (expected shape [{}]; the config implies it)", directory_.string(), name,
         fmt::join(expected_shape, ", "));
  }
  if (view->shape != expected_shape) {
    fail("{}: tensor '{}': expected shape [{}], found {}{}", view->file->string(), name, fmt::join(expected_shape, ", "),
         view->shape_string(),
         (view->shape.size() == 2 && expected_shape.size() == 2 && view->shape[0] == expected_shape[1] &&
          view->shape[1] == expected_shape[0])
             ? " (transposed? check the converter)"
             : " (does config.json match the weights?)");
  }
  if (!dtype_is_float(view->dtype)) {
    fail("{}: tensor '{}' has dtype {}, expected a float dtype (F32, F16 or BF16)", view->file->string(), name,
         dtype_name(view->dtype));
  }
  return *view;
}

Checkpoint::FileRegion Checkpoint::locate(std::span<const std::byte> bytes) const {
  for (const auto& file : files_) {
    const auto mapped = file->mapped_bytes();
    if (bytes.data() >= mapped.data() && bytes.data() + bytes.size() <= mapped.data() + mapped.size()) {
      return {file->path(), bytes.data() - mapped.data(), static_cast<int64_t>(bytes.size())};
    }
  }
  fail("{}: these weights are not stored in a checkpoint file (a random-weight model cannot be offloaded; "
       "write it to disk first, e.g. with `elephant quantize --random-model`)", directory_.string());
}

void Checkpoint::warn_unused_tensors(const std::string& model_type) const {
  for (const auto& unused : unused_tensor_names()) {
    warn(fmt::format("{}: tensor '{}' is not used by the {} model; ignored", directory_.string(), unused, model_type));
  }
}

std::vector<std::string> Checkpoint::unused_tensor_names() const {
  std::lock_guard lock(used_mutex_);
  std::vector<std::string> unused;
  for (const auto& [name, view] : tensors_) {
    if (!used_.count(name)) unused.push_back(name);
  }
  return unused;
}

}  // namespace elephant::format
