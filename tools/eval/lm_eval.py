#!/usr/bin/env python3
"""Evaluate models/elephant-tiny-lm with transformers, independently of the engine.

    python tools/eval/lm_eval.py --model models/elephant-tiny-lm --corpus build/corpus \
        --json build/lm_eval.json --fixture tests/fixtures/tiny_lm/perplexity.json

Writes (a) the held-out text file the engine is scored on (`--heldout-text`, default
build/heldout_web.txt: the WEB verses of the test books, one verse per line, a blank line
between chapters); (b) a JSON report: held-out perplexity of the model (sliding window, the
semantics of src/engine/perplexity.h), of an interpolated Kneser-Ney bigram and a unigram model
trained on the same training tokens, expert usage per layer and how often a token's experts
repeat the previous token's, greedy continuations of a few prompts; (c) optionally the small
test fixture: the perplexity of a slice of the held-out text and greedy continuations of a few
prompts (with their smallest top-1/top-2 logit gap), which tests/engine/perplexity_test.cc and
tests/e2e/tiny_lm_test.cc reproduce with the engine.

The model is evaluated in float32 from its bf16 weights, the engine's arithmetic.
"""
import argparse
import collections
import json
import math
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))
import corpus  # noqa: E402

WINDOW = 256
STRIDE = 128
FIXTURE_CHARS = 1500
FIXTURE_WINDOW = 64
FIXTURE_STRIDE = 32
GREEDY_TOKENS = 40
PROMPTS = ["In the beginning", "The Lord is my shepherd", "Jesus said to them,", "And the king of Egypt"]


def heldout_text(corpus_dir):
    verses = corpus.split(corpus.read_verses(corpus_dir, "web"), test=True)
    return "\n\n".join(corpus.chapters(verses)) + "\n"


def sliding_nll(model, ids, window, stride):
    """(sum of NLL, tokens scored, largest |logit|): the windows of src/engine/perplexity.h."""
    total, scored, scored_until, begin, largest = 0.0, 0, 0, 0, 0.0
    n = len(ids)
    while scored_until < n:
        end = min(begin + window, n)
        first_target = max(scored_until, begin + 1)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids[begin:end]])).logits[0].double()
        largest = max(largest, logits.abs().max().item())
        log_probs = torch.log_softmax(logits, dim=-1)
        for target in range(first_target, end):
            total -= log_probs[target - 1 - begin, ids[target]].item()
        scored += end - first_target
        scored_until = end
        begin += stride
    return total, scored, largest


def kneser_ney_bigram(train_ids, test_ids, vocab, discount=0.75):
    """Held-out (NLL sum, tokens) of an interpolated Kneser-Ney bigram; unseen words get an
    add-one unigram floor so no probability is zero."""
    bigrams = collections.Counter(zip(train_ids, train_ids[1:]))
    context_count = collections.Counter(train_ids[:-1])
    followers = collections.Counter(a for a, _ in bigrams)
    continuation = collections.Counter(b for _, b in bigrams)
    n_bigram_types = len(bigrams)
    unigram = collections.Counter(train_ids)
    total = 0.0
    for a, b in zip(test_ids, test_ids[1:]):
        p_cont = (continuation[b] + 1) / (n_bigram_types + vocab)
        if context_count[a]:
            lam = discount * followers[a] / context_count[a]
            p = max(bigrams[(a, b)] - discount, 0) / context_count[a] + lam * p_cont
        else:
            p = p_cont
        total -= math.log(p)
    unigram_total = -sum(math.log((unigram[b] + 1) / (len(train_ids) + vocab)) for b in test_ids[1:])
    return total, unigram_total, len(test_ids) - 1


