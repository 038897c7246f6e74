#!/usr/bin/env python3
"""Generate tiny Hugging Face encoder-decoder reference fixtures for Elephant's C++ tests.

Usage:
    python tools/make_seq2seq_fixtures.py --out tests/fixtures
    python tools/make_seq2seq_fixtures.py --out tests/fixtures --only switch nllb_moe
    python tools/make_seq2seq_fixtures.py --out tests/fixtures --only tiny_mt --corpus /work/corpus

It writes three directories (and deletes/rewrites only those):

`<out>/switch/`   a tiny random SwitchTransformersForConditionalGeneration (top-1 routing with an
                  expert capacity small enough that encoder tokens are really dropped)
`<out>/nllb_moe/` a tiny random NllbMoeForConditionalGeneration (GShard top-2 routing, language
                  tokens, forced BOS)
each with
  config.json, generation_config.json, model.safetensors
      written by the model class's own `save_pretrained` (fp32).
  reference.json
      the source sentences as token ids (unpadded, as the tokenizer would lay them out), for each
      source the greedy output and five beam-search runs (ids as `generate` returns them,
      including the decoder start token, cut after the first EOS, plus scores), the exact
      generate kwargs of every case, the routing decisions (and for Switch the tokens dropped for
      capacity), the teacher-forced decoder inputs, the seed, and the smallest margins seen;
      plus greedy and beam-4 cases with repetition_penalty 1.3 (greedy_cases / beams, checked on
      the chosen seed after the search, see REP_GREEDY_CASES).
  encoder_<i>.npy
      float32 [src_len, d_model]: encoder last_hidden_state of source i (one unpadded forward).
  decoder_logits_<i>.npy
      float32 [tgt_len, vocab]: logits of one cache-free decoder forward over
      reference.json's sources[i].decoder_input_ids (teacher forcing) on top of source i.
`<out>/nllb_moe/` also gets tokenizer.json + tokenizer_config.json: a tiny NllbTokenizer (BPE,
  Metaspace) over the fixture's 128 ids with the language tokens at 123..126, and reference.json
  gets `text_cases`: 3 English sentences tokenised with it (src_lang eng_Latn), their greedy and
  beam-4 outputs (forced spa_Latn) and decoded texts.

`<out>/tiny_mt/reference.json` for the embedded model models/elephant-tiny-mt: 24 held-out verses
  (tools/eval/eval_mt.py's held-out pairs, a deterministic subset of varied lengths), tokenised as
  eval_mt.py does, with transformers' greedy and beam-4 outputs (eval_mt.py's settings, weights
  upcast to float32), their texts and scores, and per-verse margins.

tests/fixtures/NOTES.md ("Encoder-decoder fixtures") documents every field and the semantics.

Weights of the two random models are re-initialised from a seed with a wide but sane spread
(Switch: shared embedding ~N(0, 2) because the tied lm_head input is scaled by d_model^-0.5,
q ~N(0, 0.5/sqrt(d_kv)) because T5 attention is not scaled, relative bias ~N(0, 1), routers
~N(0, 0.5), other matrices ~N(0, 0.5), RMSNorm weights ~U(0.8, 1.2); NLLB: embedding
~N(0, 0.35) (times sqrt(d_model) on input) with a zero pad row, routers ~N(0, 0.5), other
matrices ~N(0, 0.5), biases ~N(0, 0.1), LayerNorm weights ~U(0.8, 1.2)). With tied embeddings
and smaller matrices a random model mostly repeats one token; the EOS row of the embedding is
scaled by 1.7 so that hypotheses finish.
Seeds are tried in order until all of these hold:
  * router margins > 2e-3 (top-1 minus top-2 softmax probability; for NLLB also top-2 minus
    top-3 router logit, since the 2nd and 3rd probabilities are often both tiny) at every token
    of every source, every teacher-forced decoder input, every greedy output and every returned
    beam hypothesis; > 1e-4 at every decoder row that beam search ran, pruned beams included;
  * top-1 minus top-2 logit > 1e-2 at every (non-forced) greedy step;
  * every beam run gives exactly the same hypotheses with the model in float64, and with uniform
    noise of +-1e-4 added to every log-probability (two noise seeds), so that summation-order
    differences of another implementation cannot reorder beams;
  * recomputing every hypothesis' score by incremental decoding (KV cache, one token per step)
    reproduces `sequences_scores`;
  * generate on the right-padded batch of all sources gives the same ids (and scores within
    1e-4) as the sources one at a time;
  * at least 2 greedy outputs (not all) end with EOS, and the greedy outputs use at least 8
    distinct tokens;
  * early_stopping=True and False (length_penalty 1.0) give different hypotheses for at least
    one source, and for NLLB also False and "never" (length_penalty 0.6);
  * Switch: at least one token is dropped for capacity in each sparse encoder layer;
  * NLLB: no decoder row ever contains the pad token (its position would be the padding row).

transformers 5.23's NllbMoeExperts.forward one-hot encodes the router's one-hot top-1 mask a
second time, so it always runs expert_1 with the top-1 weight and expert_0 with the top-2 weight,
whatever the router chose (see NOTES.md). This script replaces that method with the intended
GShard combine (sum over the two routed experts of weight * expert(x) * (1 - moe_token_dropout));
the fixtures follow the intended semantics, and reference.json records how far unpatched
transformers is from them.

Everything runs on CPU in a single thread and is deterministic: rerunning the script with the same
library versions rewrites the same files.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import LogitsProcessor, LogitsProcessorList

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402  (margins, save_kwargs, dir_bytes, normalise_modes, ...)

from transformers.models.nllb_moe import modeling_nllb_moe  # noqa: E402

ROUTER_MARGIN = mf.ROUTER_MARGIN  # 2e-3, see docstring
LOGIT_MARGIN = mf.LOGIT_MARGIN  # 1e-2
ROUTER_MARGIN_ANY_BEAM_ROW = 1e-4
LOGPROB_NOISE = 1e-4
NOISE_SEEDS = (1, 2)
SCORE_TOL = 1e-4
MAX_SEED_TRIES = 400
MAX_NEW_TOKENS = 20
SOURCE_LENS = (3, 6, 9, 13, 17, 20)  # token counts including EOS (and the NLLB language token)
MAX_DIR_BYTES = 1_500_000
NUM_BEAMS = 4
LINEAR_STD = 0.5  # attention / FFN / expert matrices; 0.25 gives outputs that repeat one token
MIN_DISTINCT_GREEDY_TOKENS = 8  # over all greedy outputs (EOS and the forced token excluded)

# NLLB-style vocabulary of the tiny NLLB model: <s> 0, <pad> 1, </s> 2, <unk> 3, ordinary tokens
# 4..122, language codes 123..126 and <mask> 127 at the end, as in the real NLLB vocabulary.
NLLB_LANGS = {"eng_Latn": 123, "fra_Latn": 124, "spa_Latn": 125, "deu_Latn": 126}
NLLB_MASK = 127
NLLB_TGT_LANG = "spa_Latn"

FAMILIES = {
    "switch": dict(
        model_cls="SwitchTransformersForConditionalGeneration",
        config_cls="SwitchTransformersConfig",
        router_cls="SwitchTransformersTop1Router",
        top_k=1,
        first_seed=5000,
        data_seed=55,
        tgt_len=6,  # <= expert_capacity, so a full decoder forward cannot drop a token
        embed_std=2.0,  # logits = (h / sqrt(d_model)) . e, so this is about the logit std
        eos_boost=1.7,
        # Switch outputs mostly run to max_new_tokens, where early_stopping False and "never"
        # rarely part ways; not required (the NLLB fixture covers it).
        require_never_differs=False,
        config=dict(
            vocab_size=128,
            d_model=48,
            d_kv=16,
            d_ff=64,
            num_heads=4,  # inner dim 4*16 = 64 != d_model
            num_layers=4,
            num_decoder_layers=2,
            num_sparse_encoder_layers=2,
            num_sparse_decoder_layers=1,
            num_experts=4,
            expert_capacity=6,
            router_bias=False,
            router_jitter_noise=0.0,
            router_dtype="float32",
            router_ignore_padding_tokens=False,
            relative_attention_num_buckets=32,
            relative_attention_max_distance=128,
            dense_act_fn="relu",
            layer_norm_epsilon=1e-6,
            tie_word_embeddings=True,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        ),
    ),
    "nllb_moe": dict(
        model_cls="NllbMoeForConditionalGeneration",
        config_cls="NllbMoeConfig",
        router_cls="NllbMoeTop2Router",
        top_k=2,
        first_seed=6000,
        data_seed=66,
        tgt_len=10,
        embed_std=0.35,
        eos_boost=1.7,
        require_never_differs=True,
        config=dict(
            vocab_size=128,
            d_model=32,
            encoder_layers=4,
            decoder_layers=2,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=48,
            decoder_ffn_dim=48,
            num_experts=4,
            expert_capacity=64,  # unused in eval: moe_eval_capacity_token_fraction > 0
            encoder_sparse_step=2,
            decoder_sparse_step=2,
            router_bias=False,
            router_dtype="float32",
            router_ignore_padding_tokens=False,
            second_expert_policy="all",
            normalize_router_prob_before_dropping=False,
            batch_prioritized_routing=False,
            moe_eval_capacity_token_fraction=1.0,
            moe_token_dropout=0.2,
            scale_embedding=True,
            activation_function="relu",
            max_position_embeddings=64,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            decoder_start_token_id=2,
            tie_word_embeddings=True,
        ),
    ),
}

# Beam cases: name -> generate kwargs (on top of num_beams / num_return_sequences / max_new_tokens).
BEAM_CASES = {
    "beam4": dict(length_penalty=1.0, early_stopping=True),
    "beam4_early_false": dict(length_penalty=1.0, early_stopping=False),
    "beam4_lp0.6_early_false": dict(length_penalty=0.6, early_stopping=False),
    "beam4_lp0.6_early_never": dict(length_penalty=0.6, early_stopping="never"),
    "beam4_no_repeat_ngram2": dict(length_penalty=1.0, early_stopping=True, no_repeat_ngram_size=2),
}

# Repetition-penalty cases. They are computed after the seed is chosen and take no part in the seed
# search (so adding them left the seeds and every earlier value unchanged). The same margins are
# checked for them; a failure is printed and recorded in reference.json
# (margins.repetition_penalty_cases.below_threshold) rather than changing the seed. With seeds 5002 /
# 6017 one greedy step of source 3 is a near-tie in both families (see NOTES.md).
REPETITION_PENALTY = 1.3
REP_GREEDY_CASES = {
    "greedy_repetition_penalty1.3": dict(repetition_penalty=REPETITION_PENALTY),
}
REP_BEAM_CASES = {
    "beam4_repetition_penalty1.3": dict(length_penalty=1.0, early_stopping=True,
                                        repetition_penalty=REPETITION_PENALTY),
}

# Tiny NLLB tokenizer (nllb_moe/tokenizer.json): a SentencePiece-style BPE over the 128-id
# vocabulary of the fixture, built with transformers' own NllbTokenizer from this vocabulary and
# these merges. Ids 4..122: the Metaspace marker, letters, punctuation and a few Spanish letters,
# then every prefix of "\u2581" + word for the words below (each merge extends a word-initial
# prefix by one character, so a listed word is one token and anything else falls back to
# characters; characters outside the list become <unk>).
NLLB_TOKENIZER_CHARS = ("\u2581" + "abcdefghijklmnopqrstuvwxyz" + ".,?!'" + "\u00e1\u00e9\u00ed\u00f3\u00fa"
                        + "\u00f1\u00bf\u00a1")
NLLB_TOKENIZER_WORDS = ("the", "a", "is", "in", "cat", "dog", "house", "see", "red", "big", "and", "on", "my",
                        "el", "la", "de", "gato", "perro", "casa", "es", "en", "rojo", "grande", "y", "veo",
                        "mi", "un", "una", "white", "sun", "sol", "no", "it")
# Chosen among a few short sentences for clear greedy logit margins (> LOGIT_MARGIN; "the cat is in
# the house." has 0.0093, "i see my dog." 0.00086) and outputs that differ between greedy and beam.
NLLB_TEXTS = ("my dog is big and red.", "no, it is a dog!", "the big house is white.")
NLLB_TEXT_SRC_LANG = "eng_Latn"


class Reject(Exception):
    """A seed does not meet the margins / coverage criteria."""


# --------------------------------------------------------------------------- NLLB-MoE expert fix

_HF_NLLB_EXPERTS_FORWARD = modeling_nllb_moe.NllbMoeExperts.forward


def _nllb_experts_forward_intended(self, hidden_states, router_mask, router_probs):
    """GShard top-2 combine. router_probs [tokens, E] holds the combine weights (zero where a
    token is not routed); every expert runs on the tokens routed to it and its output, times the
    weight and (in eval) 1 - moe_token_dropout, is added in ascending expert order."""
    out = torch.zeros_like(hidden_states)
    routed = router_probs > 0
    for e in range(self.num_experts):
        tokens = torch.nonzero(routed[:, e]).squeeze(-1)
        if tokens.numel() == 0:
            continue
        y = self[f"expert_{e}"](hidden_states[tokens]) * router_probs[tokens, e, None]
        if self.moe_token_dropout > 0:
            if self.training:
                y = self.token_dropout(y)
            else:
                y = y * (1 - self.moe_token_dropout)
        out.index_add_(0, tokens, y.to(hidden_states.dtype))
    return out


def use_intended_nllb_experts(flag: bool) -> None:
    modeling_nllb_moe.NllbMoeExperts.forward = (
        _nllb_experts_forward_intended if flag else _HF_NLLB_EXPERTS_FORWARD)


# --------------------------------------------------------------------------- helpers


class RouterTap:
    """Forward hooks on every router module, recording its outputs."""

    def __init__(self, model, router_cls: str):
        self.records: list[tuple[str, tuple]] = []
        self.handles = []
        for name, mod in model.named_modules():
            if type(mod).__name__ == router_cls:
                self.handles.append(mod.register_forward_hook(self._hook(name)))

    def _hook(self, name):
        def fn(mod, args, out):
            self.records.append((name, tuple(o.detach().clone() for o in out)))
        return fn

    def clear(self):
        self.records = []

    def close(self):
        for h in self.handles:
            h.remove()

    def margins(self, top_k: int) -> tuple[float, float]:
        """(smallest top-1 minus top-2 softmax probability, smallest top-2 minus top-3 router
        logit when top_k == 2, else inf) over everything recorded. The second expert is chosen
        by argmax over the logits with the first masked out, and its probability and the third's
        are often both tiny, so their order is measured by the logit (= log-probability) gap."""
        p12 = l23 = float("inf")
        for _, out in self.records:
            logits = out[2].reshape(-1, out[2].shape[-1]).double()
            probs = torch.softmax(logits, dim=-1).sort(dim=-1, descending=True).values
            p12 = min(p12, float((probs[:, 0] - probs[:, 1]).min()))
            if top_k == 2:
                srt = logits.sort(dim=-1, descending=True).values
                l23 = min(l23, float((srt[:, 1] - srt[:, 2]).min()))
        return p12, l23


class LogProbNoise(LogitsProcessor):
    """Adds seeded uniform noise in [-amp, amp] to every (log-)probability."""

    def __init__(self, amp: float, seed: int):
        self.amp = amp
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, input_ids, scores):
        noise = (torch.rand(scores.shape, generator=self.gen, dtype=torch.float64) * 2 - 1) * self.amp
        return scores + noise.to(scores.dtype)


class WatchToken(LogitsProcessor):
    """Records whether any decoder row fed to the model contains `token` after position 0."""

    def __init__(self, token: int):
        self.token = token
        self.seen = False

    def __call__(self, input_ids, scores):
        self.seen |= bool((input_ids[:, 1:] == self.token).any())
        return scores


def short_layer(name: str) -> str:
    for suffix in (".layer.1.mlp.router", ".layer.2.mlp.router", ".ffn.router"):
        name = name.replace(suffix, "")
    return name.replace("model.", "", 1) if name.startswith("model.") else name


def make_config(family: str):
    spec = FAMILIES[family]
    return getattr(transformers, spec["config_cls"])(**spec["config"])


def model_class(family: str):
    return getattr(transformers, FAMILIES[family]["model_cls"])


def new_model(family: str, config):
    return model_class(family)._from_config(config, dtype=torch.float32, attn_implementation="eager")


def embedding_param(model):
    return model.get_input_embeddings().weight


@torch.no_grad()
def init_weights(family: str, model, seed: int) -> None:
    """Wide, seeded re-initialisation (see module docstring)."""
    spec = FAMILIES[family]
    cfg = model.config
    gen = torch.Generator().manual_seed(seed)
    emb = embedding_param(model)

    def normal(shape, std):
        return torch.randn(shape, generator=gen) * std

    for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        if p is emb:
            vals = normal(p.shape, spec["embed_std"])
        elif name.endswith("bias"):
            vals = normal(p.shape, 0.1)
        elif p.dim() == 1:  # RMSNorm (Switch) / LayerNorm (NLLB) weights
            vals = 0.8 + 0.4 * torch.rand(p.shape, generator=gen)
        elif "router.classifier" in name:
            vals = normal(p.shape, 0.5)
        elif "relative_attention_bias" in name:
            vals = normal(p.shape, 1.0)
        elif family == "switch" and name.endswith(".q.weight"):
            vals = normal(p.shape, LINEAR_STD * cfg.d_kv ** -0.5)  # T5 folds 1/sqrt(d_kv) into q
        else:
            vals = normal(p.shape, LINEAR_STD)
        p.copy_(vals.to(p.dtype))
    emb[cfg.eos_token_id] *= spec["eos_boost"]
    if family == "nllb_moe":
        emb[cfg.pad_token_id] = 0.0  # as nn.Embedding(padding_idx=...) initialises it
    stacks = (model.encoder, model.decoder) if family == "switch" else (model.model.encoder, model.model.decoder)
    for tied in (model.get_output_embeddings(), *(s.embed_tokens for s in stacks)):
        assert tied.weight.data_ptr() == emb.data_ptr(), "embeddings / lm_head not tied"


def make_data(family: str, config):
    """Sources (token ids, unpadded, tokenizer layout) and teacher-forcing decoder inputs."""
    spec = FAMILIES[family]
    rng = np.random.default_rng(spec["data_seed"])
    srcs, src_langs, tgts = [], [], []
    if family == "switch":
        lo, hi = 2, config.vocab_size  # everything except pad 0 / eos 1
        for n in SOURCE_LENS:
            srcs.append([int(x) for x in rng.integers(lo, hi, size=n - 1)] + [config.eos_token_id])
            src_langs.append(None)
        for _ in SOURCE_LENS:
            tgts.append([config.decoder_start_token_id]
                        + [int(x) for x in rng.integers(lo, hi, size=spec["tgt_len"] - 1)])
    else:
        lo, hi = 4, min(NLLB_LANGS.values())  # ordinary tokens only
        for i, n in enumerate(SOURCE_LENS):
            lang = "eng_Latn" if i % 2 == 0 else "fra_Latn"
            srcs.append([NLLB_LANGS[lang]] + [int(x) for x in rng.integers(lo, hi, size=n - 2)]
                        + [config.eos_token_id])
            src_langs.append(lang)
        for _ in SOURCE_LENS:
            tgts.append([config.decoder_start_token_id, NLLB_LANGS[NLLB_TGT_LANG]]
                        + [int(x) for x in rng.integers(lo, hi, size=spec["tgt_len"] - 2)])
    return srcs, src_langs, tgts


def forced_kwargs(family: str) -> dict:
    return {"forced_bos_token_id": NLLB_LANGS[NLLB_TGT_LANG]} if family == "nllb_moe" else {}


def pad_batch(srcs, pad_id):
    """Right padding, as both tokenizers do by default."""
    width = max(len(s) for s in srcs)
    ids = torch.full((len(srcs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(srcs), width), dtype=torch.long)
    for i, s in enumerate(srcs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    return ids, mask


def trim(seq: list[int], eos: int) -> list[int]:
    """Cut after the first EOS that follows the decoder start token (position 0)."""
    for i in range(1, len(seq)):
        if seq[i] == eos:
            return seq[:i + 1]
    return seq


@torch.no_grad()
def run_generate(model, srcs, pad_id, **kw):
    ids, mask = pad_batch(srcs, pad_id)
    return model.generate(input_ids=ids, attention_mask=mask, do_sample=False, **kw)


@torch.no_grad()
def incremental_logprobs(model, src, dec_ids):
    """log_softmax of the logits predicting dec_ids[1:], one decoder token per call (KV cache)."""
    enc = model.get_encoder()(input_ids=torch.tensor([src]))
    cache, rows = None, []
    for t in range(len(dec_ids) - 1):
        out = model(encoder_outputs=enc, decoder_input_ids=torch.tensor([[dec_ids[t]]]),
                    past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        rows.append(torch.log_softmax(out.logits[0, -1].float(), dim=-1))
    return rows


def sequence_logprob(family, rows, dec_ids):
    """What beam search accumulates: log_softmax of the raw logits, except that the forced BOS
    step (NLLB, first generated token) contributes 0 because ForcedBOSTokenLogitsProcessor
    overwrites the forced token's log-prob with 0."""
    total = 0.0
    for t, row in enumerate(rows):
        if family == "nllb_moe" and t == 0:
            continue
        total += float(row[dec_ids[t + 1]])
    return total


