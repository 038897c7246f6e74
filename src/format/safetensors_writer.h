// Writer for .safetensors files (the layout safetensors.h reads): 8-byte little-endian header
// length, the JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {...}} padded with
// spaces to a multiple of 8 bytes so tensor data stays 8-byte aligned, then the tensors' bytes in
// the order they were added.
//
// Tensors are declared first (name, dtype, shape) and their bytes produced only while writing,
// one tensor at a time, so a model far larger than memory can be converted with one tensor's
// worth of buffer. The file appears under its final name only when complete (written to
// "<path>.partial", then renamed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace elephant::format {

class SafetensorsWriter {
 public:
  // Fills `out` (exactly the tensor's byte size) with the tensor's bytes.
  using Producer = std::function<void(std::span<std::byte> out)>;
  // Called after each tensor is written: (tensors written, tensors in total, name).
  using Progress = std::function<void(size_t done, size_t total, const std::string& name)>;

  // Throws Error on a duplicate name or a shape whose byte size overflows.
  void add(const std::string& name, DType dtype, const std::vector<int64_t>& shape, Producer producer);
  // Copies `bytes` (which must outlive write()) as the tensor's data; its size must match the shape.
  void add(const std::string& name, DType dtype, const std::vector<int64_t>& shape, std::span<const std::byte> bytes);
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

  // Writes the file; throws Error naming the path on I/O failure.
  void write(const std::filesystem::path& path, const Progress& progress = {}) const;

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    size_t size_bytes;
    Producer producer;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace elephant::format
