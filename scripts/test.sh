#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite twice: a Release build, then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer (catches memory errors on malformed inputs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
jobs=$(nproc)

echo "== Release build and tests =="
"$root/scripts/build.sh" build
ctest --test-dir "$root/build" --output-on-failure -j "$jobs"

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build and tests =="
# Without the CUDA backend: the sanitizers check host code, which the Release build already runs
# with CUDA compiled in, and nvcc would double the build time for nothing more.
"$root/scripts/build.sh" build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DELEPHANT_SANITIZE=address,undefined \
  -DELEPHANT_CUDA=OFF
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$root/build-asan" --output-on-failure -j "$jobs"
