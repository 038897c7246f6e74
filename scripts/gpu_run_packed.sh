#!/usr/bin/env bash
# Runs what scripts/gpu_pack.sh packed, on a GPU machine, from the repository root (the same
# commit): unpacks build-gpu/, links the build's source path to this checkout if it differs, and
# runs the steps asked for within a time budget, logging to OUT_DIR; a summary is printed last.
#   scripts/gpu_run_packed.sh OUT_DIR BUDGET_SECONDS STEP...
# Steps: cuda (ctest -R Cuda), cpu (the rest of the suite; ctest discovers the tests on this
# machine, so kernel tables for its ISAs, e.g. AVX-512, are included), cpubench (matmul_bench on
# that CPU with all its threads; needs a pack without --cuda-only), moebench
# (cuda_moe_bench), int4 and bf16 (elephant bench --device cuda on Mixtral-2L shapes), nographs
# (the int4 bench without CUDA graphs), profile (ncu's per-kernel times of int4 decode steps),
# cpubench1 (matmul_bench's prefill on one thread, one shape: the kernels' own ratio to sgemm),
# cpumoe (elephant bench on that CPU, int4 Mixtral-2L, batch 1-16, its best kernels and AVX2).
set -uo pipefail
out=$1
budget=$2
shift 2
mkdir -p "$out"
start=$(date +%s)
summary=$out/summary.txt
note() { echo "[$(($(date +%s) - start))s] $*" | tee -a "$summary"; }
# Seconds a step may take: its own limit, or what is left of the budget.
limit() {
  local left=$((budget - ($(date +%s) - start)))
  if [ "$left" -lt "$1" ]; then echo $((left > 1 ? left : 1)); else echo "$1"; fi
}
root=$(pwd)
tar -xJf gpu-pack/elephant.tar.xz || { echo "gpu_run_packed: cannot unpack gpu-pack/elephant.tar.xz" >&2; exit 1; }
# The tests find fixtures and the CLI by the absolute paths of the build machine.
source_dir=$(cat build-gpu/source_dir.txt)
if [ ! -e "$source_dir" ]; then
  mkdir -p "$(dirname "$source_dir")" && ln -s "$root" "$source_dir"
elif [ "$(cd "$source_dir" && pwd -P)" != "$(pwd -P)" ]; then
  echo "gpu_run_packed: the build's source path $source_dir exists and is not this checkout; run from there" >&2
  exit 1
fi
build=$source_dir/build-gpu
discovery=$(cat "$build/_cmake/path.txt")
if [ ! -e "$discovery" ]; then
  mkdir -p "$(dirname "$discovery")" && cp "$build/_cmake/GoogleTestAddTests.cmake" "$discovery"
fi
cublas=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  ls "$d"/libcublas.so.* >/dev/null 2>&1 && { cublas=$d; break; }
done
[ -n "$cublas" ] || cublas=$(dirname "$(find / -xdev -name 'libcublas.so.*' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH=$build/_libs:$cublas
elephant=$build/cli/elephant
if ! "$elephant" --help >/dev/null 2>"$out/start.log"; then
  export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$build/_libs_fallback
  note "using the packed C++ runtime: $(head -1 "$out/start.log")"
fi
{ nvidia-smi; lscpu; ldd "$elephant"; } >"$out/machine.txt" 2>&1
grep -E "Model name|NVIDIA H|Driver" "$out/machine.txt" | head -3 | tee -a "$summary"
model4=/tmp/elephant-mixtral-2L-int4
for step in "$@"; do
  case $step in
    cuda)
      timeout "$(limit 180)" ctest --test-dir "$build" -R Cuda --output-on-failure -j 8 --timeout 150 >"$out/cuda_tests.log" 2>&1
      note "cuda tests: exit $?"
      grep -E "tests passed|Failed|\*\*\*|Exception" "$out/cuda_tests.log" | tail -30 | tee -a "$summary" ;;
    cpu)
      timeout "$(limit 240)" ctest --test-dir "$build" -E 'Cuda|openai_client' --output-on-failure -j "$(nproc)" \
        --timeout 200 >"$out/cpu_tests.log" 2>&1
      note "cpu tests: exit $?, $(grep -c 'avx512.*Passed' "$out/cpu_tests.log") AVX-512 cases passed"
      grep -E "tests passed|Failed|\*\*\*" "$out/cpu_tests.log" | tail -30 | tee -a "$summary" ;;
    cpubench)
      timeout "$(limit 300)" "$build/bench/matmul_bench" --threads "$(nproc)" >"$out/matmul_bench.md" 2>&1
      note "matmul_bench (CPU kernels, $(nproc) threads): exit $?"
      tail -30 "$out/matmul_bench.md" >>"$summary" ;;
    moebench)
      timeout "$(limit 90)" "$build/bench/cuda_moe_bench" >"$out/cuda_moe_bench.md" 2>&1
      note "cuda_moe_bench: exit $?"
      cat "$out/cuda_moe_bench.md" >>"$summary" ;;
    cpubench1)
      timeout "$(limit 120)" "$build/bench/matmul_bench" --threads 1 --shape 1024x3584 --shape 4096x14336 \
        >"$out/matmul_bench_1thread.md" 2>&1
      note "matmul_bench (CPU kernels, 1 thread): exit $?"
      tail -16 "$out/matmul_bench_1thread.md" >>"$summary" ;;
    int4 | nographs | profile | cpumoe)
      [ -d $model4 ] || timeout "$(limit 150)" "$elephant" quantize --random-model mixtral-2L -o $model4 --bits 4 --group 128 \
        >"$out/quantize.log" 2>&1
      case $step in
        cpumoe)
          for kernels in auto avx2; do
            timeout "$(limit 150)" "$elephant" bench -m $model4 --kernels $kernels -p 128 -n 16 -r 3 --batch 1,2,4,8,16 \
              >"$out/bench_cpu_int4_$kernels.txt" 2>&1
            note "cpu bench, kernels $kernels: exit $?"
            tail -12 "$out/bench_cpu_int4_$kernels.txt" >>"$summary"
          done ;;
        int4) timeout "$(limit 150)" "$elephant" bench --device cuda -m $model4 -p 128 -n 32 -r 3 --batch 1,8 >"$out/bench_int4.txt" 2>&1 ;;
        nographs) timeout "$(limit 150)" "$elephant" bench --device cuda -m $model4 -p 128 -n 32 -r 3 --batch 1,8 \
          --no-cuda-graphs >"$out/bench_int4_nographs.txt" 2>&1 ;;
        profile)
          ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
          timeout "$(limit 120)" "$ncu" --clock-control none --metrics gpu__time_duration.sum --print-summary per-kernel \
            "$elephant" bench --device cuda -m $model4 -p 0 -n 4 -r 1 --batch 1 --no-cuda-graphs \
            --bandwidth-buffer-mib 64 >"$out/ncu_int4_decode.txt" 2>&1 ;;
      esac
      note "$step: exit $?"
      tail -6 "$out"/bench_int4*.txt 2>/dev/null | tail -6 >>"$summary" ;;
    bf16)
      timeout "$(limit 150)" "$elephant" bench --device cuda --random-model mixtral-2L -p 128 -n 32 -r 3 --batch 1,8 \
        >"$out/bench_bf16.txt" 2>&1
      note "bf16: exit $?"
      tail -6 "$out/bench_bf16.txt" >>"$summary" ;;
    *) note "unknown step $step" ;;
  esac
done
note done
echo ======
cat "$summary"