def switch_left_padding_effect(model, srcs, pad_id):
    """Encoder outputs of the batch with LEFT padding vs unpadded (documentation only)."""
    width = max(len(s) for s in srcs)
    ids = torch.full((len(srcs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(srcs), width), dtype=torch.long)
    for i, s in enumerate(srcs):
        ids[i, width - len(s):] = torch.tensor(s)
        mask[i, width - len(s):] = 1
    with torch.no_grad():
        left = model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
        worst = 0.0
        for i, s in enumerate(srcs):
            alone = model.get_encoder()(input_ids=torch.tensor([s])).last_hidden_state[0]
            worst = max(worst, float((left[i, width - len(s):] - alone).abs().max()))
    return worst


# --------------------------------------------------------------------------- evaluation


def evaluate(family: str, model, srcs, src_langs, tgts, full: bool) -> dict:
    """Run every reference computation on `model`, raising Reject if a criterion fails.
    With full=False some documentation-only extras are skipped (seed search)."""
    spec = FAMILIES[family]
    cfg = model.config
    eos, pad = cfg.eos_token_id, cfg.pad_token_id
    top_k = spec["top_k"]
    tap = RouterTap(model, spec["router_cls"])
    margins = dict(router_reference=float("inf"), router_reference_logit23=float("inf"),
                   router_any_beam_row=float("inf"), router_any_beam_row_logit23=float("inf"),
                   greedy_logit=float("inf"))
    per_src = [dict(index=i, src_ids=s) for i, s in enumerate(srcs)]
    for rec, lang in zip(per_src, src_langs):
        if lang is not None:
            rec["src_lang"] = lang

    def note_router(key, threshold, what):
        p12, l23 = tap.margins(top_k)
        margins[key] = min(margins[key], p12)
        margins[key + "_logit23"] = min(margins[key + "_logit23"], l23)
        if p12 <= threshold:
            raise Reject(f"router probability margin {p12:.3g} at {what}")
        if l23 <= threshold:
            raise Reject(f"router 2nd/3rd logit margin {l23:.3g} at {what}")

    try:
        # 1. Encoder, one unpadded source at a time.
        drops_per_layer: dict[str, int] = {}
        for i, src in enumerate(srcs):
            tap.clear()
            with torch.no_grad():
                enc = model.get_encoder()(input_ids=torch.tensor([src])).last_hidden_state[0]
            note_router("router_reference", ROUTER_MARGIN, f"encoder source {i}")
            per_src[i]["encoder"] = enc.numpy().astype(np.float32)
            routing = []
            for name, out in tap.records:
                layer = short_layer(name)
                logits = out[2].reshape(-1, out[2].shape[-1])
                if family == "switch":
                    dispatched = out[0].reshape(-1, out[0].shape[-1]).sum(-1) > 0
                    dropped = [int(t) for t in torch.nonzero(~dispatched).flatten()]
                    drops_per_layer[layer] = drops_per_layer.get(layer, 0) + len(dropped)
                    routing.append(dict(layer=layer, experts=logits.argmax(-1).tolist(),
                                        dropped_positions=dropped))
                else:
                    routing.append(dict(layer=layer,
                                        experts=torch.topk(logits, 2, dim=-1).indices.tolist()))
            per_src[i]["encoder_routing"] = routing
        if family == "switch":
            if not drops_per_layer or min(drops_per_layer.values()) == 0:
                raise Reject(f"no capacity drop in some sparse encoder layer: {drops_per_layer}")

        # 2. Teacher-forced decoder inputs: one cache-free forward, equal to incremental decoding.
        for i, (src, tgt) in enumerate(zip(srcs, tgts)):
            tap.clear()
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([src]), decoder_input_ids=torch.tensor([tgt]),
                               use_cache=False).logits[0].float()
            note_router("router_reference", ROUTER_MARGIN, f"teacher-forced decoder {i}")
            dec_routing = [dict(layer=short_layer(n),
                                experts=(o[2].reshape(-1, o[2].shape[-1]).argmax(-1).tolist()
                                         if family == "switch" else
                                         torch.topk(o[2].reshape(-1, o[2].shape[-1]), 2, -1).indices.tolist()))
                           for n, o in tap.records if short_layer(n).startswith("decoder")]
            inc = incremental_logprobs(model, src, tgt + [eos])
            diff = float((torch.stack(inc) - torch.log_softmax(logits, -1)).abs().max())
            assert diff < 1e-3, f"full decoder forward != incremental decoding ({diff})"
            per_src[i].update(decoder_input_ids=tgt, decoder_logits=logits.numpy().astype(np.float32),
                              decoder_routing=dec_routing)

        # 3. Greedy, one source at a time.
        n_eos = 0
        for i, src in enumerate(srcs):
            watch = WatchToken(pad)
            tap.clear()
            out = run_generate(model, [src], pad, num_beams=1, max_new_tokens=MAX_NEW_TOKENS,
                               output_scores=True, output_logits=True, return_dict_in_generate=True,
                               logits_processor=LogitsProcessorList([watch]), **forced_kwargs(family))
            note_router("router_reference", ROUTER_MARGIN, f"greedy source {i}")
            seq = out.sequences[0].tolist()
            ids = trim(seq, eos)
            assert ids == seq, "single-row greedy output has padding"
            gaps, lp = [], 0.0
            for t, raw in enumerate(out.logits):
                raw = raw[0].float()
                if family == "nllb_moe" and t == 0:
                    assert ids[1] == NLLB_LANGS[NLLB_TGT_LANG]
                    continue  # forced: contributes 0, no margin needed
                top2 = torch.topk(raw, 2).values
                gaps.append(float(top2[0] - top2[1]))
                lp += float(torch.log_softmax(raw, -1)[ids[t + 1]])
            margins["greedy_logit"] = min(margins["greedy_logit"], min(gaps))
            if min(gaps) <= LOGIT_MARGIN:
                raise Reject(f"greedy logit margin {min(gaps):.3g} (source {i})")
            if family == "nllb_moe" and (watch.seen or pad in ids[1:]):
                raise Reject(f"pad token in greedy output (source {i})")
            finished = ids[-1] == eos and len(ids) > 1
            n_eos += finished
            n_gen = len(ids) - 1
            per_src[i]["greedy"] = dict(ids=ids, n_generated=n_gen, finished_with_eos=finished,
                                        logprob_sum=lp, score=lp / n_gen, min_logit_margin=min(gaps))
        if n_eos < 2 or n_eos == len(srcs):
            raise Reject(f"{n_eos} of {len(srcs)} greedy outputs end with EOS (want >= 2 and not all)")
        skip = 2 if family == "nllb_moe" else 1
        distinct = {t for r in per_src for t in r["greedy"]["ids"][skip:] if t != eos}
        if len(distinct) < MIN_DISTINCT_GREEDY_TOKENS:
            raise Reject(f"greedy outputs use only {len(distinct)} distinct tokens")

        # 4. Beam search cases, one source at a time.
        model64 = copy.deepcopy(model).to(torch.float64)
        for mod in model64.modules():
            if type(mod).__name__ == spec["router_cls"]:
                mod.dtype = torch.float64  # route in float64 too
        case_stats = {}
        for case, ckw in BEAM_CASES.items():
            kw = dict(num_beams=NUM_BEAMS, num_return_sequences=NUM_BEAMS, max_new_tokens=MAX_NEW_TOKENS,
                      output_scores=True, return_dict_in_generate=True, **ckw, **forced_kwargs(family))
            n_fin = n_max = 0
            for i, src in enumerate(srcs):
                watch = WatchToken(pad)
                tap.clear()
                out = run_generate(model, [src], pad, logits_processor=LogitsProcessorList([watch]), **kw)
                note_router("router_any_beam_row", ROUTER_MARGIN_ANY_BEAM_ROW, f"{case} source {i}")
                if family == "nllb_moe" and watch.seen:
                    raise Reject(f"pad token in a running beam ({case}, source {i})")
                hyps = []
                for seq, score in zip(out.sequences.tolist(), out.sequences_scores.tolist()):
                    ids = trim(seq, eos)
                    if family == "nllb_moe" and pad in ids[1:]:
                        raise Reject(f"pad token in a beam hypothesis ({case}, source {i})")
                    finished = ids[-1] == eos
                    n_fin += finished
                    n_max += not finished
                    assert finished or len(ids) == 1 + MAX_NEW_TOKENS, "unfinished hypothesis too short"
                    # Router margins along the returned hypothesis and score recomputation.
                    tap.clear()
                    rows = incremental_logprobs(model, src, ids)
                    note_router("router_reference", ROUTER_MARGIN, f"{case} source {i} hypothesis")
                    lp = sequence_logprob(family, rows, ids)
                    n_gen = len(ids) - 1
                    rescored = lp / n_gen ** ckw["length_penalty"]
                    assert abs(rescored - score) < SCORE_TOL, \
                        f"{case} source {i}: rescored {rescored} != sequences_scores {score}"
                    hyps.append(dict(ids=ids, score=score, n_generated=n_gen, finished_with_eos=finished,
                                     logprob_sum=lp))
                ref_ids = [h["ids"] for h in hyps]
                # float64 model
                out64 = run_generate(model64, [src], pad, **kw)
                ids64 = [trim(s, eos) for s in out64.sequences.tolist()]
                if ids64 != ref_ids:
                    raise Reject(f"{case} source {i}: float64 beams differ")
                # noisy log-probs
                for ns in NOISE_SEEDS:
                    outn = run_generate(model, [src], pad,
                                        logits_processor=LogitsProcessorList([LogProbNoise(LOGPROB_NOISE, ns)]),
                                        **kw)
                    if [trim(s, eos) for s in outn.sequences.tolist()] != ref_ids:
                        raise Reject(f"{case} source {i}: beams change under +-{LOGPROB_NOISE} noise")
                per_src[i].setdefault("beams", {})[case] = dict(
                    hypotheses=hyps,
                    float64_max_score_diff=float(np.max(np.abs(
                        np.array(out64.sequences_scores.tolist()) - np.array([h["score"] for h in hyps])))))
            case_stats[case] = dict(hypotheses_with_eos=n_fin, hypotheses_at_max_length=n_max)

        # Coverage: the stopping rules must matter somewhere, or a wrong rule would go unnoticed.
        def differing(a, b):
            return [i for i, r in enumerate(per_src)
                    if [h["ids"] for h in r["beams"][a]["hypotheses"]]
                    != [h["ids"] for h in r["beams"][b]["hypotheses"]]]
        for a, b, required in (("beam4", "beam4_early_false", True),
                               ("beam4_lp0.6_early_false", "beam4_lp0.6_early_never",
                                spec["require_never_differs"])):
            diff = differing(a, b)
            if required and not diff:
                raise Reject(f"{a} and {b} agree on every source")
            case_stats[f"sources where {a} != {b}"] = diff

        # 5. The right-padded batch of all sources must reproduce the one-at-a-time results.
        batch = {}
        out = run_generate(model, srcs, pad, num_beams=1, max_new_tokens=MAX_NEW_TOKENS,
                           **forced_kwargs(family))
        got = [trim(s, eos) for s in out.tolist()]
        if got != [r["greedy"]["ids"] for r in per_src]:
            raise Reject("batched greedy differs from one-at-a-time")
        batch["greedy"] = dict(identical_ids=True)
        for case, ckw in BEAM_CASES.items():
            out = run_generate(model, srcs, pad, num_beams=NUM_BEAMS, num_return_sequences=NUM_BEAMS,
                               max_new_tokens=MAX_NEW_TOKENS, output_scores=True, return_dict_in_generate=True,
                               **ckw, **forced_kwargs(family))
            seqs = [trim(s, eos) for s in out.sequences.tolist()]
            scores = out.sequences_scores.tolist()
            worst = 0.0
            for i, rec in enumerate(per_src):
                hyps = rec["beams"][case]["hypotheses"]
                if seqs[i * NUM_BEAMS:(i + 1) * NUM_BEAMS] != [h["ids"] for h in hyps]:
                    raise Reject(f"batched {case} differs from one-at-a-time (source {i})")
                for j, h in enumerate(hyps):
                    worst = max(worst, abs(scores[i * NUM_BEAMS + j] - h["score"]))
            if worst > SCORE_TOL:
                raise Reject(f"batched {case} scores differ by {worst}")
            batch[case] = dict(identical_ids=True, max_score_diff=worst)
    finally:
        tap.close()

    result = dict(per_src=per_src, margins=margins, case_stats=case_stats, batch=batch,
                  drops_per_layer=drops_per_layer if family == "switch" else None,
                  greedy_with_eos=n_eos)
    if full and family == "switch":
        result["left_padding_encoder_max_abs_diff"] = switch_left_padding_effect(model, srcs, pad)
    return result


