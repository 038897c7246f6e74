// Random-weight checkpoints for benchmarks: the model's own loader decides which tensors exist
// (it asks for each by name and shape), so no list of tensor names is repeated here.
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/parallel.h"
#include "format/checkpoint.h"

namespace elephant::format {
namespace {

// splitmix64: a counter-based generator, so every element is computed independently (and in
// parallel) from (seed, tensor, index).
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

const std::filesystem::path& random_path() {
  static const std::filesystem::path path("<random weights>");
  return path;
}

}  // namespace

std::unique_ptr<Checkpoint> Checkpoint::random(nlohmann::json config, DType dtype, uint64_t seed) {
  if (dtype != DType::kF32 && dtype != DType::kBF16 && dtype != DType::kF16) {
    fail("random weights: dtype {} is not supported (F32, BF16, F16)", dtype_name(dtype));
  }
  auto checkpoint = std::make_unique<Checkpoint>();
  checkpoint->directory_ = random_path();
  checkpoint->config_path_ = random_path() / "config.json";
  checkpoint->config_ = std::move(config);
  checkpoint->random_ = RandomSource{dtype, seed};
  return checkpoint;
}

const TensorView& Checkpoint::synthesize(const std::string& name, const std::vector<int64_t>& shape) const {
  const DType dtype = random_->dtype;
  int64_t numel = 1;
  for (int64_t extent : shape) numel *= extent;
  auto& bytes = random_bytes_[name];
  bytes.resize(static_cast<size_t>(numel) * dtype_size_bytes(dtype));
  const uint64_t stream = mix(random_->seed ^ std::hash<std::string>{}(name));
  const bool is_vector = shape.size() == 1;
  const bool is_norm = name.find("norm") != std::string::npos;
  const float bound = is_vector ? 0.1f : 1.0f / std::sqrt(static_cast<float>(shape.back()));
  std::byte* out = bytes.data();
  parallel_for(numel, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const double unit = static_cast<double>(mix(stream + static_cast<uint64_t>(i)) >> 11) * 0x1.0p-53;
      const float value = (is_norm ? 1.0f : 0.0f) + bound * static_cast<float>(2.0 * unit - 1.0);
      if (dtype == DType::kF32) {
        std::memcpy(out + i * 4, &value, 4);
      } else {
        const uint16_t half = dtype == DType::kBF16 ? f32_to_bf16(value) : f32_to_f16(value);
        std::memcpy(out + i * 2, &half, 2);
      }
    }
  });
  TensorView& view = random_views_[name];
  view.name = name;
  view.dtype = dtype;
  view.shape = shape;
  view.bytes = {bytes.data(), bytes.size()};
  view.file = &random_path();
  tensors_[name] = &view;
  std::lock_guard lock(used_mutex_);
  used_.insert(name);
  return view;
}

}  // namespace elephant::format
