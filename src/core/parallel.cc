#include "core/parallel.h"

#include <omp.h>

#include <algorithm>

namespace elephant {
namespace {
int g_thread_count = 0;
}

int thread_count() {
  if (g_thread_count <= 0) g_thread_count = std::max(1, omp_get_max_threads());
  return g_thread_count;
}

void set_thread_count(int n_threads) { g_thread_count = std::max(1, n_threads); }

}  // namespace elephant