# --------------------------------------------------------------------------- cases checked after the seed


def penalise_row(scores, context, penalty: float):
    """transformers' RepetitionPenaltyLogitsProcessor on one row: every id in `context` (all decoder
    input ids so far, the decoder start token and NLLB's forced language token included) gets
    score * penalty where its score is negative and score / penalty otherwise (float32, as LP does)."""
    idx = torch.tensor(sorted(set(context)), dtype=torch.long)
    vals = scores[idx]
    out = scores.clone()
    out[idx] = torch.where(vals < 0, vals * penalty, vals / penalty)
    return out


def sequence_logprob_processed(family, rows, dec_ids, penalty: float):
    """What beam search accumulates with a repetition penalty: log_softmax of the raw logits, then
    the penalty applied to those log-probabilities (all <= 0, so a token already in the hypothesis
    prefix, decoder start token included, gets log-prob * penalty; nothing is renormalised); the
    forced BOS step (NLLB) contributes 0."""
    total = 0.0
    for t, row in enumerate(rows):
        if family == "nllb_moe" and t == 0:
            continue
        total += float(penalise_row(row, dec_ids[:t + 1], penalty)[dec_ids[t + 1]])
    return total


class CaseChecker:
    """Greedy and beam cases run on the chosen seed with evaluate()'s criteria (router margins,
    greedy logit margin on the scores argmax sees, float64 and noise-stable beams, incremental
    rescoring, no pad in NLLB decoder rows). A criterion that fails is collected, not rejected:
    build_family then stops with the list instead of trying another seed."""

    def __init__(self, family: str, model, model64):
        self.family, self.model, self.model64 = family, model, model64
        self.spec = FAMILIES[family]
        self.eos, self.pad = model.config.eos_token_id, model.config.pad_token_id
        self.tap = RouterTap(model, self.spec["router_cls"])
        self.margins = dict(router_reference=float("inf"), router_reference_logit23=float("inf"),
                            router_any_beam_row=float("inf"), router_any_beam_row_logit23=float("inf"),
                            greedy_logit=float("inf"))
        self.failures: list[str] = []

    def close(self):
        self.tap.close()

    def note_router(self, key, threshold, what):
        p12, l23 = self.tap.margins(self.spec["top_k"])
        self.margins[key] = min(self.margins[key], p12)
        self.margins[key + "_logit23"] = min(self.margins[key + "_logit23"], l23)
        if p12 <= threshold:
            self.failures.append(f"router probability margin {p12:.3g} at {what}")
        if l23 <= threshold:
            self.failures.append(f"router 2nd/3rd logit margin {l23:.3g} at {what}")

    def greedy(self, src, penalty: float, what: str) -> dict:
        family, eos, pad = self.family, self.eos, self.pad
        extra = dict(repetition_penalty=penalty) if penalty != 1.0 else {}
        kw = dict(num_beams=1, max_new_tokens=MAX_NEW_TOKENS, **extra, **forced_kwargs(family))
        watch = WatchToken(pad)
        self.tap.clear()
        out = run_generate(self.model, [src], pad, output_scores=True, output_logits=True,
                           return_dict_in_generate=True, logits_processor=LogitsProcessorList([watch]), **kw)
        self.note_router("router_reference", ROUTER_MARGIN, what)
        seq = out.sequences[0].tolist()
        ids = trim(seq, eos)
        assert ids == seq, "single-row greedy output has padding"
        gaps, steps, lp_raw, lp_proc, changed = [], [], 0.0, 0.0, []
        for t, (raw, proc) in enumerate(zip(out.logits, out.scores)):
            raw, proc = raw[0].float(), proc[0].float()
            if family == "nllb_moe" and t == 0:
                assert ids[1] == NLLB_LANGS[NLLB_TGT_LANG]
                continue  # forced: contributes 0 (raw and processed), no margin needed
            # The scores argmax saw are the raw logits with the penalty on every decoder input id.
            mine = penalise_row(raw, ids[:t + 1], penalty) if penalty != 1.0 else raw
            assert torch.equal(mine, proc), f"{what}: processed scores at step {t} != penalty on raw logits"
            top2 = torch.topk(proc, 2).values
            gaps.append(float(top2[0] - top2[1]))
            steps.append(t)
            lp_raw += float(torch.log_softmax(raw, -1)[ids[t + 1]])
            lp_proc += float(torch.log_softmax(proc, -1)[ids[t + 1]])
            if int(raw.argmax()) != ids[t + 1]:
                changed.append(t)
        self.margins["greedy_logit"] = min(self.margins["greedy_logit"], min(gaps))
        if min(gaps) <= LOGIT_MARGIN:
            self.failures.append(f"greedy logit margin {min(gaps):.3g} at {what}")
        if family == "nllb_moe" and (watch.seen or pad in ids[1:]):
            self.failures.append(f"pad token in greedy output ({what})")
        ids64 = trim(run_generate(self.model64, [src], pad, **kw)[0].tolist(), eos)
        if ids64 != ids:
            self.failures.append(f"float64 greedy output differs ({what})")
        n_gen = len(ids) - 1
        rec = dict(ids=ids, n_generated=n_gen, finished_with_eos=ids[-1] == eos and len(ids) > 1)
        if penalty != 1.0:
            rec.update(logprob_sum_raw=lp_raw, logprob_sum_processed=lp_proc, score=lp_proc / n_gen,
                       min_logit_margin=min(gaps), min_logit_margin_step=steps[gaps.index(min(gaps))],
                       steps_where_penalty_changed_argmax=changed)
        else:
            rec.update(logprob_sum=lp_raw, score=lp_raw / n_gen, min_logit_margin=min(gaps))
        return rec

    def beam(self, src, ckw: dict, what: str) -> dict:
        family, eos, pad = self.family, self.eos, self.pad
        penalty = ckw.get("repetition_penalty", 1.0)
        kw = dict(num_beams=NUM_BEAMS, num_return_sequences=NUM_BEAMS, max_new_tokens=MAX_NEW_TOKENS,
                  output_scores=True, return_dict_in_generate=True, **ckw, **forced_kwargs(family))
        watch = WatchToken(pad)
        self.tap.clear()
        out = run_generate(self.model, [src], pad, logits_processor=LogitsProcessorList([watch]), **kw)
        self.note_router("router_any_beam_row", ROUTER_MARGIN_ANY_BEAM_ROW, what)
        if family == "nllb_moe" and watch.seen:
            self.failures.append(f"pad token in a running beam ({what})")
        hyps = []
        for seq, score in zip(out.sequences.tolist(), out.sequences_scores.tolist()):
            ids = trim(seq, eos)
            if family == "nllb_moe" and pad in ids[1:]:
                self.failures.append(f"pad token in a beam hypothesis ({what})")
            finished = ids[-1] == eos
            assert finished or len(ids) == 1 + MAX_NEW_TOKENS, "unfinished hypothesis too short"
            self.tap.clear()
            rows = incremental_logprobs(self.model, src, ids)
            self.note_router("router_reference", ROUTER_MARGIN, f"{what} hypothesis")
            lp_raw = sequence_logprob(family, rows, ids)
            lp_proc = sequence_logprob_processed(family, rows, ids, penalty) if penalty != 1.0 else lp_raw
            n_gen = len(ids) - 1
            rescored = lp_proc / n_gen ** ckw["length_penalty"]
            assert abs(rescored - score) < SCORE_TOL, f"{what}: rescored {rescored} != sequences_scores {score}"
            hyp = dict(ids=ids, score=score, n_generated=n_gen, finished_with_eos=finished)
            if penalty != 1.0:
                hyp.update(logprob_sum_raw=lp_raw, logprob_sum_processed=lp_proc)
            else:
                hyp.update(logprob_sum=lp_raw)
            hyps.append(hyp)
        ref_ids = [h["ids"] for h in hyps]
        out64 = run_generate(self.model64, [src], pad, **kw)
        if [trim(s, eos) for s in out64.sequences.tolist()] != ref_ids:
            self.failures.append(f"float64 beams differ ({what})")
        for ns in NOISE_SEEDS:
            outn = run_generate(self.model, [src], pad,
                                logits_processor=LogitsProcessorList([LogProbNoise(LOGPROB_NOISE, ns)]), **kw)
            if [trim(s, eos) for s in outn.sequences.tolist()] != ref_ids:
                self.failures.append(f"beams change under +-{LOGPROB_NOISE} noise ({what}, seed {ns})")
        return dict(hypotheses=hyps, float64_max_score_diff=float(np.max(np.abs(
            np.array(out64.sequences_scores.tolist()) - np.array([h["score"] for h in hyps])))))

    def batch(self, srcs, kw: dict, expected: list, label: str, beam: bool) -> dict:
        """The right-padded batch of all sources against the one-at-a-time results."""
        if not beam:
            out = run_generate(self.model, srcs, self.pad, num_beams=1, max_new_tokens=MAX_NEW_TOKENS, **kw,
                               **forced_kwargs(self.family))
            if [trim(s, self.eos) for s in out.tolist()] != [e["ids"] for e in expected]:
                self.failures.append(f"batched {label} differs from one-at-a-time")
            return dict(identical_ids=True)
        out = run_generate(self.model, srcs, self.pad, num_beams=NUM_BEAMS, num_return_sequences=NUM_BEAMS,
                           max_new_tokens=MAX_NEW_TOKENS, output_scores=True, return_dict_in_generate=True,
                           **kw, **forced_kwargs(self.family))
        seqs = [trim(s, self.eos) for s in out.sequences.tolist()]
        scores = out.sequences_scores.tolist()
        worst = 0.0
        for i, e in enumerate(expected):
            hyps = e["hypotheses"]
            if seqs[i * NUM_BEAMS:(i + 1) * NUM_BEAMS] != [h["ids"] for h in hyps]:
                self.failures.append(f"batched {label} differs from one-at-a-time (source {i})")
            for j, h in enumerate(hyps):
                worst = max(worst, abs(scores[i * NUM_BEAMS + j] - h["score"]))
        if worst > SCORE_TOL:
            self.failures.append(f"batched {label} scores differ by {worst}")
        return dict(identical_ids=True, max_score_diff=worst)

    def margins_record(self) -> dict:
        m = self.margins
        return dict(min_router_margin_reference_paths=m["router_reference"],
                    min_router_margin_any_beam_row=m["router_any_beam_row"],
                    **({"min_router_2nd_3rd_logit_gap_reference_paths": m["router_reference_logit23"],
                        "min_router_2nd_3rd_logit_gap_any_beam_row": m["router_any_beam_row_logit23"]}
                       if self.family == "nllb_moe" else {}),
                    min_greedy_logit_margin=m["greedy_logit"])


