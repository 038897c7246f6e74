// A .safetensors file of arbitrary bytes: SafetensorsFile::open either validates it, and then
// every view it hands out lies inside the mapping with shape × dtype size = byte size, or throws
// elephant::Error.
#include <cstdint>
#include <cstdlib>

#include "core/error.h"
#include "format/safetensors.h"
#include "fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = elephant::fuzz::write_scratch_file("model.safetensors", data, size);
  try {
    const auto file = elephant::format::SafetensorsFile::open(path);
    const auto mapped = file->mapped_bytes();
    for (const auto& [name, view] : file->tensors()) {
      const std::byte* begin = view.bytes.data();
      const bool inside = view.bytes.empty() ||
                          (begin >= mapped.data() && begin + view.bytes.size() <= mapped.data() + mapped.size());
      const size_t expected_bytes = static_cast<size_t>(view.numel()) * elephant::dtype_size_bytes(view.dtype);
      if (!inside || expected_bytes != view.bytes.size()) std::abort();
    }
  } catch (const elephant::Error&) {
  }
  return 0;
}
