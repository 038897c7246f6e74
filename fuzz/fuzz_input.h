// Shared by the fuzz targets: inputs that the code under test reads from a file are written to a
// per-process scratch file first (the loaders take paths, as the CLI gives them), and the only
// exceptions a bad input may raise are the ones the CLI and the server turn into messages.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace elephant::fuzz {

// A directory of this process's own (in memory where /dev/shm exists), removed at exit.
struct ScratchDir {
  std::filesystem::path path;
  ScratchDir() {
    const std::filesystem::path shm = "/dev/shm";
    const auto base = std::filesystem::is_directory(shm) ? shm : std::filesystem::temp_directory_path();
    path = base / ("elephant-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

inline const std::filesystem::path& scratch_dir() {
  static const ScratchDir dir;
  return dir.path;
}

// A file named `name` in the scratch directory, holding exactly `size` bytes.
inline std::filesystem::path write_scratch_file(const std::string& name, const uint8_t* data, size_t size) {
  const auto path = scratch_dir() / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

// The scratch directory, holding `name` as a link to `target` (a fixed companion of the fuzzed
// file, e.g. a checkpoint's tensors next to a fuzzed config.json).
inline std::filesystem::path scratch_dir_with_link(const std::string& name, const std::filesystem::path& target) {
  const auto link = scratch_dir() / name;
  if (!std::filesystem::exists(link)) std::filesystem::create_symlink(target, link);
  return scratch_dir();
}

}  // namespace elephant::fuzz