def float64_copy(family: str, model):
    model64 = copy.deepcopy(model).to(torch.float64)
    for mod in model64.modules():
        if type(mod).__name__ == FAMILIES[family]["router_cls"]:
            mod.dtype = torch.float64  # route in float64 too
    return model64


def repetition_penalty_cases(family: str, model, srcs, per_src) -> dict:
    """The REP_GREEDY_CASES / REP_BEAM_CASES on every source of the chosen seed."""
    checker = CaseChecker(family, model, float64_copy(family, model))
    greedy_cases = [{} for _ in srcs]
    beams = [{} for _ in srcs]
    stats, batch = {}, {}
    try:
        for case, ckw in REP_GREEDY_CASES.items():
            for i, src in enumerate(srcs):
                greedy_cases[i][case] = checker.greedy(src, ckw["repetition_penalty"], f"{case} source {i}")
            batch[case] = checker.batch(srcs, ckw, [g[case] for g in greedy_cases], case, beam=False)
            diff = [i for i, r in enumerate(per_src) if r["greedy"]["ids"] != greedy_cases[i][case]["ids"]]
            stats[f"sources where greedy != {case}"] = diff
        for case, ckw in REP_BEAM_CASES.items():
            for i, src in enumerate(srcs):
                beams[i][case] = checker.beam(src, ckw, f"{case} source {i}")
            batch[case] = checker.batch(srcs, ckw, [b[case] for b in beams], case, beam=True)
            hyps = [h for b in beams for h in b[case]["hypotheses"]]
            stats[case] = dict(hypotheses_with_eos=sum(h["finished_with_eos"] for h in hyps),
                               hypotheses_at_max_length=sum(not h["finished_with_eos"] for h in hyps))
            diff = [i for i, r in enumerate(per_src)
                    if [h["ids"] for h in r["beams"]["beam4"]["hypotheses"]]
                    != [h["ids"] for h in beams[i][case]["hypotheses"]]]
            stats[f"sources where beam4 != {case}"] = diff
    finally:
        checker.close()
    for key, diff in stats.items():
        if key.startswith("sources where") and not diff:
            checker.failures.append(f"the repetition penalty changes nothing: {key} is empty")
    return dict(greedy_cases=greedy_cases, beams=beams, stats=stats, batch=batch,
                margins=checker.margins_record(), failures=checker.failures)


