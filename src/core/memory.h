// What the kernel says about this machine's memory, buffers on huge pages, and giving pages back
// to it: the model's load-time copies of its weights (models/weight_copies.h) must fit next to
// the weights, live on huge pages, and the mapped pages they were copied from need not stay in the
// process once copied.
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

// Anonymous memory for the large buffers that kernels stream through (the model's weight copies,
// the expert cache's slots, the bandwidth meter's buffer), 2 MiB-aligned and advised as transparent
// huge pages (MADV_HUGEPAGE). Where THP is "madvise" (Debian's default) memory gets 2 MiB pages
// only when asked: with 4 KiB pages a stream takes a TLB miss every 4 KiB, and a plain 2-thread read
// of 1 GiB ran at 41 GB/s against 46 GB/s on 2 MiB pages (Zen 5). Where THP is off this is
// ordinary memory. Uninitialized (zero pages until written); throws std::bad_alloc when the
// mapping fails.
class HugePageBuffer {
 public:
  HugePageBuffer() = default;
  explicit HugePageBuffer(size_t bytes);
  HugePageBuffer(HugePageBuffer&& other) noexcept;
  HugePageBuffer& operator=(HugePageBuffer&& other) noexcept;
  ~HugePageBuffer();

  std::byte* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  std::byte* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;  // size_ rounded up to whole pages: what munmap releases
};

// Asks the kernel to reclaim the pages lying wholly inside [data, data + bytes) (MADV_PAGEOUT).
// Contents never change: clean pages of a mapped file are dropped and read from the file again if
// touched, anonymous pages stay (or go to swap). A kernel without MADV_PAGEOUT ignores the request.
void release_pages(const void* data, size_t bytes);

}  // namespace elephant
