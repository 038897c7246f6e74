#include "format/npy.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <fstream>

#include "core/error.h"

namespace elephant::format {

void write_npy_f32(const std::filesystem::path& path, std::span<const float> values, const std::vector<int64_t>& shape) {
  std::string header = fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}{}), }}",
                                   fmt::join(shape, ", "), shape.size() == 1 ? "," : "");
  // The magic (6) + version (2) + length (2) + header + '\n' is padded to a multiple of 64 bytes.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary);
  if (!out) fail("{}: cannot open for writing", path.string());
  const char preamble[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.write(preamble, 8);
  const uint16_t header_length = static_cast<uint16_t>(header.size());
  const char length_bytes[2] = {static_cast<char>(header_length & 0xff), static_cast<char>(header_length >> 8)};
  out.write(length_bytes, 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size_bytes()));
  if (!out) fail("{}: write failed", path.string());
}

NpyArray read_npy_f32(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path.string());
  char preamble[10];
  in.read(preamble, 10);
  if (!in || std::memcmp(preamble, "\x93NUMPY", 6) != 0 || preamble[6] != 1) {
    fail("{}: not a version 1 .npy file", path.string());
  }
  const size_t header_length = static_cast<uint8_t>(preamble[8]) | (static_cast<uint8_t>(preamble[9]) << 8);
  std::string header(header_length, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_length));
  if (header.find("'descr': '<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos) {
    fail("{}: expected a C-order float32 array ('<f4'), header is {}", path.string(), header);
  }
  const size_t shape_begin = header.find("'shape': (");
  const size_t shape_end = header.find(')', shape_begin);
  if (shape_begin == std::string::npos || shape_end == std::string::npos) {
    fail("{}: no shape in header {}", path.string(), header);
  }
  NpyArray array;
  int64_t numel = 1;
  int64_t dim = -1;
  for (size_t i = shape_begin + 10; i <= shape_end; ++i) {
    const char c = header[i];
    if (c >= '0' && c <= '9') {
      dim = (dim < 0 ? 0 : dim * 10) + (c - '0');
    } else if (dim >= 0) {
      array.shape.push_back(dim);
      numel *= dim;
      dim = -1;
    }
  }
  array.values.resize(static_cast<size_t>(numel));
  in.read(reinterpret_cast<char*>(array.values.data()), static_cast<std::streamsize>(numel * sizeof(float)));
  if (!in) fail("{}: data shorter than shape [{}] implies", path.string(), fmt::join(array.shape, ", "));
  return array;
}

}  // namespace elephant::format
