#!/usr/bin/env python3
"""Generate tiny Hugging Face reference fixtures for Elephant's C++ tests.

Usage:
    python tools/make_fixtures.py --out tests/fixtures

For each of the model families mixtral, qwen2_moe, qwen3_moe and olmoe this writes
`<out>/<family>/`:

  config.json, generation_config.json, model.safetensors
      written by the transformers model class's own `save_pretrained` (fp32).
  prompt.json
      prompt_ids, other_prompts, greedy_ids (16 greedy tokens continuing prompt_ids,
      new tokens only), seed, library versions, total_params, active_params, and the
      smallest router / logit margins seen while choosing the seed.
  logits.npy, logits_other_<i>.npy
      float32 [len(prompt), vocab] logits at every position of each prompt, from a
      plain eager fp32 forward pass (one prompt per forward, no padding).
  bf16/config.json, bf16/generation_config.json, bf16/model.safetensors
      the same model after `model.to(torch.bfloat16).save_pretrained(...)`.
  bf16/logits.npy, bf16/greedy.json
      logits of prompt_ids and the greedy continuation computed in fp32 by the model
      re-loaded from bf16/ with the bf16-rounded weights upcast to float32.

and `<out>/mixtral_sharded/`, the fp32 mixtral model saved again with a small
`max_shard_size` so that it is split into 2-3 shards plus model.safetensors.index.json.

Why the weights are not the library default: transformers initialises linear layers
with std 0.02, which for a 64-wide toy model gives router probabilities and output
logits that are all nearly equal. The C++ engine computes in a different order than
PyTorch, so near-ties would flip expert choices or greedy argmaxes and make the tests
flaky. We therefore re-initialise every parameter from a fixed seed with a much larger
spread (linear weights / routers / fused expert tensors ~ N(0, 0.25), embeddings
~ N(0, 0.5), biases ~ N(0, 0.1), RMSNorm weights ~ U(0.8, 1.2)), then check that for
every MoE layer and every position (all prompts and the greedy continuation, for both
the fp32 and the bf16-rounded weights) the gap between the k-th and (k+1)-th router
probability, and at every greedy step the gap between the top-1 and top-2 logits, are
above fixed thresholds. If a seed fails, the next seed is tried.

Everything runs on CPU in a single thread and is deterministic: rerunning the script
with the same library versions rewrites the same files.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
import transformers
from safetensors import safe_open

# Thresholds for the seed search (see docstring).
ROUTER_MARGIN = 2e-3  # min gap between k-th and (k+1)-th softmax router probability
LOGIT_MARGIN = 1e-2  # min gap between top-1 and top-2 logits at each greedy step
MAX_SEED_TRIES = 500
N_NEW_TOKENS = 16
MAX_DIR_BYTES = 1_000_000
MAX_TOTAL_BYTES = 5_000_000

BOS_ID, EOS_ID, PAD_ID = 1, 2, 0  # prompts never contain these; greedy must not emit EOS

COMMON = dict(
    hidden_size=64,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    num_experts_per_tok=2,
    tie_word_embeddings=False,
    rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    hidden_act="silu",
    bos_token_id=BOS_ID,
    eos_token_id=EOS_ID,
    pad_token_id=PAD_ID,
)

FAMILIES = {
    "mixtral": dict(
        model_cls="MixtralForCausalLM",
        config_cls="MixtralConfig",
        first_seed=1000,
        prompt_seed=11,
        config=dict(
            vocab_size=256,
            num_local_experts=4,
            intermediate_size=32,  # expert FFN width (mixtral has no dense MLP)
            sliding_window=6,
            rms_norm_eps=1e-5,
        ),
    ),
    "qwen2_moe": dict(
        model_cls="Qwen2MoeForCausalLM",
        config_cls="Qwen2MoeConfig",
        first_seed=2000,
        prompt_seed=22,
        config=dict(
            vocab_size=256,
            num_experts=4,
            moe_intermediate_size=32,
            shared_expert_intermediate_size=48,
            intermediate_size=80,  # dense MLP width (layers in mlp_only_layers)
            decoder_sparse_step=1,
            mlp_only_layers=[1],
            norm_topk_prob=False,
            qkv_bias=True,
            use_sliding_window=False,
            rms_norm_eps=1e-6,
        ),
    ),
    "qwen3_moe": dict(
        model_cls="Qwen3MoeForCausalLM",
        config_cls="Qwen3MoeConfig",
        first_seed=3000,
        prompt_seed=33,
        config=dict(
            vocab_size=256,
            num_experts=6,
            moe_intermediate_size=16,
            intermediate_size=48,  # dense MLP width (layers in mlp_only_layers)
            head_dim=32,  # deliberately != hidden_size / num_attention_heads (= 16)
            decoder_sparse_step=1,
            mlp_only_layers=[1],
            norm_topk_prob=True,
            attention_bias=False,
            use_sliding_window=False,
            rms_norm_eps=1e-6,
        ),
    ),
    "olmoe": dict(
        model_cls="OlmoeForCausalLM",
        config_cls="OlmoeConfig",
        first_seed=4000,
        prompt_seed=44,
        config=dict(
            vocab_size=256,
            num_experts=8,
            intermediate_size=16,  # expert FFN width (olmoe has no dense MLP)
            norm_topk_prob=False,
            clip_qkv=None,
            attention_bias=False,
            rms_norm_eps=1e-5,
        ),
    ),
}

PROMPT_LENS = (12, 5, 9)  # prompt_ids, other_prompts[0], other_prompts[1]


# --------------------------------------------------------------------------- helpers


def load_kwargs():
    return dict(attn_implementation="eager", experts_implementation="eager")


def make_config(family: str):
    spec = FAMILIES[family]
    cfg_cls = getattr(transformers, spec["config_cls"])
    kw = dict(COMMON)
    kw.update(spec["config"])
    return cfg_cls(**kw)


def make_prompts(family: str, vocab: int) -> list[list[int]]:
    rng = np.random.default_rng(FAMILIES[family]["prompt_seed"])
    lo = max(BOS_ID, EOS_ID, PAD_ID) + 1
    return [[int(x) for x in rng.integers(lo, vocab, size=n)] for n in PROMPT_LENS]


@torch.no_grad()
def init_weights(model: torch.nn.Module, seed: int) -> None:
    """Overwrite every parameter with a wide, seeded distribution (see module docstring)."""
    gen = torch.Generator().manual_seed(seed)
    for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        if name.endswith("bias"):
            vals = torch.randn(p.shape, generator=gen) * 0.1
        elif p.dim() == 1:  # RMSNorm weights (layer norms, final norm, q/k norms)
            vals = 0.8 + 0.4 * torch.rand(p.shape, generator=gen)
        elif "embed_tokens" in name:
            vals = torch.randn(p.shape, generator=gen) * 0.5
        else:  # attention / MLP / router / shared-expert gate / fused expert tensors / lm_head
            vals = torch.randn(p.shape, generator=gen) * 0.25
        p.copy_(vals.to(p.dtype))


@torch.no_grad()
def forward_logits(model, ids: list[int]) -> torch.Tensor:
    out = model(input_ids=torch.tensor([ids]), use_cache=False)
    return out.logits[0].float()


@torch.no_grad()
def router_margin(model, ids: list[int], top_k: int) -> float:
    """Smallest (k-th minus (k+1)-th) router softmax probability over MoE layers and positions."""
    out = model(input_ids=torch.tensor([ids]), use_cache=False, output_router_logits=True)
    worst = float("inf")
    for rl in out.router_logits:
        probs = torch.softmax(rl.float(), dim=-1)
        srt = probs.sort(dim=-1, descending=True).values
        worst = min(worst, float((srt[:, top_k - 1] - srt[:, top_k]).min()))
    return worst


@torch.no_grad()
def manual_greedy(model, ids: list[int], n: int, eos: int | None = None) -> tuple[list[int], float]:
    """Greedy decode by full re-forward each step (no KV cache), stopping after `eos` like
    generate() when it is given; returns tokens and min top1-top2 gap."""
    seq = list(ids)
    new, worst = [], float("inf")
    for _ in range(n):
        last = forward_logits(model, seq)[-1]
        top2 = torch.topk(last, 2).values
        worst = min(worst, float(top2[0] - top2[1]))
        tok = int(torch.argmax(last))
        new.append(tok)
        seq.append(tok)
        if tok == eos:
            break
    return new, worst


@torch.no_grad()
def hf_generate(model, ids: list[int], n: int) -> list[int]:
    out = model.generate(
        torch.tensor([ids]),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        do_sample=False,
        max_new_tokens=n,
        min_new_tokens=n,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
    )
    return [int(x) for x in out[0, len(ids):]]


def bf16_rounded_copy(model_cls, model):
    """fp32 model whose weights are the bf16-rounded weights of `model`."""
    clone = model_cls._from_config(model.config, dtype=torch.float32, **load_kwargs())
    sd = {k: v.to(torch.bfloat16).to(torch.float32) for k, v in model.state_dict().items()}
    clone.load_state_dict(sd)
    clone.eval()
    return clone


def check_model(model, prompts, top_k):
    """Return (ok, stats) for the margin criteria on one model."""
    greedy, logit_gap = manual_greedy(model, prompts[0], N_NEW_TOKENS)
    rmargin = min(
        router_margin(model, prompts[0] + greedy[:-1], top_k),
        router_margin(model, prompts[1], top_k),
        router_margin(model, prompts[2], top_k),
    )
    ok = rmargin > ROUTER_MARGIN and logit_gap > LOGIT_MARGIN and EOS_ID not in greedy
    return ok, dict(greedy=greedy, min_router_margin=rmargin, min_logit_margin=logit_gap)


def save_kwargs(model) -> dict:
    kw = {}
    if "safe_serialization" in inspect.signature(model.save_pretrained).parameters:
        kw["safe_serialization"] = True  # transformers < 5; v5 always writes safetensors
    return kw


def safetensors_param_counts(path_dir: str) -> dict[str, tuple[list[int], str]]:
    """name -> (shape, dtype) for every tensor in the directory's safetensors files."""
    res = {}
    for fn in sorted(os.listdir(path_dir)):
        if fn.endswith(".safetensors"):
            with safe_open(os.path.join(path_dir, fn), "pt") as f:
                for k in f.keys():
                    sl = f.get_slice(k)
                    res[k] = (list(sl.get_shape()), sl.get_dtype())
    return res