def repetition_penalty_note(family: str) -> str:
    start = "the decoder start token (0 = pad)" if family == "switch" else \
        "the decoder start token (2 = </s>, so EOS is penalised at every step) and the forced spa_Latn token"
    return ("RepetitionPenaltyLogitsProcessor (transformers generation/logits_process.py 374-439) penalises "
            "every id in the decoder input so far, " + start + " included (generate passes no "
            "decoder_attention_mask, so prompt_ignore_length is None, generation/utils.py 1466-1474); it runs "
            "before no_repeat_ngram and forced BOS. Greedy (utils.py 3247-3278) applies it to the raw logits "
            "(positive / 1.3, negative * 1.3) and takes the argmax of the result; greedy_cases[...]: "
            "logprob_sum_raw = sum of log_softmax(raw logits)[chosen], logprob_sum_processed = sum of "
            "log_softmax(processed logits)[chosen], score = logprob_sum_processed / n_generated, "
            "min_logit_margin on the processed logits"
            + (", the forced token contributing 0 to both sums" if family == "nllb_moe" else "")
            + ". Beam search (utils.py 3746-3747) applies it to log_softmax(raw logits), so a penalised "
            "token's log-prob is multiplied by 1.3 and not renormalised; beams[...] hypotheses: "
            "logprob_sum_processed = that accumulated sum, score = sequences_scores = logprob_sum_processed / "
            "n_generated**length_penalty, logprob_sum_raw = the unpenalised sum.")


