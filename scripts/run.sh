#!/usr/bin/env bash
# Sets up, builds and runs the main job: greedy generation on the default model.
# The embedded default model (a small trained MoE LM) does not exist yet; until it does this runs
# a committed fixture model: a tiny Mixtral-architecture checkpoint with RANDOM weights and a small
# trained tokenizer (tools/make_text_fixture.py), so its text carries no meaning: it shows the
# pipeline (tokenizer, MoE model, sampling, streaming decode) works end to end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" build
model="$root/tests/fixtures/text_mixtral"
echo "Running the fixture model $model (random weights: the embedded trained model is not shipped yet)" >&2
"$root/build/cli/elephant" inspect -m "$model"
"$root/build/cli/elephant" generate -m "$model" -p "The quick brown fox" -n 24 "$@"