def count_params(config, tensors) -> tuple[int, int, int]:
    total = sum(int(np.prod(shape)) for shape, _ in tensors.values())
    E = config.num_experts if hasattr(config, "num_experts") else config.num_local_experts
    k = config.num_experts_per_tok
    H = config.hidden_size
    inter = getattr(config, "moe_intermediate_size", None) or config.intermediate_size
    per_expert = 3 * H * inter
    mlp_only = set(getattr(config, "mlp_only_layers", None) or [])
    step = getattr(config, "decoder_sparse_step", 1) or 1
    n_moe = sum(
        1
        for i in range(config.num_hidden_layers)
        if i not in mlp_only and (i + 1) % step == 0
    )
    active = total - n_moe * (E - k) * per_expert
    return total, active, n_moe


def dir_bytes(path: str) -> int:
    return sum(
        os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs
    )


def write_json(path: str, obj: dict) -> None:
    """One top-level key per line, values (id lists included) compact on that line."""
    items = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in obj.items()]
    with open(path, "w") as f:
        f.write("{\n" + ",\n".join(items) + "\n}\n")


def normalise_modes(path: str) -> None:
    """save_pretrained / tempfile create 0600 files and 0700 dirs; make them ordinary."""
    for root, dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for fn in files:
            os.chmod(os.path.join(root, fn), 0o644)


