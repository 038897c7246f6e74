// Helpers to build broken checkpoints at test time instead of committing them: a temporary folder
// that is removed afterwards, a copy of a committed fixture inside it, and a safetensors image
// (header JSON + data section) that can be read from a fixture, edited and written back in the
// format's layout. The input-validation tests in tests/format and tests/cli use them.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "support/fixtures.h"

namespace elephant::testing {

// A fresh, uniquely named folder under the system temp directory, removed with its contents.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "elephant-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline std::string read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_file_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

inline void write_json_file(const std::filesystem::path& path, const nlohmann::json& json) {
  write_file_bytes(path, json.dump(2));
}

// Copies the files (not the subfolders) of tests/fixtures/<fixture> into `destination`.
inline std::filesystem::path copy_fixture(const std::string& fixture, const std::filesystem::path& destination) {
  std::filesystem::create_directories(destination);
  for (const auto& entry : std::filesystem::directory_iterator(fixture_dir(fixture))) {
    if (entry.is_regular_file()) std::filesystem::copy_file(entry.path(), destination / entry.path().filename());
  }
  return destination;
}

// The 8-byte little-endian length field of a safetensors file.
inline std::string u64_le(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((value >> (8 * i)) & 0xff);
  return bytes;
}

// A safetensors file: length field, header text padded with spaces to a multiple of 8 bytes (as
// the reference writer does, so tensor data stays aligned), data section.
inline std::string safetensors_bytes(std::string header_text, std::string_view data) {
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  return u64_le(header_text.size()) + header_text + std::string(data);
}

// A parsed safetensors file whose header and data can be edited before writing it back.
struct SafetensorsImage {
  nlohmann::json header;  // tensor name -> {dtype, shape, data_offsets}, plus "__metadata__"
  std::string data;       // the data section; data_offsets are relative to its start

  // Reads a well-formed file (a committed fixture).
  static SafetensorsImage read(const std::filesystem::path& path) {
    const std::string bytes = read_file_bytes(path);
    uint64_t header_length = 0;
    for (int i = 7; i >= 0; --i)
      header_length = (header_length << 8) | static_cast<uint8_t>(bytes[static_cast<size_t>(i)]);
    SafetensorsImage image;
    image.header = nlohmann::json::parse(bytes.substr(8, header_length));
    image.data = bytes.substr(8 + header_length);
    return image;
  }

  std::string bytes() const { return safetensors_bytes(header.dump(), data); }
  void write(const std::filesystem::path& path) const { write_file_bytes(path, bytes()); }

  nlohmann::json& tensor(const std::string& name) { return header.at(name); }

  // Appends an F32 tensor of the given shape (filled with zeros) to the data section.
  void add_f32_tensor(const std::string& name, const std::vector<int64_t>& shape) {
    int64_t numel = 1;
    for (int64_t dim : shape) numel *= dim;
    const size_t begin = data.size();
    data.append(static_cast<size_t>(numel) * sizeof(float), '\0');
    header[name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {begin, data.size()}}};
  }
};

}  // namespace elephant::testing