def nllb_tokenizer_vocab() -> tuple[dict, list]:
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for ch in NLLB_TOKENIZER_CHARS:
        assert ch not in vocab
        vocab[ch] = len(vocab)
    merges = []
    for word in NLLB_TOKENIZER_WORDS:
        piece = NLLB_TOKENIZER_CHARS[0]
        for ch in word:
            assert ch in vocab, ch
            if piece + ch not in vocab:
                vocab[piece + ch] = len(vocab)
                merges.append((piece, ch))
            piece += ch
    assert len(vocab) == min(NLLB_LANGS.values()), f"{len(vocab)} ordinary tokens + 4 specials"
    for lang, i in sorted(NLLB_LANGS.items(), key=lambda kv: kv[1]):
        assert len(vocab) == i
        vocab[lang] = i
    assert len(vocab) == NLLB_MASK
    vocab["<mask>"] = NLLB_MASK
    return vocab, merges


def write_nllb_tokenizer(out: str, config):
    """NllbTokenizer over the fixture's vocabulary, saved by save_pretrained into `out`; returns the
    tokenizer re-loaded from `out` and the file names."""
    vocab, merges = nllb_tokenizer_vocab()
    tok = transformers.NllbTokenizer(vocab=vocab, merges=merges, extra_special_tokens=list(NLLB_LANGS),
                                     src_lang=NLLB_TEXT_SRC_LANG)
    with tempfile.TemporaryDirectory() as tmp:
        tok.save_pretrained(tmp)
        names = sorted(os.listdir(tmp))
        assert set(names) <= {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}, names
        for name in names:
            shutil.copyfile(os.path.join(tmp, name), os.path.join(out, name))
    tok = transformers.NllbTokenizerFast.from_pretrained(out)
    auto = transformers.AutoTokenizer.from_pretrained(out)
    assert type(auto) is type(tok), type(auto)
    assert len(tok) == config.vocab_size == len(auto)
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id, tok.mask_token_id) == \
        (config.bos_token_id, config.pad_token_id, config.eos_token_id, 3, NLLB_MASK)
    for lang, i in NLLB_LANGS.items():
        assert tok.convert_tokens_to_ids(lang) == i and i in tok.all_special_ids
    return tok, names


def nllb_text_cases(model, tok) -> dict:
    """NLLB_TEXTS through the tokenizer, then greedy and beam4 as generate_kwargs records them."""
    checker = CaseChecker("nllb_moe", model, float64_copy("nllb_moe", model))
    # NllbTokenizer.__call__ ignores a src_lang keyword in transformers 5.23: the template comes
    # from the src_lang property (tokenizer_config.json's src_lang when loaded).
    tok.src_lang = NLLB_TEXT_SRC_LANG
    lang = NLLB_LANGS[NLLB_TEXT_SRC_LANG]
    cases = []
    try:
        for k, text in enumerate(NLLB_TEXTS):
            src_ids = tok(text)["input_ids"]
            plain = tok(text, add_special_tokens=False)["input_ids"]
            assert src_ids == [lang] + plain + [model.config.eos_token_id], src_ids
            assert 3 not in plain, f"unknown characters in {text!r}"
            greedy = checker.greedy(src_ids, 1.0, f"text case {k} greedy")
            greedy = dict(ids=greedy["ids"], text=tok.decode(greedy["ids"], skip_special_tokens=True),
                          **{key: v for key, v in greedy.items() if key != "ids"})
            beam = checker.beam(src_ids, BEAM_CASES["beam4"], f"text case {k} beam4")
            beam["hypotheses"] = [dict(ids=h["ids"], text=tok.decode(h["ids"], skip_special_tokens=True),
                                       **{key: v for key, v in h.items() if key != "ids"})
                                  for h in beam["hypotheses"]]
            cases.append(dict(text=text, src_lang=NLLB_TEXT_SRC_LANG, src_ids=src_ids,
                              src_tokens=tok.convert_ids_to_tokens(src_ids), greedy=greedy, beam4=beam))
    finally:
        checker.close()
    return dict(cases=cases, margins=checker.margins_record(), failures=checker.failures)


def switch_decoder_capacity_demo(model, src, dec_ids):
    """Does a cache-free decoder forward over dec_ids drop tokens that incremental decoding keeps?"""
    tap = RouterTap(model, "SwitchTransformersTop1Router")
    try:
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([src]), decoder_input_ids=torch.tensor([dec_ids[:-1]]),
                           use_cache=False).logits[0].float()
        dropped = {}
        for name, out in tap.records:
            layer = short_layer(name)
            if layer.startswith("decoder"):
                keep = out[0].reshape(-1, out[0].shape[-1]).sum(-1) > 0
                dropped[layer] = [int(t) for t in torch.nonzero(~keep).flatten()]
    finally:
        tap.close()
    inc = torch.stack(incremental_logprobs(model, src, dec_ids))
    diff = (inc - torch.log_softmax(logits, -1)).abs().amax(-1)
    first = torch.nonzero(diff > 1e-4).flatten()
    return dict(decoder_input_ids=dec_ids[:-1], dropped_positions_in_full_forward=dropped,
                first_position_that_differs=int(first[0]) if len(first) else None,
                max_abs_logprob_diff=float(diff.max()))


# --------------------------------------------------------------------------- writing


