// Reader for one .safetensors file: an 8-byte little-endian header length N, N bytes of JSON
// mapping tensor names to {dtype, shape, data_offsets:[begin,end]} (offsets relative to the end of
// the header), then the raw tensor bytes.
//
// The whole file is memory-mapped and every tensor is a view into the mapping. Everything is
// validated once here, so layers can trust a TensorView: the header fits in the file, the JSON is
// well formed, every dtype is known, offsets are ordered, in bounds and do not overlap, and
// shape × dtype size equals the byte size.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"

namespace elephant::format {

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::span<const std::byte> bytes;
  const std::filesystem::path* file = nullptr;  // the file that holds it, for error messages

  int64_t numel() const;
  std::string shape_string() const;  // "[2048, 768] BF16"
};

class SafetensorsFile {
 public:
  // Maps and validates the file; throws Error naming the file and what is wrong.
  static std::unique_ptr<SafetensorsFile> open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return mapping_.path(); }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The whole mapped file (header included), so a view's offset in the file can be recovered.
  std::span<const std::byte> mapped_bytes() const { return mapping_.bytes(); }

 private:
  explicit SafetensorsFile(const std::filesystem::path& path) : mapping_(path) {}
  void parse();

  MappedFile mapping_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace elephant::format
