// The kernel seam: every optimized kernel has a plain reference with the same signature, and one
// table per instruction set holds them. src/ops chooses the table once (best ISA the CPU has,
// unless the user or a test asks for another) and never calls an ISA-specific symbol directly.
//
// Kernels know nothing about models: they see fp32 activations and weight matrices.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/dtype.h"

namespace elephant::kernels {

// A row-major weight matrix [rows = outputs, cols = inputs], as Hugging Face Linear layers store
// it. F32, F16 and BF16 are read in place and widened to fp32 in registers.
struct WeightMatrix {
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const void* data = nullptr;
};

// y[i, o] = sum_k x[i, k] * w[o, k] for i in [0, n_rows), o in [row_begin, row_end).
// x is [n_rows, w.cols] with row stride w.cols; y is [n_rows, y_stride].
// Contract: each y element depends only on its own x row and w row, with a fixed summation order,
// so a row's result does not depend on n_rows or on the row range (batch invariance).
using MatmulFn = void (*)(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                          int64_t row_begin, int64_t row_end);

enum class Isa : uint8_t { kReference, kAvx2, kCount };

struct KernelTable {
  Isa isa;
  std::string_view name;
  MatmulFn matmul;
};

const KernelTable& reference_kernels();
// Null when this build or this CPU lacks the instruction set.
const KernelTable* avx2_kernels();

// Tables this CPU can run, best last.
std::vector<const KernelTable*> available_kernel_tables();

}  // namespace elephant::kernels
