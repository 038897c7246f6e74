// The kernel seam: every optimized kernel has a plain reference with the same signature, and one
// table per instruction set holds them. src/ops chooses the table once (best ISA the CPU has,
// unless the user or a test asks for another) and never calls an ISA-specific symbol directly.
//
// Kernels know nothing about models: they see fp32 activations and weight matrices. A weight
// matrix carries its own storage format (dense or quantized, docs/quantization.md), so callers
// never fork per format: ops::matmul picks the table entry for w.format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/dtype.h"

namespace elephant::kernels {

// How a weight matrix's values are stored (docs/quantization.md is the byte-level spec).
enum class WeightFormat : uint8_t {
  kDense,           // data: [rows, cols] F32/F16/BF16
  kInt8PerChannel,  // data: [rows, cols] I8, w = q * scale[row]; q in [-127, 127]
  kInt4Group,       // data: [rows, cols/2] U8, byte j of a row = column 2j (low nibble) | 2j+1 (high)
                    // w = (nibble - 8) * scale[row, col / group_size]
};

std::string_view weight_format_name(WeightFormat format);

// A row-major weight matrix [rows = outputs, cols = inputs], as Hugging Face Linear layers store
// it. Dense F32, F16 and BF16 are read in place and widened to fp32 in registers; quantized
// matrices are dequantized inside the kernels, never into memory.
struct WeightMatrix {
  DType dtype = DType::kF32;  // element type of data: F32/F16/BF16 dense, I8 (int8), U8 (packed int4)
  int64_t rows = 0;
  int64_t cols = 0;
  const void* data = nullptr;
  WeightFormat format = WeightFormat::kDense;
  const void* scales = nullptr;     // quantized: [rows] (int8) or [rows, cols / group_size] (int4)
  DType scale_dtype = DType::kF32;  // F32, F16 or BF16
  int64_t group_size = 0;           // int4: columns per scale (valid_group_size) dividing cols
  // int4, int8 and dense BF16: an optional copy of data (and, for int4, of scales) in the AVX-512
  // kernels' interleaved layout (interleave.h); kernels that have an interleaved path use it for
  // every call, others ignore it. Both must describe the same values.
  const void* interleaved_data = nullptr;
  const void* interleaved_scales = nullptr;
};

// Throws Error (naming `what`) when a quantized matrix's fields are inconsistent.
void check_weight_matrix(const WeightMatrix& w, std::string_view what);

// The bytes of w.data and of w.scales (empty for dense matrices), in the checkpoint layout.
std::span<const std::byte> weight_data_bytes(const WeightMatrix& w);
std::span<const std::byte> weight_scale_bytes(const WeightMatrix& w);

// y[i, o] = sum_k x[i, k] * w[o, k] for i in [0, n_rows), o in [row_begin, row_end).
// x is [n_rows, w.cols] with row stride w.cols; y is [n_rows, y_stride].
// Contract: each y element depends only on its own x row and w row, with a fixed summation order,
// so a row's result does not depend on n_rows or on the row range (batch invariance).
using MatmulFn = void (*)(const float* x, int64_t n_rows, const WeightMatrix& w, float* y, int64_t y_stride,
                          int64_t row_begin, int64_t row_end);

// Attention of n_queries query heads that share one KV head (grouped-query attention) over a run
// of cached positions whose rows lie `stride` elements apart (the positions of one KV-cache block),
// stored as kv_dtype (F32, or BF16 widened exactly in registers).
// For j in [0, n_queries), t in [0, n) and i in [0, dim):
//   AttentionScoresFn: scores[j·score_stride + t] = scale · Σ_i q[j·dim + i] · k[t·stride + i]
//   AttentionValuesFn: out[j·dim + i] += Σ_t p[j·p_stride + t] · v[t·stride + i], t increasing
// Taking the group's queries together reads each cached row once for all of them. Each score and
// each out element is computed the same way whatever n and n_queries are, so a sequence's
// attention does not depend on how its positions fall into blocks.
using AttentionScoresFn = void (*)(const float* q, int64_t n_queries, const void* k, DType kv_dtype, int64_t stride,
                                   int64_t n, int64_t dim, float scale, float* scores, int64_t score_stride);
using AttentionValuesFn = void (*)(const float* p, int64_t p_stride, int64_t n_queries, const void* v, DType kv_dtype,
                                   int64_t stride, int64_t n, int64_t dim, float* out);

enum class Isa : uint8_t { kReference, kAvx2, kAvx512, kAvx512Bf16, kCount };

// The two ways a quantized matmul can treat its fp32 activations:
//   kF32:  dequantize weights in registers and multiply-add in fp32;
//   kInt8: quantize each activation row to int8 (symmetric, scale max|x|/127, round to nearest
//          even) and take exact int32 dot products (AVX2 maddubs/madd), scaled once per group.
// Both are functions of a row alone, so either keeps the batch-invariance contract.
enum class Activations : uint8_t { kF32, kInt8, kCount };

// The interleaved layouts (interleave.h) a kernel table reads.
struct InterleavedLayouts {
  bool int4 = false;
  bool int8 = false;
  bool bf16 = false;
};

struct KernelTable {
  Isa isa;
  std::string_view name;
  MatmulFn matmul;  // kDense weights
  // Indexed by Activations.
  MatmulFn matmul_int8[static_cast<size_t>(Activations::kCount)];  // kInt8PerChannel weights
  MatmulFn matmul_int4[static_cast<size_t>(Activations::kCount)];  // kInt4Group weights
  AttentionScoresFn attention_scores;
  AttentionValuesFn attention_values;
  // matmul multiplies BF16 weights by activations rounded to bf16 (ref::matmul_bf16_activations
  // is its specification) instead of by the fp32 activations.
  bool bf16_activations = false;
  // Which of matmul (BF16), matmul_int8 (int8 activations) and matmul_int4 compute from
  // WeightMatrix::interleaved_data when a matrix has it (the model makes those copies at load only
  // for the formats the table in use reads).
  InterleavedLayouts reads_interleaved;
};

const KernelTable& reference_kernels();
// Null when this build or this CPU lacks the instruction set.
const KernelTable* avx2_kernels();
// AVX-512 F/BW/VL + VNNI (Zen 4, Ice Lake and later); needs the AVX2 set too.
const KernelTable* avx512_kernels();
// The avx512 table with AVX512_BF16 dot products for BF16 weights, on activations rounded to bf16
// (bf16_activations): up to twice the multiply-adds per instruction where 4+ rows make the fp32
// kernel compute-bound, at a relative error of 2^-9 per activation. Never chosen by "auto":
// selected by name (--kernels avx512_bf16).
const KernelTable* avx512_bf16_kernels();

// Tables this CPU can run, best last.
std::vector<const KernelTable*> available_kernel_tables();

}  // namespace elephant::kernels
