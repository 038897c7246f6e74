#!/usr/bin/env bash
# Quality of the quantized formats on a trained model: perplexity on the held-out text and the
# mean KL divergence from the full-precision model, per token, for int8 and int4 (g128, g64, g32),
# experts only and everything. Prints a markdown table (docs/quantization.md).
#
#   tools/eval/quantized_quality.sh [MODEL_DIR] [TEXT_FILE]
# defaults: models/elephant-tiny-lm and build/heldout_web.txt (written by tools/eval/lm_eval.py).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
model=${1:-$root/models/elephant-tiny-lm}
text=${2:-$root/build/heldout_web.txt}
elephant=$root/build/cli/elephant
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
window=(--window 256 --stride 128)

row() {  # name dir
  local json
  json=$("$elephant" perplexity -m "$2" -f "$text" "${window[@]}" --reference "$model" --json 2>/dev/null)
  python3 - "$1" "$2" "$json" <<'PY'
import json, os, sys
name, directory, report = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
size = os.path.getsize(os.path.join(directory, "model.safetensors")) / 2**20
print(f"| {name} | {size:.2f} | {report['perplexity']:.3f} | {report['mean_kl']:.5f} | {100 * report['same_top1']:.1f}% |")
PY
}

echo "| format | model.safetensors MiB | perplexity | mean KL (nats/token) | same top-1 |"
echo "|---|---|---|---|---|"
row "bf16 (shipped)" "$model"
for spec in "int8:8:0:experts" "int4 g128:4:128:experts" "int4 g64:4:64:experts" "int4 g32:4:32:experts" \
            "int8, scope all:8:0:all" "int4 g32, scope all:4:32:all"; do
  IFS=: read -r name bits group scope <<<"$spec"
  out=$work/$bits-$group-$scope
  flags=(--bits "$bits" --scope "$scope")
  [[ $bits == 4 ]] && flags+=(--group "$group")
  "$elephant" quantize -m "$model" -o "$out" "${flags[@]}" >/dev/null 2>&1
  row "$name" "$out"
done
