#!/usr/bin/env bash
# Builds the fuzz targets with clang, libFuzzer, ASan and UBSan in build-fuzz/ and runs each for
# SECONDS (default 120), one after another. New coverage goes to build-fuzz/corpus/<target>/; a
# crash stops that target and leaves build-fuzz/crash-<target>-* to add to fuzz/corpus/<target>/
# once fixed (the default test suite replays that directory). Extra seeds: SEEDS_<target>=dir.
#   scripts/fuzz.sh [SECONDS] [target...]     targets: see fuzz/CMakeLists.txt
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors model_config model_load quantized_model_load tokenizer_json tokenizer_config tokenize_text chat_template openai_request)
scripts/setup.sh clang libclang-rt-14-dev
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DELEPHANT_CUDA=OFF \
  -DELEPHANT_BUILD_TESTS=OFF -DELEPHANT_BUILD_BENCH=OFF -DELEPHANT_LIBFUZZER=ON -DELEPHANT_SANITIZE=address,undefined >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/%/_fuzz}"
status=0
for target in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$target"
  seeds_var="SEEDS_$target"
  echo "== $target: ${seconds} s"
  # A 10 s timeout per input flags hangs (a template that loops, a tokenizer that backtracks).
  if ! "build-fuzz/fuzz/${target}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
       -artifact_prefix="build-fuzz/crash-$target-" "build-fuzz/corpus/$target" "fuzz/corpus/$target" \
       ${!seeds_var:+"${!seeds_var}"} 2>"build-fuzz/$target.log"; then
    status=1
    grep -E "ERROR|SUMMARY|Test unit written" "build-fuzz/$target.log" | head -n 5
  fi
  grep -E "^#[0-9]+[[:space:]]+DONE" "build-fuzz/$target.log" | tail -n 1 || true
done
exit $status
