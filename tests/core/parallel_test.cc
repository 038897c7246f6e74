// parallel_for_owned runs every item exactly once whatever the item and thread counts, and a
// thread slowed inside its own share does not hold its remaining items: the others take them.
#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/parallel.h"

namespace elephant {
namespace {

class ParallelForOwned : public ::testing::Test {
 protected:
  void TearDown() override { set_thread_count(saved_); }
  int saved_ = thread_count();
};

TEST_F(ParallelForOwned, RunsEveryItemOnce) {
  for (const int threads : {1, 2, 3, 8}) {
    set_thread_count(threads);
    for (const int64_t n : {int64_t{0}, int64_t{1}, int64_t{2}, int64_t{3}, int64_t{7}, int64_t{64}, int64_t{1001}}) {
      std::vector<std::atomic<int>> runs(static_cast<size_t>(n));
      parallel_for_owned(n, [&](int64_t i) { runs[static_cast<size_t>(i)].fetch_add(1); });
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(runs[static_cast<size_t>(i)].load(), 1) << "item " << i << " of " << n << " with " << threads << " threads";
      }
    }
  }
}

TEST_F(ParallelForOwned, OthersTakeTheRestOfASlowThreadsShare) {
  set_thread_count(2);
  constexpr int64_t kItems = 16;  // a share of 8 each
  std::vector<int> runner(kItems, -1);
  std::atomic<bool> slept{false};
  parallel_for_owned(kItems, [&](int64_t i) {
    const int thread = omp_get_thread_num();
    runner[static_cast<size_t>(i)] = thread;
    if (thread == 0 && !slept.exchange(true)) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  });
  int by_thread_one = 0;
  for (const int thread : runner) {
    ASSERT_NE(thread, -1);
    by_thread_one += thread == 1;
  }
  EXPECT_GT(by_thread_one, kItems / 2) << "thread 0 slept 300 ms in its first item; thread 1 should have taken some of its share";
}

}  // namespace
}  // namespace elephant
