// The kernel tables, one per instruction set, and the run-time check of which ones this CPU can
// run. Only reference and AVX2 exist: no AVX-512 path is compiled (none could be tested here).
#include "kernels/cpu/avx2/avx2.h"
#include "kernels/kernels.h"
#include "kernels/ref/ref.h"

namespace elephant::kernels {

const KernelTable& reference_kernels() {
  static const KernelTable table{Isa::kReference,
                                 "reference",
                                 &ref::matmul,
                                 {&ref::matmul_int8_f32, &ref::matmul_int8_int8},
                                 {&ref::matmul_int4_f32, &ref::matmul_int4_int8}};
  return table;
}

const KernelTable* avx2_kernels() {
  static const KernelTable table{Isa::kAvx2,
                                 "avx2",
                                 &avx2::matmul,
                                 {&avx2::matmul_int8_f32, &avx2::matmul_int8_int8},
                                 {&avx2::matmul_int4_f32, &avx2::matmul_int4_int8}};
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
