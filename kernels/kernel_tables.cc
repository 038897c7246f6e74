// The kernel tables, one per instruction set, and the run-time check of which ones this CPU can
// run.
#include <cpuid.h>

#include "kernels/cpu/avx2/avx2.h"
#include "kernels/cpu/avx512/avx512.h"
#include "kernels/cpu/avx512_bf16/avx512_bf16.h"
#include "kernels/kernels.h"
#include "kernels/ref/ref.h"

namespace elephant::kernels {
namespace {

// CPUID leaf 1, ECX bit 29. Asked directly because clang before 15 rejects
// __builtin_cpu_supports("f16c").
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}

// CPUID leaf 7 sub-leaf 1, EAX bit 5, asked directly for the same reason.
bool cpu_has_avx512_bf16() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 5)) != 0;
}

}  // namespace

const KernelTable& reference_kernels() {
  static const KernelTable table{Isa::kReference,
                                 "reference",
                                 &ref::matmul,
                                 {&ref::matmul_int8_f32, &ref::matmul_int8_int8},
                                 {&ref::matmul_int4_f32, &ref::matmul_int4_int8},
                                 &ref::attention_scores,
                                 &ref::attention_values,
                                 false,
                                 {}};
  return table;
}

const KernelTable* avx2_kernels() {
  static const KernelTable table{Isa::kAvx2,
                                 "avx2",
                                 &avx2::matmul,
                                 {&avx2::matmul_int8_f32, &avx2::matmul_int8_int8},
                                 {&avx2::matmul_int4_f32, &avx2::matmul_int4_int8},
                                 &avx2::attention_scores,
                                 &avx2::attention_values,
                                 false,
                                 {.int4 = true, .bf16 = true}};
  const bool supported =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
  return supported ? &table : nullptr;
}

const KernelTable* avx512_kernels() {
  // The fp32-activation quantized kernels have no AVX-512 version (ops uses int8 activations for
  // quantized weights), nor has attention (a small share of a step next to the expert matmuls); the
  // AVX2 ones fill those entries.
  static const KernelTable table{Isa::kAvx512,
                                 "avx512",
                                 &avx512::matmul,
                                 {&avx2::matmul_int8_f32, &avx512::matmul_int8_int8},
                                 {&avx2::matmul_int4_f32, &avx512::matmul_int4_int8},
                                 &avx2::attention_scores,
                                 &avx2::attention_values,
                                 false,
                                 {.int4 = true, .int8 = true, .bf16 = true}};
  const bool supported = avx2_kernels() != nullptr && __builtin_cpu_supports("avx512f") &&
                         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                         __builtin_cpu_supports("avx512vnni");
  return supported ? &table : nullptr;
}

const KernelTable* avx512_bf16_kernels() {
  static const KernelTable table{Isa::kAvx512Bf16,
                                 "avx512_bf16",
                                 &avx512_bf16::matmul,
                                 {&avx2::matmul_int8_f32, &avx512::matmul_int8_int8},
                                 {&avx2::matmul_int4_f32, &avx512::matmul_int4_int8},
                                 &avx2::attention_scores,
                                 &avx2::attention_values,
                                 true,
                                 {.int4 = true, .int8 = true, .bf16 = true}};
  return avx512_kernels() != nullptr && cpu_has_avx512_bf16() ? &table : nullptr;
}

std::vector<const KernelTable*> available_kernel_tables() {
  std::vector<const KernelTable*> tables{&reference_kernels()};
  if (const KernelTable* table = avx2_kernels()) tables.push_back(table);
  // Before avx512 so that "auto" (the last) keeps fp32 activations.
  if (const KernelTable* table = avx512_bf16_kernels()) tables.push_back(table);
  if (const KernelTable* table = avx512_kernels()) tables.push_back(table);
  return tables;
}

}  // namespace elephant::kernels
