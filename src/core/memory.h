// What the kernel says about this machine's memory, and giving pages back to it: the model's
// load-time copies of its weights (models/interleaved_copies.h) must fit next to the weights, and
// the mapped pages they were copied from need not stay in the process once copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace elephant {

// From /proc/meminfo: MemTotal, and MemAvailable (what new allocations can take without swapping:
// free memory plus reclaimable page cache); nullopt where the kernel does not report them.
struct MemoryInfo {
  int64_t total_bytes = 0;
  int64_t available_bytes = 0;
};
std::optional<MemoryInfo> memory_info();

// Asks the kernel to reclaim the pages lying wholly inside [data, data + bytes) (MADV_PAGEOUT).
// Contents never change: clean pages of a mapped file are dropped and read from the file again if
// touched, anonymous pages stay (or go to swap). A kernel without MADV_PAGEOUT ignores the request.
void release_pages(const void* data, size_t bytes);

}  // namespace elephant
