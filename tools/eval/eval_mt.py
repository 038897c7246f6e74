#!/usr/bin/env python3
"""Evaluate an English->Spanish seq2seq model (models/elephant-tiny-mt) on the held-out books.

    python tools/eval/eval_mt.py models/elephant-tiny-mt --corpus build/corpus --json mt_eval.json

Translates every held-out verse (tools/corpus/corpus.py TEST_BOOKS) of the World English Bible
that has a Reina-Valera 1909 counterpart with transformers' `generate`, in batches sorted by
source length, twice:
  * greedy  (num_beams=1);
  * beam-4  (num_beams=4, length_penalty=1.0, early_stopping=True: a batch row stops as soon
    as 4 finished hypotheses exist, as in fairseq/Marian);
both at most --max-new-tokens tokens, and scores them against the RV1909 references with
sacrebleu (corpus BLEU, default 13a tokenisation; chrF, default character 6-grams, beta 2).
The weights are upcast to float32 (--dtype) for the run. The summary records, per decoding, the
wall time of the whole pass (`seconds`: tokenisation, generate, detokenisation) and of the
`model.generate` calls alone (`generate_seconds`), with the thread count and batch size.

With --dump PATH it also writes one JSON object per held-out verse, in held-out order:
  {"ref": "Ruth 1:1", "source": WEB text, "reference": RV1909 text,
   "greedy": greedy hypothesis, "beam4": beam-4 hypothesis}
(hypotheses decoded with skip_special_tokens=True and stripped, exactly the text that is scored),
so that another engine's full held-out output can be compared with transformers' line by line.

It also reports how the routers use the experts on the held-out text: one teacher-forced forward
pass per batch (English source into the encoder, the reference translation, shifted right, into
the decoder), with forward hooks on every SwitchTransformersTop1Router recording the one-hot
dispatch mask it returns (after the expert-capacity cut, so a token dropped for capacity is
counted as such). Padding is excluded. For every sparse layer: the fraction of tokens sent to
each expert, the repeat rate (how often a token goes to the same expert as the previous token
of the same sequence), the repeat rate that independent draws from the same usage would give
(sum of squared fractions), and the number of dropped tokens.

Writes a JSON summary with --json and prints a readable one.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import sacrebleu  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))
import corpus  # noqa: E402


def held_out_pairs(corpus_dir: Path):
    web = corpus.split(corpus.read_verses(corpus_dir, "web"), test=True)
    rv = corpus.split(corpus.read_verses(corpus_dir, "rv1909"), test=True)
    return [(ref, text, rv[ref]) for ref, text in web.items() if ref in rv and text and rv[ref]]


def length_batches(lengths, batch_size):
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def translate(model, tok, sources, batch_size, timing=None, **gen):
    """Hypothesis text per source; adds the seconds spent in model.generate to timing["generate"]."""
    lengths = [len(ids) for ids in tok(sources)["input_ids"]]
    out = [None] * len(sources)
    for idx in length_batches(lengths, batch_size):
        enc = tok([sources[i] for i in idx], return_tensors="pt", padding=True)
        t0 = time.perf_counter()
        with torch.no_grad():
            generated = model.generate(**enc, **gen)
        if timing is not None:
            timing["generate"] = timing.get("generate", 0.0) + time.perf_counter() - t0
        for i, text in zip(idx, tok.batch_decode(generated, skip_special_tokens=True)):
            out[i] = text.strip()
    return out


def expert_usage(model, tok, sources, references, batch_size):
    """Per sparse layer: expert fractions, repeat rate, dropped tokens (teacher forcing)."""
    routers = [(name, module) for name, module in model.named_modules()
               if type(module).__name__ == "SwitchTransformersTop1Router"]
    captured = {}
    hooks = [module.register_forward_hook(
        lambda mod, args, output, name=name: captured.__setitem__(name, output[0].detach()))
        for name, module in routers]
    n_experts = model.config.num_experts
    stats = {name: {"counts": torch.zeros(n_experts, dtype=torch.long), "dropped": 0,
                    "pairs": 0, "repeats": 0} for name, _ in routers}
    lengths = [len(ids) for ids in tok(sources)["input_ids"]]
    for idx in length_batches(lengths, batch_size):
        enc = tok([sources[i] for i in idx], return_tensors="pt", padding=True)
        labels = tok([references[i] for i in idx], return_tensors="pt", padding=True)
        label_mask = labels["attention_mask"]
        label_ids = labels["input_ids"].masked_fill(label_mask == 0, -100)
        captured.clear()
        with torch.no_grad():
            model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                  labels=label_ids, use_cache=False)
        for name, _ in routers:
            dispatch = captured[name]                       # (batch, seq, experts) one-hot
            mask = (enc["attention_mask"] if name.startswith("encoder") else label_mask).bool()
            routed = dispatch.sum(-1) > 0
            choice = dispatch.argmax(-1)
            st = stats[name]
            st["counts"] += torch.bincount(choice[mask & routed], minlength=n_experts)
            st["dropped"] += int((mask & ~routed).sum())
            both = mask[:, 1:] & mask[:, :-1] & routed[:, 1:] & routed[:, :-1]
            st["pairs"] += int(both.sum())
            st["repeats"] += int(((choice[:, 1:] == choice[:, :-1]) & both).sum())
    for h in hooks:
        h.remove()
    result = {}
    for name, st in stats.items():
        total = int(st["counts"].sum())
        frac = (st["counts"].double() / max(1, total)).tolist()
        layer = name.replace(".layer.1.mlp.router", "").replace(".layer.2.mlp.router", "")
        result[layer] = {
            "tokens": total,
            "dropped_tokens": st["dropped"],
            "expert_fraction": [round(f, 4) for f in frac],
            "repeat_rate": round(st["repeats"] / max(1, st["pairs"]), 4),
            "repeat_rate_if_independent": round(sum(f * f for f in frac), 4),
        }
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--corpus", type=Path, default=Path("build/corpus"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--limit", type=int, default=0, help="first N held-out verses only")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--dump", type=Path,
                        help="write every held-out source with its greedy and beam-4 hypotheses "
                             "as JSON lines")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # quiet: "both max_new_tokens and max_length (generation_config.json) set" and progress bars
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()

    data = held_out_pairs(args.corpus)
    if args.limit:
        data = data[:args.limit]
    refs = [f"{b} {c}:{v}" for (b, c, v), _, _ in data]
    sources = [en for _, en, _ in data]
    references = [es for _, _, es in data]
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSeq2SeqLM.from_pretrained(args.model, dtype=getattr(torch, args.dtype))
    model.eval()

    start = time.time()
    results = {"model": str(args.model), "sentences": len(data), "dtype": args.dtype,
               "threads": args.threads, "batch": args.batch,
               "transformers": transformers.__version__, "torch": torch.__version__,
               "sacrebleu": sacrebleu.__version__, "decoding": {}}
    hyps = {}
    for label, gen in (("greedy", dict(num_beams=1, do_sample=False)),
                       ("beam4", dict(num_beams=4, do_sample=False, length_penalty=1.0,
                                      early_stopping=True))):
        t0 = time.time()
        timing = {}
        hyps[label] = translate(model, tok, sources, args.batch, timing=timing,
                                max_new_tokens=args.max_new_tokens, **gen)
        bleu = sacrebleu.corpus_bleu(hyps[label], [references])
        chrf = sacrebleu.corpus_chrf(hyps[label], [references])
        results["decoding"][label] = {
            "bleu": round(bleu.score, 2), "chrf": round(chrf.score, 2),
            "bleu_detail": str(bleu), "seconds": round(time.time() - t0, 2),
            "generate_seconds": round(timing["generate"], 2),
            "settings": {k: v for k, v in gen.items()} | {"max_new_tokens": args.max_new_tokens}}
        print(f"{label}: BLEU {bleu.score:.2f}  chrF {chrf.score:.2f}  "
              f"({time.time() - t0:.0f}s)  {bleu}", flush=True)

    t0 = time.time()
    results["expert_usage"] = expert_usage(model, tok, sources, references, args.batch)
    results["expert_usage_seconds"] = round(time.time() - t0, 1)
    results["seconds"] = round(time.time() - start, 1)
    picks = sorted({round(i * (len(data) - 1) / 9) for i in range(10)}) if len(data) > 1 else [0]
    results["samples"] = [{"ref": refs[i], "source": sources[i], "reference": references[i],
                           "greedy": hyps["greedy"][i], "beam4": hyps["beam4"][i]}
                          for i in picks]

    print(f"\nexpert usage on {len(data)} held-out verses (encoder: English sources; decoder: "
          f"teacher-forced RV1909 references)")
    for layer, st in results["expert_usage"].items():
        fr = " ".join(f"{f:.3f}" for f in st["expert_fraction"])
        print(f"  {layer:16s} tokens {st['tokens']:6d}  experts [{fr}]  repeat "
              f"{st['repeat_rate']:.3f} (independent {st['repeat_rate_if_independent']:.3f})"
              f"  dropped {st['dropped_tokens']}")
    print("\nsamples:")
    for s in results["samples"][:10]:
        print(f"  [{s['ref']}] {s['source']}\n    ref:    {s['reference']}\n"
              f"    greedy: {s['greedy']}\n    beam4:  {s['beam4']}")
    print(f"\n{len(data)} sentences in {results['seconds']:.0f}s")
    if args.dump:
        args.dump.parent.mkdir(parents=True, exist_ok=True)
        with open(args.dump, "w", encoding="utf-8") as f:
            for i in range(len(data)):
                f.write(json.dumps({"ref": refs[i], "source": sources[i], "reference": references[i],
                                    "greedy": hyps["greedy"][i], "beam4": hyps["beam4"][i]},
                                   ensure_ascii=False) + "\n")
        print(f"wrote {args.dump}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
