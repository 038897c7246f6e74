#!/usr/bin/env bash
# Builds Elephant with the CUDA backend and packs what a GPU run needs into one archive, for a GPU
# machine that has a driver but not the build dependencies (docs/cuda.md): stripped executables,
# ctest's files, the non-system shared libraries they load, and the source path the build baked
# into the tests (fixture paths are absolute). scripts/gpu_run_packed.sh runs it there.
#   scripts/gpu_pack.sh [--cuda-only] [extra cmake args...]     -> gpu-pack/elephant.tar.xz
# --cuda-only leaves out the CPU test binaries and OpenBLAS (a third of the size).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cuda_only=0
if [ "${1:-}" = --cuda-only ]; then
  cuda_only=1
  shift
fi
"$root/scripts/build.sh" build-gpu -DELEPHANT_CUDA=ON "$@"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -a "$root/build-gpu" "$stage/build-gpu"
find "$stage/build-gpu" \( -name CMakeFiles -type d -prune -exec rm -rf {} + \) -o \
  \( -name '*.a' -o -name '*.o' -o -name '.ninja*' -o -name build.ninja -o -name CMakeCache.txt \) -exec rm -f {} +
# Test lists are discovered where ctest runs (DISCOVERY_MODE PRE_TEST): drop the ones listed here,
# which lack instantiations for ISAs this machine does not have (e.g. AVX-512 kernel tables).
find "$stage/build-gpu/tests" -name '*_tests.cmake' -delete
if [ $cuda_only = 1 ]; then
  rm -f "$stage/build-gpu/bench/matmul_bench" "$stage/build-gpu/bench/int8_dot_bench"
  find "$stage/build-gpu/tests" -type f -perm -u+x ! -path '*/cuda/*' ! -path '*/cli/*' -delete
fi
echo "$root" >"$stage/build-gpu/source_dir.txt"
# ctest includes CMake's GoogleTest discovery script by this machine's absolute path when it runs
# (DISCOVERY_MODE PRE_TEST); a GPU machine with another CMake lacks it, so it travels too.
discovery=$(grep -rhom1 '/[^ "]*/GoogleTestAddTests.cmake' "$stage/build-gpu/tests" | head -1)
mkdir -p "$stage/build-gpu/_cmake"
cp "$discovery" "$stage/build-gpu/_cmake/"
echo "$discovery" >"$stage/build-gpu/_cmake/path.txt"
# The C++ runtime is the target's own (newer is compatible); ours goes along as a fallback only.
mkdir -p "$stage/build-gpu/_libs" "$stage/build-gpu/_libs_fallback"
cp -L "$(g++ -print-file-name=libstdc++.so.6)" "$(g++ -print-file-name=libgcc_s.so.1)" "$stage/build-gpu/_libs_fallback/"
find "$stage/build-gpu" -type f -perm -u+x | while read -r f; do
  file -b "$f" | grep -q ELF || continue
  strip "$f"
  ldd "$f" | awk '/=> \//{print $3}' |
    grep -vE 'libc\.so|libm\.so|libpthread|libdl\.so|librt\.so|ld-linux|libstdc\+\+|libgcc_s|libcublas|libcuda' || true
done | sort -u | while read -r lib; do cp -L "$lib" "$stage/build-gpu/_libs/"; done
mkdir -p "$root/gpu-pack"
# -9: a 64 MiB dictionary spans the executables, which all embed the same CUDA kernels (a third of the -6 size).
tar -C "$stage" -cf - build-gpu | xz -T0 -9 >"$root/gpu-pack/elephant.tar.xz"
ls -l "$root/gpu-pack/elephant.tar.xz"
