#!/usr/bin/env bash
# Everything that needs an NVIDIA GPU, in one run (docs/cuda.md): builds with the CUDA backend,
# runs the CUDA tests (which skip elsewhere) and then the whole suite on this machine's CPU
# (including its AVX-512 paths, if any), and the GPU benchmark. Logs go to OUT_DIR.
#   scripts/gpu_check.sh [OUT_DIR]            (default: gpu-check/)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/gpu-check}
mkdir -p "$out"
{
  nvidia-smi || true
  lscpu | grep -E "Model name|Flags" || true
} >"$out/machine.txt" 2>&1

if ! "$root/scripts/build.sh" build-gpu -DELEPHANT_CUDA=ON >"$out/build.log" 2>&1; then
  echo "gpu_check: build failed; see $out/build.log" >&2
  tail -40 "$out/build.log" >&2
  exit 1
fi
status=0
ctest --test-dir "$root/build-gpu" -R Cuda --output-on-failure -j 4 >"$out/cuda_tests.log" 2>&1 || status=1
"$root/build-gpu/tests/kernels/cuda/cuda_moe_kernels_test" >"$out/cuda_moe_kernels_test.log" 2>&1 || status=1
ctest --test-dir "$root/build-gpu" --output-on-failure -j "$(nproc)" >"$out/all_tests.log" 2>&1 || status=1
"$root/build-gpu/bench/cuda_moe_bench" >"$out/cuda_moe_bench.md" 2>&1 || status=1
# Whole-model decode on the GPU: the Mixtral-shaped model in bf16 and with int4 experts.
elephant=$root/build-gpu/cli/elephant
int4_model=$root/build-gpu/mixtral-2L-int4
{
  "$elephant" bench --device cuda --random-model mixtral-2L -p 128 -n 32 -r 3
  [ -d "$int4_model" ] || "$elephant" quantize --random-model mixtral-2L -o "$int4_model" --bits 4 --group 128
  "$elephant" bench --device cuda -m "$int4_model" -p 128 -n 32 -r 3
  "$elephant" bench --device cuda -p 128 -n 32 -r 3
} >"$out/elephant_bench_cuda.txt" 2>&1 || status=1
tail -5 "$out/cuda_tests.log" "$out/all_tests.log"
cat "$out/cuda_moe_bench.md" "$out/elephant_bench_cuda.txt"
exit $status
