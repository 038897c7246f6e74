// NumPy .npy files (format version 1.0, little-endian float32, C order): `elephant logits` writes
// them, the tests read the Hugging Face reference logits from them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

namespace elephant::format {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> values;
};

void write_npy_f32(const std::filesystem::path& path, std::span<const float> values, const std::vector<int64_t>& shape);
// Accepts '<f4' C-order arrays only; anything else is an Error naming the file and the descriptor.
NpyArray read_npy_f32(const std::filesystem::path& path);

}  // namespace elephant::format
