#include "kernels/cpu/avx2/avx2.h"
#include "kernels/kernels.h"
#include "kernels/ref/ref.h"

namespace elephant::kernels {

const KernelTable& reference_kernels() {
  static const KernelTable table{Isa::kReference, "reference", &ref::matmul};
  return table;
}

const KernelTable* avx2_kernels() {
  static const KernelTable table{Isa::kAvx2, "avx2", &avx2::matmul};
  const bool supported =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return supported ? &table : nullptr;
}

std::vector<const KernelTable*> available_kernel_tables() {
  std::vector<const KernelTable*> tables{&reference_kernels()};
  if (const KernelTable* table = avx2_kernels()) tables.push_back(table);
  return tables;
}

}  // namespace elephant::kernels