# --------------------------------------------------------------------------- per family


def choose_seed(family: str, prompts):
    spec = FAMILIES[family]
    model_cls = getattr(transformers, spec["model_cls"])
    config = make_config(family)
    for seed in range(spec["first_seed"], spec["first_seed"] + MAX_SEED_TRIES):
        model = model_cls._from_config(config, dtype=torch.float32, **load_kwargs())
        init_weights(model, seed)
        model.eval()
        ok32, s32 = check_model(model, prompts, config.num_experts_per_tok)
        if not ok32:
            continue
        okbf, sbf = check_model(bf16_rounded_copy(model_cls, model), prompts, config.num_experts_per_tok)
        if okbf:
            return seed, model, s32, sbf
    raise RuntimeError(f"{family}: no seed in {MAX_SEED_TRIES} tries met the margins")


def sliding_window_first_diff(model_cls, model, ids) -> int | None:
    """First prompt position whose logits change when sliding_window is removed (mixtral)."""
    cfg = type(model.config).from_dict(model.config.to_dict())
    cfg.sliding_window = None
    full = model_cls._from_config(cfg, dtype=torch.float32, **load_kwargs())
    full.load_state_dict(model.state_dict())
    full.eval()
    a, b = forward_logits(model, ids), forward_logits(full, ids)
    diff = (a - b).abs().amax(dim=-1)
    idx = torch.nonzero(diff > 1e-6)
    return int(idx[0, 0]) if len(idx) else None


