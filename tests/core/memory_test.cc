// Handing pages back to the kernel never changes what they hold: the model releases the mapped
// weights it has copied, and anything that still reads them (the embedding rows of a tied LM head,
// the CUDA upload) must see the checkpoint's bytes.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <new>
#include <numeric>
#include <vector>

#include "core/mapped_file.h"
#include "core/memory.h"

namespace elephant {
namespace {

TEST(Memory, ReportsTotalAndAvailableMemory) {
  const auto memory = memory_info();
  ASSERT_TRUE(memory.has_value()) << "/proc/meminfo has no MemTotal or MemAvailable";
  EXPECT_GT(memory->available_bytes, 0);
  EXPECT_LE(memory->available_bytes, memory->total_bytes);
}

TEST(Memory, ReleasedPagesOfAMappedFileReadBackUnchanged) {
  const auto path = std::filesystem::temp_directory_path() / ("elephant_memory_test_" + std::to_string(::getpid()));
  std::vector<uint32_t> words(3 * 4096 + 5);
  std::iota(words.begin(), words.end(), 7u);
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(words.data()), static_cast<std::streamsize>(words.size() * 4));
  }
  {
    const MappedFile file(path);
    const auto* mapped = reinterpret_cast<const uint32_t*>(file.bytes().data());
    ASSERT_EQ(std::vector<uint32_t>(mapped, mapped + words.size()), words);
    release_pages(file.bytes().data() + 3, file.bytes().size() - 3);
    EXPECT_EQ(std::vector<uint32_t>(mapped, mapped + words.size()), words);
  }
  std::filesystem::remove(path);
}

TEST(Memory, ReleasedAnonymousPagesKeepTheirContents) {
  std::vector<uint32_t> words(5 * 4096);
  std::iota(words.begin(), words.end(), 11u);
  const std::vector<uint32_t> expected = words;
  release_pages(words.data(), words.size() * 4);
  EXPECT_EQ(words, expected);
}

TEST(Memory, HugePageBuffersAreAlignedWritableAndMovable) {
  constexpr size_t kHugePage = size_t{2} << 20;
  HugePageBuffer empty;
  EXPECT_EQ(empty.data(), nullptr);
  EXPECT_EQ(empty.size(), 0u);
  for (const size_t bytes : {size_t{2}, size_t{4097}, kHugePage, 3 * kHugePage + 5}) {
    HugePageBuffer buffer(bytes);
    ASSERT_NE(buffer.data(), nullptr) << bytes;
    EXPECT_EQ(buffer.size(), bytes);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer.data()) % kHugePage, 0u) << bytes;
    EXPECT_EQ(buffer.data()[0], std::byte{0}) << "fresh anonymous pages read as zero";
    buffer.data()[0] = std::byte{1};
    buffer.data()[bytes - 1] = std::byte{2};
    std::byte* data = buffer.data();
    HugePageBuffer moved(std::move(buffer));
    EXPECT_EQ(buffer.data(), nullptr);
    EXPECT_EQ(moved.data(), data);
    EXPECT_EQ(moved.data()[0], std::byte{1});
    EXPECT_EQ(moved.data()[bytes - 1], std::byte{2});
    empty = std::move(moved);
    EXPECT_EQ(empty.data(), data);
    EXPECT_EQ(empty.size(), bytes);
  }
}

TEST(Memory, AHugePageBufferTooLargeToMapThrowsBadAlloc) {
  EXPECT_THROW(HugePageBuffer(size_t{1} << 62), std::bad_alloc);
}

}  // namespace
}  // namespace elephant
