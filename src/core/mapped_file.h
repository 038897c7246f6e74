// A read-only memory mapping of a whole file. Checkpoint tensors are used in place from the
// mapping (zero-copy) whenever their dtype is one the kernels read directly.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>

namespace elephant {

class MappedFile {
 public:
  // Throws Error naming the path when the file cannot be opened or mapped.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const { return {data_, size_bytes_}; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  size_t size_bytes_ = 0;
};

}  // namespace elephant