def build_family(family: str, out_root: str, report: dict) -> None:
    spec = FAMILIES[family]
    model_cls = getattr(transformers, spec["model_cls"])
    config = make_config(family)
    prompts = make_prompts(family, config.vocab_size)
    seed, model, s32, sbf = choose_seed(family, prompts)
    print(f"[{family}] seed={seed} fp32 margins: router={s32['min_router_margin']:.4g} "
          f"logit={s32['min_logit_margin']:.4g}; bf16: router={sbf['min_router_margin']:.4g} "
          f"logit={sbf['min_logit_margin']:.4g}", flush=True)

    out = os.path.join(out_root, family)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)

    # fp32 checkpoint, written by the class's own save_pretrained.
    model.save_pretrained(out, **save_kwargs(model))

    # Reference outputs come from the re-loaded checkpoint, so they describe the files.
    ref = model_cls.from_pretrained(out, dtype=torch.float32, **load_kwargs()).eval()
    for (k, v), (k2, v2) in zip(model.state_dict().items(), ref.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), f"{family}: reload mismatch at {k}"
    logits = [forward_logits(ref, p).numpy().astype(np.float32) for p in prompts]
    greedy = hf_generate(ref, prompts[0], N_NEW_TOKENS)
    assert greedy == s32["greedy"], f"{family}: generate() {greedy} != manual greedy {s32['greedy']}"
    np.save(os.path.join(out, "logits.npy"), logits[0])
    for i, lg in enumerate(logits[1:]):
        np.save(os.path.join(out, f"logits_other_{i}.npy"), lg)

    tensors = safetensors_param_counts(out)
    total, active, n_moe = count_params(config, tensors)

    extra = {}
    if family == "mixtral":
        # Key k is visible from query q iff 0 <= q - k < sliding_window, so position
        # `sliding_window` is the first one that loses a key (key 0).
        first = sliding_window_first_diff(model_cls, ref, prompts[0])
        assert first == config.sliding_window, f"sliding window semantics changed: {first}"
        extra["sliding_window_first_affected_position"] = first

    write_json(os.path.join(out, "prompt.json"), {
        "prompt_ids": prompts[0],
        "other_prompts": prompts[1:],
        "greedy_ids": greedy,
        "seed": seed,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "total_params": total,
        "active_params": active,
        "n_moe_layers": n_moe,
        "eos_token_id": EOS_ID,
        "greedy_note": (
            "model.generate(do_sample=False, max_new_tokens=16, min_new_tokens=16) on the fp32 "
            "checkpoint; the seed was chosen so EOS never wins argmax, so min_new_tokens never "
            "changes a token; verified equal to a cache-free argmax loop."
        ),
        "min_router_margin": s32["min_router_margin"],
        "min_logit_margin": s32["min_logit_margin"],
        **extra,
    })

    # bf16 checkpoint, then reference outputs from the bf16 weights upcast to fp32.
    bf_dir = os.path.join(out, "bf16")
    bf_model = model_cls.from_pretrained(out, dtype=torch.float32, **load_kwargs())
    bf_model.to(torch.bfloat16).save_pretrained(bf_dir, **save_kwargs(bf_model))
    bf_ref = model_cls.from_pretrained(bf_dir, dtype=torch.float32, **load_kwargs()).eval()
    for k, v in bf_ref.state_dict().items():
        assert torch.equal(v, model.state_dict()[k].to(torch.bfloat16).float()), k
    np.save(os.path.join(bf_dir, "logits.npy"), forward_logits(bf_ref, prompts[0]).numpy().astype(np.float32))
    bf_greedy = hf_generate(bf_ref, prompts[0], N_NEW_TOKENS)
    assert bf_greedy == sbf["greedy"], f"{family}: bf16 generate() != manual greedy"
    write_json(os.path.join(bf_dir, "greedy.json"), {
        "prompt_ids": prompts[0],
        "greedy_ids": bf_greedy,
        "note": "greedy continuation of the bf16-rounded weights computed in float32",
        "min_router_margin": sbf["min_router_margin"],
        "min_logit_margin": sbf["min_logit_margin"],
    })

    normalise_modes(out)
    size = dir_bytes(out)
    assert size <= MAX_DIR_BYTES, f"{family}: fixture is {size} bytes (> {MAX_DIR_BYTES})"
    report[family] = dict(seed=seed, total=total, active=active, n_moe=n_moe, bytes=size,
                          tensors=tensors, **extra)

    if family == "mixtral":
        build_sharded(ref, os.path.join(out_root, "mixtral_sharded"), report)


