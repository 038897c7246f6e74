#!/usr/bin/env bash
# Sets up, builds and runs the main job: greedy generation on the default model, the embedded
# elephant-tiny-lm (models/README.md: a small Qwen3-MoE trained here on public-domain Bible text).
# Extra arguments go to `elephant generate`, e.g. scripts/run.sh -p "The Lord is" -n 64.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" build
"$root/build/cli/elephant" inspect
"$root/build/cli/elephant" generate -p "In the beginning" -n 48 "$@"
