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

// A file named `name` in the scratch directory, holding exactly `size` bytes.
inline std::filesystem::path write_scratch_file(const std::string& name, const uint8_t* data, size_t size) {
  static const ScratchDir dir;
  const auto path = dir.path / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

}  // namespace elephant::fuzz
