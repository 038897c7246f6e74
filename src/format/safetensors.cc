#include "format/safetensors.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_excerpt.h"

namespace elephant::format {
namespace {

// A header larger than this is not a real checkpoint (the largest real headers are a few MB);
// refusing early avoids parsing garbage of arbitrary size.
constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;

uint64_t read_u64_le(const std::byte* data) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(data[i]);
  return value;
}

}  // namespace

int64_t TensorView::numel() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

std::string TensorView::shape_string() const {
  return fmt::format("[{}] {}", fmt::join(shape, ", "), dtype_name(dtype));
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile(path));
  file->parse();
  return file;
}

void SafetensorsFile::parse() {
  const std::string file_name = path().string();
  const std::span<const std::byte> bytes = mapping_.bytes();
  if (bytes.size() < 8) {
    fail("{}: file is {} bytes, too short for a safetensors header (8-byte length + JSON); truncated?",
         file_name, bytes.size());
  }
  const uint64_t header_bytes = read_u64_le(bytes.data());
  if (header_bytes > kMaxHeaderBytes) {
    fail("{}: header length field says {} bytes (limit {}): not a safetensors file or corrupted",
         file_name, header_bytes, kMaxHeaderBytes);
  }
  if (header_bytes > bytes.size() - 8) {
    fail("{}: header claims {} bytes of JSON but the file has only {} bytes after the length field "
         "(truncated download?)",
         file_name, header_bytes, bytes.size() - 8);
  }
  const auto* header_begin = reinterpret_cast<const char*>(bytes.data() + 8);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_begin, header_begin + header_bytes);
  } catch (const nlohmann::json::exception& error) {  // parse_error, or out_of_range for a number past double
    fail("{}: header is not valid JSON: {}", file_name, error.what());
  }
  if (!header.is_object()) fail("{}: header JSON must be an object, found {}", file_name, header.type_name());

  const std::span<const std::byte> data = bytes.subspan(8 + header_bytes);
  struct Extent {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Extent> extents;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("{}: '__metadata__' must be an object of strings", file_name);
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) fail("{}: '__metadata__' value of '{}' must be a string", file_name, key);
        metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    const auto where = [&file_name, &tensor = name] { return fmt::format("{}: tensor '{}'", file_name, tensor); };
    if (!entry.is_object()) fail("{}: entry must be an object, found {}", where(), entry.type_name());
    for (const char* field : {"dtype", "shape", "data_offsets"}) {
      if (!entry.contains(field)) fail("{}: missing field '{}'", where(), field);
    }
    TensorView view;
    view.name = name;
    view.file = &mapping_.path();
    const auto& dtype_field = entry["dtype"];
    if (!dtype_field.is_string()) fail("{}: 'dtype' must be a string", where());
    const auto dtype = dtype_from_name(dtype_field.get<std::string>());
    if (!dtype) {
      fail("{}: dtype '{}' is not supported (supported: F32, F16, BF16, I8, U8, I32, I64)", where(),
           dtype_field.get<std::string>());
    }
    view.dtype = *dtype;
    const auto& shape_field = entry["shape"];
    if (!shape_field.is_array()) fail("{}: 'shape' must be an array of non-negative integers", where());
    // Bounding the byte count (not only the element count) keeps numel × dtype size from wrapping
    // around to a small number that the offsets could match; bounding each extent keeps it an
    // int64_t even next to a zero extent.
    const uint64_t max_numel = (uint64_t{1} << 62) / dtype_size_bytes(view.dtype);
    uint64_t numel = 1;
    for (const auto& dim : shape_field) {
      if (!dim.is_number_unsigned()) {
        fail("{}: 'shape' must be an array of non-negative integers, found {}", where(), json_excerpt(shape_field));
      }
      const uint64_t extent = dim.get<uint64_t>();
      if (extent > max_numel || (extent != 0 && numel > max_numel / extent)) {
        fail("{}: shape {} of {} overflows (more than 2^62 bytes)", where(), json_excerpt(shape_field),
             dtype_name(view.dtype));
      }
      numel *= extent;
      view.shape.push_back(static_cast<int64_t>(extent));
    }
    const auto& offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned()) {
      fail("{}: 'data_offsets' must be [begin, end] with non-negative integers, found {}", where(), json_excerpt(offsets));
    }
    const uint64_t begin = offsets[0].get<uint64_t>();
    const uint64_t end = offsets[1].get<uint64_t>();
    if (begin > end) fail("{}: data_offsets [{}, {}] has begin after end", where(), begin, end);
    if (end > data.size()) {
      fail("{}: data_offsets [{}, {}] reach past the end of the data section ({} bytes; truncated file?)", where(),
           begin, end, data.size());
    }
    const uint64_t expected_bytes = numel * dtype_size_bytes(view.dtype);
    if (end - begin != expected_bytes) {
      fail("{}: shape {} of {} needs {} bytes but data_offsets [{}, {}] span {} bytes", where(), json_excerpt(shape_field),
           dtype_name(view.dtype), expected_bytes, begin, end, end - begin);
    }
    view.bytes = data.subspan(begin, end - begin);
    auto [it, inserted] = tensors_.emplace(name, std::move(view));
    extents.push_back({begin, end, &it->first});
  }
  std::sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < extents.size(); ++i) {
    if (extents[i].begin < extents[i - 1].end) {
      fail("{}: tensors '{}' [{}, {}] and '{}' [{}, {}] overlap in the data section", file_name,
           *extents[i - 1].name, extents[i - 1].begin, extents[i - 1].end, *extents[i].name, extents[i].begin,
           extents[i].end);
    }
  }
}

}  // namespace elephant::format
