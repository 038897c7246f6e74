#include "format/safetensors_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace elephant::format {
namespace {

size_t byte_size(const std::string& name, DType dtype, const std::vector<int64_t>& shape) {
  uint64_t numel = 1;
  const uint64_t limit = (uint64_t{1} << 62) / dtype_size_bytes(dtype);
  for (int64_t extent : shape) {
    if (extent < 0 || (extent != 0 && numel > limit / static_cast<uint64_t>(extent))) {
      fail("safetensors writer: tensor '{}': shape extent {} is negative or the size overflows", name, extent);
    }
    numel *= static_cast<uint64_t>(extent);
  }
  return static_cast<size_t>(numel * dtype_size_bytes(dtype));
}

}  // namespace

void SafetensorsWriter::add(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                            Producer producer) {
  const bool duplicate =
      std::any_of(entries_.begin(), entries_.end(), [&](const Entry& entry) { return entry.name == name; });
  if (duplicate || name == "__metadata__") fail("safetensors writer: tensor name '{}' is used twice or reserved", name);
  entries_.push_back({name, dtype, shape, byte_size(name, dtype, shape), std::move(producer)});
}

void SafetensorsWriter::add(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                            std::span<const std::byte> bytes) {
  const size_t expected = byte_size(name, dtype, shape);
  if (bytes.size() != expected) {
    fail("safetensors writer: tensor '{}': shape and dtype {} need {} bytes, got {}", name, dtype_name(dtype), expected,
         bytes.size());
  }
  // An empty span may carry a null pointer, which memcpy must not see even for zero bytes.
  add(name, dtype, shape, [bytes](std::span<std::byte> out) {
    if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  });
}

void SafetensorsWriter::write(const std::filesystem::path& path, const Progress& progress) const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  size_t offset = 0;
  for (const Entry& entry : entries_) {
    header[entry.name] = {{"dtype", dtype_name(entry.dtype)},
                          {"shape", entry.shape},
                          {"data_offsets", {offset, offset + entry.size_bytes}}};
    offset += entry.size_bytes;
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  const std::filesystem::path partial = path.string() + ".partial";
  std::ofstream out(partial, std::ios::binary | std::ios::trunc);
  if (!out) fail("{}: cannot open for writing", partial.string());
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(static_cast<uint64_t>(header_text.size()) >> (8 * i));
  out.write(reinterpret_cast<const char*>(length), sizeof(length));
  out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
  std::vector<std::byte> buffer;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& entry = entries_[i];
    buffer.assign(entry.size_bytes, std::byte{0});
    entry.producer(buffer);
    out.write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
    if (!out) fail("{}: write failed at tensor '{}' (disk full?)", partial.string(), entry.name);
    if (progress) progress(i + 1, entries_.size(), entry.name);
  }
  out.close();
  if (!out) fail("{}: write failed while closing", partial.string());
  std::error_code error;
  std::filesystem::rename(partial, path, error);
  if (error) fail("{}: cannot rename to {}: {}", partial.string(), path.string(), error.message());
}

}  // namespace elephant::format