def expert_usage(model, ids, window):
    config = model.config
    n_layers, n_experts, k = config.num_hidden_layers, config.num_experts, config.num_experts_per_tok
    counts = [[0] * n_experts for _ in range(n_layers)]
    same_set = [0] * n_layers
    overlap = [0] * n_layers
    pairs = 0
    tokens = 0
    for begin in range(0, len(ids), window):
        chunk = ids[begin:begin + window]
        with torch.no_grad():
            out = model(input_ids=torch.tensor([chunk]), output_router_logits=True)
        for layer, router_logits in enumerate(out.router_logits):
            chosen = torch.topk(router_logits.float(), k, dim=-1).indices.tolist()
            for experts in chosen:
                for e in experts:
                    counts[layer][e] += 1
            for previous, current in zip(chosen, chosen[1:]):
                same_set[layer] += set(previous) == set(current)
                overlap[layer] += len(set(previous) & set(current))
        tokens += len(chunk)
        pairs += len(chunk) - 1
    return {
        "tokens": tokens,
        "experts_per_token": k,
        "fraction_per_expert": [[c / (tokens * k) for c in layer] for layer in counts],
        "same_experts_as_previous_token": [s / pairs for s in same_set],
        "mean_shared_experts_with_previous_token": [o / pairs for o in overlap],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/elephant-tiny-lm"))
    parser.add_argument("--corpus", type=Path, default=Path("build/corpus"))
    parser.add_argument("--heldout-text", type=Path, default=Path("build/heldout_web.txt"))
    parser.add_argument("--json", type=Path, default=Path("build/lm_eval.json"))
    parser.add_argument("--fixture", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(2)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()

    text = heldout_text(args.corpus)
    args.heldout_text.parent.mkdir(parents=True, exist_ok=True)
    args.heldout_text.write_text(text, encoding="utf-8")
    ids = tokenizer(text).input_ids
    nll, scored, _ = sliding_nll(model, ids, WINDOW, STRIDE)

    train_verses = corpus.split(corpus.read_verses(args.corpus, "web"), test=False)
    train_kjv = corpus.split(corpus.read_verses(args.corpus, "kjv"), test=False)
    train_ids = []
    for document in corpus.chapters(train_verses) + corpus.chapters(train_kjv):
        train_ids.extend(tokenizer(document).input_ids)
        train_ids.append(tokenizer.eos_token_id)
    bigram_nll, unigram_nll, bigram_scored = kneser_ney_bigram(train_ids, ids, len(tokenizer))

    continuations = {}
    greedy_cases = []
    for prompt in PROMPTS:
        prompt_ids = tokenizer(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model.generate(prompt_ids, max_new_tokens=GREEDY_TOKENS, do_sample=False,
                                 output_scores=True, return_dict_in_generate=True)
        new_ids = out.sequences[0, prompt_ids.shape[1]:].tolist()
        # The gap between the best and second-best logit at each step: a test that compares
        # greedy tokens is only meaningful when no step is a near tie.
        margins = [(lambda top: (top[0] - top[1]).item())(torch.topk(step[0], 2).values) for step in out.scores]
        continuation = tokenizer.decode(new_ids, skip_special_tokens=True)
        continuations[prompt] = continuation
        greedy_cases.append({"prompt": prompt, "prompt_ids": prompt_ids[0].tolist(), "new_ids": new_ids,
                             "text": continuation, "min_logit_margin": min(margins)})

    report = {
        "heldout_text": str(args.heldout_text),
        "heldout_tokens": len(ids),
        "window": WINDOW,
        "stride": STRIDE,
        "model": {"tokens_scored": scored, "mean_nll": nll / scored, "perplexity": math.exp(nll / scored)},
        "kneser_ney_bigram": {"tokens_scored": bigram_scored, "mean_nll": bigram_nll / bigram_scored,
                              "perplexity": math.exp(bigram_nll / bigram_scored)},
        "unigram": {"tokens_scored": bigram_scored, "perplexity": math.exp(unigram_nll / bigram_scored)},
        "expert_usage": expert_usage(model, ids, WINDOW),
        "greedy_continuations": continuations,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"held-out: {len(ids)} tokens; model ppl {report['model']['perplexity']:.2f}, "
          f"KN bigram ppl {report['kneser_ney_bigram']['perplexity']:.2f}, "
          f"unigram ppl {report['unigram']['perplexity']:.2f}")
    for prompt, continuation in continuations.items():
        print(f"  {prompt!r} -> {continuation!r}")

    if args.fixture:
        cut = text[:FIXTURE_CHARS]
        cut = cut[:cut.rfind("\n") + 1]
        fixture_ids = tokenizer(cut).input_ids
        f_nll, f_scored, f_largest = sliding_nll(model, fixture_ids, FIXTURE_WINDOW, FIXTURE_STRIDE)
        fixture = {
            "text": cut, "token_ids": fixture_ids, "window": FIXTURE_WINDOW, "stride": FIXTURE_STRIDE,
            "tokens_scored": f_scored, "nll_sum": f_nll, "max_abs_logit": f_largest, "perplexity": math.exp(f_nll / f_scored),
            "greedy": greedy_cases,
            "made_by": "tools/eval/lm_eval.py (transformers, float32 from the bf16 checkpoint)",
        }
        args.fixture.write_text(json.dumps(fixture, indent=1, ensure_ascii=True) + "\n")
        print(f"fixture {args.fixture}: {len(fixture_ids)} tokens, ppl {fixture['perplexity']:.4f}")


if __name__ == "__main__":
    main()
