#!/usr/bin/env bash
# Sets up, builds and runs the main job: greedy generation on the default model.
# The embedded default model (a small trained MoE LM) does not exist yet; until it does this runs
# the smallest committed fixture model, a tiny Mixtral-architecture checkpoint with RANDOM weights
# made by tools/make_fixtures.py, so its output ids carry no meaning: it shows the pipeline works.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" build
model="$root/tests/fixtures/mixtral"
echo "Running the fixture model $model (random weights: the embedded trained model is not shipped yet)" >&2
"$root/build/cli/elephant" inspect -m "$model"
"$root/build/cli/elephant" generate -m "$model" --prompt-ids 36,35,204,129,152,155,183,10,125,40,104,237 -n 16 "$@"