def dumps_compact(obj, indent=1) -> str:
    """JSON with dicts indented and lists of scalars on one line."""
    def enc(o, level):
        pad = " " * (indent * level)
        pad1 = " " * (indent * (level + 1))
        if isinstance(o, dict):
            if not o:
                return "{}"
            items = [f"{pad1}{json.dumps(k)}: {enc(v, level + 1)}" for k, v in o.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(o, list):
            if all(not isinstance(x, (dict, list)) for x in o) or \
                    all(isinstance(x, list) and all(not isinstance(y, (dict, list)) for y in x) for x in o):
                return json.dumps(o, ensure_ascii=False)
            return "[\n" + ",\n".join(pad1 + enc(x, level + 1) for x in o) + "\n" + pad + "]"
        return json.dumps(o, ensure_ascii=False)
    return enc(obj, 0) + "\n"


def choose_seed(family, srcs, src_langs, tgts):
    config = make_config(family)
    first = FAMILIES[family]["first_seed"]
    reasons = {}
    for seed in range(first, first + MAX_SEED_TRIES):
        model = new_model(family, config)
        init_weights(family, model, seed)
        model.eval()
        try:
            res = evaluate(family, model, srcs, src_langs, tgts, full=False)
        except Reject as e:
            if os.environ.get("SEQ2SEQ_FIXTURES_VERBOSE"):
                print(f"  [{family}] seed {seed}: {e}", flush=True)
            key = str(e).split(" (")[0].split(":")[0][:60]
            reasons[key] = reasons.get(key, 0) + 1
            continue
        return seed, model, res, reasons
    raise RuntimeError(f"{family}: no seed in {MAX_SEED_TRIES} tries; rejections: {reasons}")


def generate_kwargs_record(family) -> dict:
    common = dict(do_sample=False, max_new_tokens=MAX_NEW_TOKENS, **forced_kwargs(family))
    cases = {"greedy": dict(num_beams=1, **common)}
    for case, ckw in BEAM_CASES.items():
        cases[case] = dict(num_beams=NUM_BEAMS, num_return_sequences=NUM_BEAMS, output_scores=True,
                           return_dict_in_generate=True, **ckw, **common)
    for case, ckw in REP_GREEDY_CASES.items():
        cases[case] = dict(num_beams=1, **ckw, **common)
    for case, ckw in REP_BEAM_CASES.items():
        cases[case] = dict(num_beams=NUM_BEAMS, num_return_sequences=NUM_BEAMS, output_scores=True,
                           return_dict_in_generate=True, **ckw, **common)
    return cases


def build_family(family: str, out_root: str, report: dict) -> None:
    spec = FAMILIES[family]
    use_intended_nllb_experts(True)
    config = make_config(family)
    srcs, src_langs, tgts = make_data(family, config)
    t0 = time.time()
    seed, model, res0, reasons = choose_seed(family, srcs, src_langs, tgts)
    print(f"[{family}] seed={seed} after {seed - spec['first_seed']} rejections {reasons} "
          f"({time.time() - t0:.0f}s)", flush=True)

    out = os.path.join(out_root, family)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    model.save_pretrained(out, **mf.save_kwargs(model))

    # References come from the re-loaded checkpoint, so they describe the files.
    ref = model_class(family).from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()
    sd_a, sd_b = model.state_dict(), ref.state_dict()
    for k in sd_a:
        assert torch.equal(sd_a[k], sd_b[k]), f"{family}: reload mismatch at {k}"
    res = evaluate(family, ref, srcs, src_langs, tgts, full=True)
    # The re-loaded weights are bit-identical but live at other addresses, and for such tiny
    # matrices the BLAS result can differ in the last bit, so compare ids exactly and scores
    # to 1e-5.
    for a, b in zip(res0["per_src"], res["per_src"]):
        assert a["greedy"]["ids"] == b["greedy"]["ids"], "reload changed a greedy output"
        assert abs(a["greedy"]["score"] - b["greedy"]["score"]) < 1e-5
        for case in a["beams"]:
            ha, hb = a["beams"][case]["hypotheses"], b["beams"][case]["hypotheses"]
            assert [h["ids"] for h in ha] == [h["ids"] for h in hb], f"reload changed {case}"
            assert max(abs(x["score"] - y["score"]) for x, y in zip(ha, hb)) < 1e-5

    extra = {}
    if family == "switch":
        longest = max(range(len(srcs)), key=lambda i: len(res["per_src"][i]["greedy"]["ids"]))
        g = res["per_src"][longest]["greedy"]["ids"]
        extra["decoder_capacity_demo"] = dict(source_index=longest,
                                              **switch_decoder_capacity_demo(ref, srcs[longest], g))
    if family == "nllb_moe":
        # How far is unpatched transformers 5.23 from the intended semantics?
        use_intended_nllb_experts(False)
        try:
            diffs, greedy_same = [], []
            for i, src in enumerate(srcs):
                with torch.no_grad():
                    enc = ref.get_encoder()(input_ids=torch.tensor([src])).last_hidden_state[0]
                diffs.append(float(np.abs(enc.numpy() - res["per_src"][i]["encoder"]).max()))
                out_ids = run_generate(ref, [src], config.pad_token_id, num_beams=1,
                                       max_new_tokens=MAX_NEW_TOKENS, **forced_kwargs(family))
                greedy_same.append(trim(out_ids[0].tolist(), config.eos_token_id)
                                   == res["per_src"][i]["greedy"]["ids"])
        finally:
            use_intended_nllb_experts(True)
        extra["hf_5_23_unpatched_experts"] = dict(
            note=("NllbMoeExperts.forward of transformers 5.23 one-hot encodes the router's one-hot "
                  "top-1 mask again, so it computes (1-moe_token_dropout)*(w1*expert_1(x) + "
                  "w2*expert_0(x)) for every routed token whatever experts were chosen; these "
                  "fixtures use the intended sum over the chosen experts instead."),
            encoder_max_abs_diff_per_source=diffs, greedy_ids_equal_per_source=greedy_same)

    # Cases added after the seeds were fixed: checked with the same margins on the chosen seed, but
    # never used to reject a seed (that would change every earlier value).
    rep = repetition_penalty_cases(family, ref, srcs, res["per_src"])
    failures = [f"repetition penalty: {f}" for f in rep["failures"]]
    text = None
    if family == "nllb_moe":
        tok, tok_files = write_nllb_tokenizer(out, ref.config)
        text = nllb_text_cases(ref, tok)
        failures += [f"text cases: {f}" for f in text["failures"]]
    if text is not None and text["failures"]:  # the texts are free to choose: no near-ties there
        raise RuntimeError(f"{family}: text cases below the margins: {text['failures']}")
    if failures:
        print(f"WARNING [{family}] seed {seed} does not meet the margins for the added cases (recorded in "
              f"reference.json, seed kept):\n  " + "\n  ".join(failures), flush=True)

    files = []
    for i, rec in enumerate(res["per_src"]):
        np.save(os.path.join(out, f"encoder_{i}.npy"), rec.pop("encoder"))
        np.save(os.path.join(out, f"decoder_logits_{i}.npy"), rec.pop("decoder_logits"))
        rec["encoder_npy"] = f"encoder_{i}.npy"
        rec["decoder_logits_npy"] = f"decoder_logits_{i}.npy"
        files += [rec["encoder_npy"], rec["decoder_logits_npy"]]
        rec["greedy_cases"] = rep["greedy_cases"][i]
        rec["beams"].update(rep["beams"][i])
    res["batch"].update(rep["batch"])
    res["case_stats"].update(rep["stats"])

    tensors = mf.safetensors_param_counts(out)
    cfg = ref.config
    if family == "switch":
        sparse = dict(encoder=[i for i in range(cfg.num_layers) if ref.encoder.block[i].is_sparse],
                      decoder=[i for i in range(cfg.num_decoder_layers) if ref.decoder.block[i].is_sparse])
        special = dict(pad=cfg.pad_token_id, eos=cfg.eos_token_id, decoder_start=cfg.decoder_start_token_id)
    else:
        sparse = dict(encoder=[i for i, l in enumerate(ref.model.encoder.layers) if l.is_sparse],
                      decoder=[i for i, l in enumerate(ref.model.decoder.layers) if l.is_sparse])
        special = dict(bos=cfg.bos_token_id, pad=cfg.pad_token_id, eos=cfg.eos_token_id,
                       decoder_start=cfg.decoder_start_token_id, unk=3, mask=NLLB_MASK,
                       language_tokens=NLLB_LANGS, target_language=NLLB_TGT_LANG)
    doc = {
        "family": family,
        "model_class": spec["model_cls"],
        "seed": seed,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "total_params": sum(int(np.prod(s)) for s, _ in tensors.values()),
        "special_tokens": special,
        "sparse_layers": sparse,
        "max_new_tokens": MAX_NEW_TOKENS,
        "generate_kwargs": generate_kwargs_record(family),
        "ids_note": ("src_ids: unpadded encoder input as the tokenizer lays it out "
                     + ("(ids then </s>)" if family == "switch" else "([src_lang] ids </s>)")
                     + ". Output ids include the decoder start token at position 0, as generate returns "
                     "them, and are cut after the first EOS; a hypothesis without EOS has exactly "
                     "1 + max_new_tokens ids."),
        "score_note": ("beam score = sequences_scores = logprob_sum / n_generated**length_penalty, "
                       "n_generated = len(ids) - 1 (EOS counted, decoder start not); logprob_sum = sum "
                       "of log_softmax(raw logits) of the chosen tokens"
                       + (", except the forced target-language token, which contributes 0"
                          if family == "nllb_moe" else "")
                       + ". greedy score = logprob_sum / n_generated (length_penalty 1), computed the "
                       "same way; generate itself returns no greedy score."),
        "batch_note": ("generate on the right-padded batch of all sources (attention_mask given) "
                       "gives the same ids as one source at a time; see batch_check."),
        "sources": res["per_src"],
        "batch_check": res["batch"],
        "beam_case_stats": res["case_stats"],
        "greedy_with_eos": res["greedy_with_eos"],
        "margins": dict(
            min_router_margin_reference_paths=res["margins"]["router_reference"],
            min_router_margin_any_beam_row=res["margins"]["router_any_beam_row"],
            **({"min_router_2nd_3rd_logit_gap_reference_paths": res["margins"]["router_reference_logit23"],
                "min_router_2nd_3rd_logit_gap_any_beam_row": res["margins"]["router_any_beam_row_logit23"]}
               if family == "nllb_moe" else {}),
            min_greedy_logit_margin=res["margins"]["greedy_logit"],
            beam_logprob_noise_tolerated=LOGPROB_NOISE,
            thresholds=dict(router_reference=ROUTER_MARGIN, router_any_beam_row=ROUTER_MARGIN_ANY_BEAM_ROW,
                            greedy_logit=LOGIT_MARGIN)),
    }
    doc["margins"]["repetition_penalty_cases"] = dict(**rep["margins"], below_threshold=rep["failures"])
    doc["repetition_penalty_note"] = repetition_penalty_note(family)
    if text is not None:
        doc["margins"]["text_cases"] = text["margins"]
        doc["tokenizer"] = dict(
            files=tok_files,
            note=("transformers.NllbTokenizer (NllbTokenizerFast / AutoTokenizer load it) over the 128-id "
                  "vocabulary: a BPE model (unk <unk>, fuse_unk) with a Metaspace pre-tokenizer and decoder "
                  "(replacement U+2581, prepend_scheme always, split), no normalizer; <s> 0, <pad> 1, </s> 2, "
                  "<unk> 3, ordinary tokens 4..122 (the U+2581 marker, a-z, punctuation, a few Spanish "
                  "letters and word pieces), language tokens 123..126 and <mask> 127 as special added "
                  "tokens; the post-processor is the non-legacy template [src_lang] $A </s> for "
                  "src_lang eng_Latn (tokenizer_config.json src_lang). Lowercase text only: other "
                  "characters become <unk>."))
        doc["text_cases_note"] = (
            "src_ids = tokenizer(text)['input_ids'] with src_lang eng_Latn = [eng_Latn] + "
            "tokenizer(text, add_special_tokens=False)['input_ids'] + [</s>] (NllbTokenizer.__call__ ignores "
            "a src_lang keyword in transformers 5.23; the src_lang property sets the template). greedy / "
            "beam4: generate with generate_kwargs['greedy'] / ['beam4'] (forced_bos_token_id 125 = "
            "spa_Latn, max_new_tokens 20), fields and scores as for sources; text = "
            "tokenizer.decode(ids, skip_special_tokens=True) with ids including the decoder start token.")
        doc["text_cases"] = text["cases"]
    if family == "switch":
        doc["expert_capacity"] = cfg.expert_capacity
        doc["encoder_tokens_dropped_per_layer"] = res["drops_per_layer"]
        doc["left_padding_encoder_max_abs_diff"] = res["left_padding_encoder_max_abs_diff"]
    doc.update(extra)
    with open(os.path.join(out, "reference.json"), "w") as f:
        f.write(dumps_compact(doc))

    mf.normalise_modes(out)
    size = mf.dir_bytes(out)
    assert size <= MAX_DIR_BYTES, f"{family}: fixture is {size} bytes (> {MAX_DIR_BYTES})"
    report[family] = dict(seed=seed, bytes=size, total_params=doc["total_params"], sparse=sparse,
                          margins=doc["margins"], case_stats=res["case_stats"],
                          greedy_with_eos=res["greedy_with_eos"], extra=extra,
                          drops=res["drops_per_layer"], tensors=tensors, rep_failures=rep["failures"],
                          text_cases=[(c["text"], c["greedy"]["text"], c["beam4"]["hypotheses"][0]["text"])
                                      for c in (text["cases"] if text else [])])


# --------------------------------------------------------------------------- tiny MT


def build_tiny_mt(out_root: str, model_dir: str, corpus_dir: str, report: dict, n_verses: int = 24) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent / "eval"))
    import eval_mt  # noqa: E402  held_out_pairs: the exact held-out list eval_mt.py translates

    use_intended_nllb_experts(True)  # irrelevant for Switch; keeps the global state defined
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModelForSeq2SeqLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    model64 = copy.deepcopy(model).to(torch.float64)
    for mod in model64.modules():
        if type(mod).__name__ == "SwitchTransformersTop1Router":
            mod.dtype = torch.float64
    data = eval_mt.held_out_pairs(Path(corpus_dir))
    refs = [f"{b} {c}:{v}" for (b, c, v), _, _ in data]
    sources = [en for _, en, _ in data]
    lengths = [len(ids) for ids in tok(sources)["input_ids"]]
    order = sorted(range(len(data)), key=lambda i: lengths[i])  # stable: ties in held-out order
    picks = sorted({order[round(i * (len(order) - 1) / (n_verses - 1))] for i in range(n_verses)})
    assert len(picks) == n_verses
    max_new = 256  # eval_mt.py's default --max-new-tokens
    gen_greedy = dict(num_beams=1, do_sample=False, max_new_tokens=max_new)
    gen_beam = dict(num_beams=4, do_sample=False, length_penalty=1.0, early_stopping=True,
                    max_new_tokens=max_new)
    eos = model.config.eos_token_id
    verses = []
    tap = RouterTap(model, "SwitchTransformersTop1Router")
    for k in picks:
        src_ids = tok([sources[k]])["input_ids"][0]
        ids_t = torch.tensor([src_ids])
        tap.clear()
        with torch.no_grad():
            g = model.generate(input_ids=ids_t, attention_mask=torch.ones_like(ids_t), output_logits=True,
                               return_dict_in_generate=True, **gen_greedy)
        rmargin = tap.margins(1)[0]
        gids = g.sequences[0].tolist()
        lp, gaps = 0.0, []
        for t, raw in enumerate(g.logits):
            raw = raw[0].float()
            top2 = torch.topk(raw, 2).values
            gaps.append(float(top2[0] - top2[1]))
            lp += float(torch.log_softmax(raw, -1)[gids[t + 1]])
        with torch.no_grad():
            b = model.generate(input_ids=ids_t, attention_mask=torch.ones_like(ids_t), output_scores=True,
                               return_dict_in_generate=True, **gen_beam)
            b64 = model64.generate(input_ids=ids_t, attention_mask=torch.ones_like(ids_t), **gen_beam)
            g64 = model64.generate(input_ids=ids_t, attention_mask=torch.ones_like(ids_t), **gen_greedy)
        bids = trim(b.sequences[0].tolist(), eos)
        verses.append({
            "ref": refs[k],
            "heldout_index": k,
            "source": sources[k],
            "src_ids": src_ids,
            "greedy": dict(ids=gids, text=tok.decode(gids, skip_special_tokens=True).strip(),
                           n_generated=len(gids) - 1, finished_with_eos=gids[-1] == eos,
                           logprob_sum=lp, score=lp / (len(gids) - 1),
                           min_logit_margin=min(gaps), min_router_margin=rmargin,
                           float64_identical=trim(g64[0].tolist(), eos) == gids),
            "beam4": dict(ids=bids, text=tok.decode(bids, skip_special_tokens=True).strip(),
                          n_generated=len(bids) - 1, finished_with_eos=bids[-1] == eos,
                          score=float(b.sequences_scores[0]),
                          float64_identical=trim(b64[0].tolist(), eos) == bids),
        })
    tap.close()
    doc = {
        "model": "models/elephant-tiny-mt",
        "dtype": "float32 (the bf16 checkpoint upcast, as eval_mt.py --dtype float32 loads it)",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "heldout_pairs": len(data),
        "selection": (f"{n_verses} of eval_mt.held_out_pairs(corpus): indices sorted by source token "
                      "count (stable, so ties keep held-out order), ranks round(i*(n-1)/23) for i=0..23, "
                      "listed in held-out order"),
        "tokenization": "tokenizer(source)['input_ids'] as eval_mt.py: SentencePiece pieces then </s> (1)",
        "generate_kwargs": {"greedy": gen_greedy, "beam4": gen_beam},
        "run": "one verse at a time, unpadded (eval_mt.py batches 32 length-sorted right-padded verses)",
        "text_note": "text = tokenizer.decode(ids, skip_special_tokens=True).strip(), as eval_mt.py scores it",
        "score_note": ("beam4.score = sequences_scores = logprob_sum / n_generated**1.0 (n_generated "
                       "counts EOS, not the decoder start); greedy.score = greedy.logprob_sum / "
                       "n_generated with logprob_sum the sum of log_softmax(raw logits) of the chosen "
                       "tokens; min_logit_margin / min_router_margin = smallest top-1 minus top-2 logit "
                       "and router probability along the greedy output (a trained model has near-ties: "
                       "compare ids only where these are comfortably above the engine's error)"),
        "verses": verses,
    }
    out = os.path.join(out_root, "tiny_mt")
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    with open(os.path.join(out, "reference.json"), "w") as f:
        f.write(dumps_compact(doc))
    mf.normalise_modes(out)
    report["tiny_mt"] = dict(bytes=mf.dir_bytes(out), verses=len(verses),
                             src_lens=[len(v["src_ids"]) for v in verses],
                             greedy_f64_same=sum(v["greedy"]["float64_identical"] for v in verses),
                             beam_f64_same=sum(v["beam4"]["float64_identical"] for v in verses),
                             min_logit_margin=min(v["greedy"]["min_logit_margin"] for v in verses))


