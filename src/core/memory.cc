#include "core/memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>

namespace elephant {

std::optional<MemoryInfo> memory_info() {
  std::ifstream meminfo("/proc/meminfo");
  std::optional<int64_t> total, available;
  for (std::string line; std::getline(meminfo, line);) {
    // Lines read "<Key>: <n> kB".
    const auto value = [&line](std::string_view key) -> std::optional<int64_t> {
      if (!line.starts_with(key)) return std::nullopt;
      return std::stoll(line.substr(key.size())) * 1024;
    };
    if (auto v = value("MemTotal:")) total = v;
    if (auto v = value("MemAvailable:")) available = v;
  }
  if (!total || !available) return std::nullopt;
  return MemoryInfo{*total, *available};
}

void release_pages(const void* data, size_t bytes) {
#ifdef MADV_PAGEOUT
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const auto end = (reinterpret_cast<uintptr_t>(data) + bytes) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_PAGEOUT);
#else
  (void)data;
  (void)bytes;
#endif
}

}  // namespace elephant