def build_sharded(model, out: str, report: dict) -> None:
    if os.path.isdir(out):
        shutil.rmtree(out)
    n_bytes = sum(v.numel() * v.element_size() for v in model.state_dict().values())
    for div in (2.5, 2.2, 2.8, 2.0, 3.0):
        max_shard = int(n_bytes / div)
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(tmp, max_shard_size=max_shard, **save_kwargs(model))
            shards = [f for f in os.listdir(tmp) if f.endswith(".safetensors")]
            if 2 <= len(shards) <= 3 and os.path.exists(os.path.join(tmp, "model.safetensors.index.json")):
                shutil.copytree(tmp, out)
                break
    else:
        raise RuntimeError("could not produce 2-3 shards")
    normalise_modes(out)
    report["mixtral_sharded"] = dict(bytes=dir_bytes(out), shards=sorted(shards), max_shard_size=max_shard)
    print(f"[mixtral_sharded] {len(shards)} shards, max_shard_size={max_shard}", flush=True)


def print_report(report: dict) -> None:
    print("\n=== summary ===")
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    for fam, r in report.items():
        if "tensors" not in r:
            print(f"{fam}: {r}")
            continue
        print(f"\n{fam}: seed={r['seed']} total_params={r['total']} active_params={r['active']} "
              f"moe_layers={r['n_moe']} dir_bytes={r['bytes']}"
              + (f" sliding_first_pos={r['sliding_window_first_affected_position']}"
                 if "sliding_window_first_affected_position" in r else ""))
        for name, (shape, dt) in sorted(r["tensors"].items()):
            if ".layers." in name and not any(f".layers.{i}." in name for i in (0, 1)):
                continue
            if ".experts." in name and ".experts.0." not in name and "experts.gate_up" not in name \
                    and "experts.down" not in name:
                continue  # print expert 0 only
            print(f"  {name:64s} {str(shape):16s} {dt}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/fixtures", help="output directory")
    ap.add_argument("--only", nargs="*", choices=sorted(FAMILIES), help="subset of families")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    os.makedirs(args.out, exist_ok=True)

    report: dict = {}
    for fam in args.only or list(FAMILIES):
        build_family(fam, args.out, report)

    ours = sum(r["bytes"] for r in report.values())
    print_report(report)
    print(f"\ngenerated fixtures: {ours} bytes; whole {args.out}: {dir_bytes(args.out)} bytes")
    if set(args.only or FAMILIES) == set(FAMILIES):
        assert ours <= MAX_TOTAL_BYTES, f"fixtures total {ours} bytes > {MAX_TOTAL_BYTES}"
    return 0


if __name__ == "__main__":
    sys.exit(main())