# --------------------------------------------------------------------------- main


def print_report(report: dict) -> None:
    print("\n=== summary ===")
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    if "switch" in report or "nllb_moe" in report:
        print(f"{'dir':10s} {'seed':>5s} {'params':>7s} {'bytes':>8s}  {'router(ref)':>11s} "
              f"{'router(any)':>11s} {'logit':>7s}  greedy-eos  beam hyps eos/max per case")
    for fam in ("switch", "nllb_moe"):
        if fam not in report:
            continue
        r = report[fam]
        m = r["margins"]
        cs = " ".join(f"{c['hypotheses_with_eos']}/{c['hypotheses_at_max_length']}"
                      for c in r["case_stats"].values() if isinstance(c, dict))
        print(f"{fam:10s} {r['seed']:5d} {r['total_params']:7d} {r['bytes']:8d}  "
              f"{m['min_router_margin_reference_paths']:11.4g} {m['min_router_margin_any_beam_row']:11.4g} "
              f"{m['min_greedy_logit_margin']:7.4g}  {r['greedy_with_eos']}/{len(SOURCE_LENS)}         {cs}")
        print(f"{'':10s} sparse layers {r['sparse']}"
              + (f"; encoder tokens dropped per layer {r['drops']}" if r["drops"] else ""))
        if "decoder_capacity_demo" in r["extra"]:
            d = r["extra"]["decoder_capacity_demo"]
            print(f"{'':10s} full-forward decoder drops {d['dropped_positions_in_full_forward']}, "
                  f"first differing position {d['first_position_that_differs']}")
        if "hf_5_23_unpatched_experts" in r["extra"]:
            d = r["extra"]["hf_5_23_unpatched_experts"]
            print(f"{'':10s} unpatched HF 5.23 experts: encoder max |diff| "
                  f"{max(d['encoder_max_abs_diff_per_source']):.3g}, greedy equal "
                  f"{sum(d['greedy_ids_equal_per_source'])}/{len(d['greedy_ids_equal_per_source'])}")
        rm = m["repetition_penalty_cases"]
        print(f"{'':10s} repetition penalty cases: router(ref) {rm['min_router_margin_reference_paths']:.4g}, "
              f"router(any) {rm['min_router_margin_any_beam_row']:.4g}, greedy logit "
              f"{rm['min_greedy_logit_margin']:.4g}; below threshold: {r['rep_failures'] or 'none'}")
        for src_text, greedy_text, beam_text in r["text_cases"]:
            print(f"{'':10s} text {src_text!r}: greedy {greedy_text!r}, beam4 {beam_text!r}")
    if "tiny_mt" in report:
        r = report["tiny_mt"]
        print(f"tiny_mt    {r['verses']} verses, source lengths {min(r['src_lens'])}..{max(r['src_lens'])}, "
              f"{r['bytes']} bytes; float64 identical: greedy {r['greedy_f64_same']}/{r['verses']}, "
              f"beam {r['beam_f64_same']}/{r['verses']}; min greedy logit margin {r['min_logit_margin']:.3g}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/fixtures", help="output directory")
    ap.add_argument("--only", nargs="*", choices=["switch", "nllb_moe", "tiny_mt"])
    ap.add_argument("--mt-model", default="models/elephant-tiny-mt")
    ap.add_argument("--corpus", default="/work/corpus", help="directory with web.tsv and rv1909.tsv")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    os.makedirs(args.out, exist_ok=True)

    report: dict = {}
    for what in args.only or ["switch", "nllb_moe", "tiny_mt"]:
        if what == "tiny_mt":
            build_tiny_mt(args.out, args.mt_model, args.corpus, report)
        else:
            build_family(what, args.out, report)
    print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
