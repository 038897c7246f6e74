#include "kernels/activation_epoch.h"

#include <atomic>

namespace elephant::kernels {
namespace {
std::atomic<uint64_t> g_last_epoch{0};
thread_local uint64_t t_epoch = 0;
}  // namespace

uint64_t new_activation_epoch() { return g_last_epoch.fetch_add(1, std::memory_order_relaxed) + 1; }

void set_activation_epoch(uint64_t epoch) { t_epoch = epoch; }

uint64_t activation_epoch() { return t_epoch; }

}  // namespace elephant::kernels
