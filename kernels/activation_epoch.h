// Quantizing a matmul's activation rows once per thread instead of once per row range. The
// int8-activation kernels quantize x into thread-local scratch on every call, and ops::matmul calls
// them once per range of output rows (16 ranges a matrix on 2 threads): at 512 prefill rows that
// was 16 quantizations of the same rows per thread. A caller that splits one matmul into ranges
// takes a new epoch for it and sets it on the thread before each range (and 0 after): a kernel call
// whose epoch, x, row count and columns match the thread's last quantization reuses it. Epoch 0
// (a kernel called directly) always quantizes.
#pragma once

#include <cstdint>

namespace elephant::kernels {

// A process-wide counter: a fresh epoch, never 0.
uint64_t new_activation_epoch();
// This thread's epoch for the kernel calls that follow.
void set_activation_epoch(uint64_t epoch);
uint64_t activation_epoch();

// Sets this thread's epoch for its lifetime and 0 after, so a later direct kernel call on the
// thread never reuses rows from it.
class ActivationEpochScope {
 public:
  explicit ActivationEpochScope(uint64_t epoch) { set_activation_epoch(epoch); }
  ~ActivationEpochScope() { set_activation_epoch(0); }
  ActivationEpochScope(const ActivationEpochScope&) = delete;
  ActivationEpochScope& operator=(const ActivationEpochScope&) = delete;
};

}  // namespace elephant::kernels
