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

// A file named `name` in a directory of this process's own, holding exactly `size` bytes.
inline std::filesystem::path write_scratch_file(const std::string& name, const uint8_t* data, size_t size) {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path shm = "/dev/shm";
    const auto base = std::filesystem::is_directory(shm) ? shm : std::filesystem::temp_directory_path();
    auto d = base / ("elephant-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  const auto path = dir / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

}  // namespace elephant::fuzz
