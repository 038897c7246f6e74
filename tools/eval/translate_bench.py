#!/usr/bin/env python3
"""Elephant's translator against transformers, in the same run: quality and speed.

    python tools/eval/translate_bench.py --elephant build/cli/elephant --corpus build/corpus \
        [--model models/elephant-tiny-mt] [--threads 1] [--speed-sentences 64] [--json out.json]

Quality (every held-out verse, tools/corpus/corpus.py TEST_BOOKS, greedy and beam 4 with
tools/eval/eval_mt.py's settings: length_penalty 1, early_stopping True, 256 new tokens):
  * transformers `generate` (weights upcast to fp32, batches of 32 length-sorted verses);
  * `elephant translate` on the same model, and on int8 and int4 (group 64) expert copies made
    with `elephant quantize` in a temporary directory;
  * how many verses the engine translates exactly as transformers, and corpus BLEU / chrF
    (sacrebleu defaults) of each, so the deltas of int8 / int4 are visible.

Speed (the first --speed-sentences verses, input tokens per second, one thread each by default):
  batch 1, 8 and 32 sentences x beam 1, 2 and 4, transformers `generate` (time inside generate only)
  against `elephant translate` (the time it reports, model load excluded), both over the same
  length-sorted batches; plus elephant with batch pruning off (--no-prune) to show its gain.

Prints markdown tables (docs/performance.md quotes them) and writes --json.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import sacrebleu  # noqa: E402
import torch  # noqa: E402
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_mt  # noqa: E402

SUMMARY = re.compile(r"translate: (\d+) sentences, (\d+) source tokens, (\d+) generated tokens in ([0-9.]+) s")


def run_elephant(binary, model, sources, threads, beam, batch, prune=True, quiet=True):
    """(hypotheses, seconds, source tokens) of one `elephant translate` run."""
    args = [str(binary), "translate", "-m", str(model), "-t", str(threads), "--beam", str(beam),
            "--max-new-tokens", "256", "--max-batch-sentences", str(batch), "--max-batch-tokens", "1000000"]
    if beam > 1:
        args += ["--early-stopping", "true"]
    if not prune:
        args.append("--no-prune")
    result = subprocess.run(args, input="\n".join(sources) + "\n", capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"elephant translate failed: {result.stderr}")
    match = SUMMARY.search(result.stderr)
    if not match:
        raise SystemExit(f"no summary in elephant's stderr: {result.stderr}")
    lines = result.stdout.split("\n")[:len(sources)]
    return [line.strip() for line in lines], float(match.group(4)), int(match.group(2))


def scores(hypotheses, references):
    return (sacrebleu.corpus_bleu(hypotheses, [references]).score,
            sacrebleu.corpus_chrf(hypotheses, [references]).score)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elephant", type=Path, default=Path("build/cli/elephant"))
    parser.add_argument("--model", type=Path, default=Path("models/elephant-tiny-mt"))
    parser.add_argument("--corpus", type=Path, default=Path("build/corpus"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--speed-sentences", type=int, default=64)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    pairs = eval_mt.held_out_pairs(args.corpus)
    sources = [source for _, source, _ in pairs]
    references = [reference for _, _, reference in pairs]
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSeq2SeqLM.from_pretrained(args.model, dtype=torch.float32).eval()
    settings = {"greedy": dict(num_beams=1, do_sample=False),
                "beam4": dict(num_beams=4, do_sample=False, length_penalty=1.0, early_stopping=True)}
    report = {"threads": args.threads, "held_out_verses": len(sources), "torch": torch.__version__,
              "cpu": os.uname().machine, "quality": {}, "speed": []}

    if not args.skip_quality:
        with tempfile.TemporaryDirectory() as scratch:
            variants = {"bf16": args.model}
            for bits in (8, 4):
                out = Path(scratch) / f"int{bits}"
                subprocess.run([str(args.elephant), "quantize", "-m", str(args.model), "-o", str(out),
                                "--bits", str(bits), "--group", "64"], check=True, capture_output=True)
                variants[f"int{bits} experts"] = out
            for label, gen in settings.items():
                reference_hyps = eval_mt.translate(model, tok, sources, 32, max_new_tokens=256, **gen)
                bleu, chrf = scores(reference_hyps, references)
                row = {"transformers": {"bleu": bleu, "chrf": chrf}}
                for name, path in variants.items():
                    hyps, _, _ = run_elephant(args.elephant, path, sources, args.threads, gen["num_beams"], 32)
                    bleu, chrf = scores(hyps, references)
                    same = sum(a == b for a, b in zip(hyps, reference_hyps))
                    row[name] = {"bleu": bleu, "chrf": chrf, "identical_to_transformers": same}
                report["quality"][label] = row
        print(f"\n### Quality on {len(sources)} held-out verses\n")
        print("| decoding | system | BLEU | chrF | identical to transformers |")
        print("|---|---|---|---|---|")
        for label, row in report["quality"].items():
            for name, values in row.items():
                same = values.get("identical_to_transformers")
                print(f"| {label} | {name} | {values['bleu']:.2f} | {values['chrf']:.2f} | "
                      f"{'' if same is None else f'{same}/{len(sources)}'} |")

    subset = sources[:args.speed_sentences]
    lengths = [len(ids) for ids in tok(subset)["input_ids"]]
    total_tokens = sum(lengths)
    for batch in (1, 8, 32):
        for beam in (1, 2, 4):
            gen = dict(num_beams=beam, do_sample=False, max_new_tokens=256)
            if beam > 1:
                gen.update(length_penalty=1.0, early_stopping=True)
            timing = {}
            eval_mt.translate(model, tok, subset, batch, timing=timing, **gen)
            _, elephant_seconds, elephant_tokens = run_elephant(args.elephant, args.model, subset, args.threads, beam, batch)
            _, unpruned_seconds, _ = run_elephant(args.elephant, args.model, subset, args.threads, beam, batch, prune=False)
            assert elephant_tokens == total_tokens, (elephant_tokens, total_tokens)
            row = {"batch": batch, "beam": beam, "transformers_tokens_per_s": total_tokens / timing["generate"],
                   "elephant_tokens_per_s": total_tokens / elephant_seconds,
                   "elephant_no_prune_tokens_per_s": total_tokens / unpruned_seconds}
            row["speedup"] = row["elephant_tokens_per_s"] / row["transformers_tokens_per_s"]
            row["pruning_gain"] = unpruned_seconds / elephant_seconds
            report["speed"].append(row)
    print(f"\n### Speed: {len(subset)} verses ({total_tokens} source tokens), {args.threads} thread(s), input tokens/s\n")
    print("| batch | beam | transformers | elephant | speedup | elephant, pruning off | pruning gain |")
    print("|---|---|---|---|---|---|---|")
    for row in report["speed"]:
        print(f"| {row['batch']} | {row['beam']} | {row['transformers_tokens_per_s']:.0f} | "
              f"{row['elephant_tokens_per_s']:.0f} | {row['speedup']:.1f}x | "
              f"{row['elephant_no_prune_tokens_per_s']:.0f} | {row['pruning_gain']:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
