#!/usr/bin/env python3
"""Generate the end-to-end text fixture tests/fixtures/text_mixtral/.

Usage (from the repository root, with the packages of tools/requirements.txt; `tokenizers`
comes with transformers):
    python tools/make_text_fixture.py                     # writes tests/fixtures/text_mixtral
    python tools/make_text_fixture.py --out /tmp/fixtures # writes /tmp/fixtures/text_mixtral

The other fixtures check the tokenizer, the chat templates and the model separately; this one
checks the whole text path at once, text in and text out, against Hugging Face:
    text -> chat template -> tokenizer.encode -> greedy generate -> tokenizer.decode -> text.
tests/e2e/text_generation_test.cc runs it both through the library and through the
`elephant generate` CLI.

What the directory holds (572,621 bytes with the versions in text_reference.json):
  tokenizer.json, tokenizer_config.json
      A byte-level BPE tokenizer (GPT-2 style: ByteLevel pre-tokenizer without prefix space,
      ByteLevel decoder) trained here with HF `tokenizers` on CORPUS below (a few KB of text
      written for this file), 480 ids in all. Special tokens: <pad>=0, <s>=1 (bos), </s>=2
      (eos), <|im_start|>=3, <|im_end|>=4. A TemplateProcessing post-processor prepends <s>,
      so `tokenizer(text)` (add_special_tokens=True) starts with bos. The tokenizer is wrapped
      in transformers' PreTrainedTokenizerFast and written by its save_pretrained. The chat
      template is the real Qwen2 ChatML template, byte for byte
      (tests/fixtures/chat/templates/qwen2_chatml.jinja).
      transformers 5 saves a chat template to a separate chat_template.jinja file; this script
      moves it into tokenizer_config.json["chat_template"], the layout of the Qwen1.5/Qwen2
      hub repositories and the only place the CLI's --chat looks. It then checks that
      transformers, loading the directory again, finds the same template there.
  config.json, generation_config.json, model.safetensors
      A tiny MixtralForCausalLM written by save_pretrained: hidden 64, 2 layers, 4 heads, 2 KV
      heads, 4 experts (width 32) with top-2 routing, no sliding window, vocab = the tokenizer's
      480 ids, eos_token_id = the tokenizer's eos (</s>, 2). Its weights are re-initialised with
      the wide spread of tools/make_fixtures.py (init_weights), and the seed is searched from
      FIRST_SEED with the same margin checks as there: for every case, at every MoE layer and
      position of prompt + greedy tokens, the gap between the 2nd and 3rd router probability is
      > 2e-3, and at every greedy step the gap between the top-1 and top-2 logits is > 1e-2.
      The seed must also never let the model produce eos in any case, so all 12 tokens are
      generated and no case stops early, and no decoded text may contain a NUL character
      (byte tokens such as <0x00> come out of a random model easily, and `elephant generate`
      prints text with printf("%s"), which would cut it there). Other control characters and
      partial UTF-8 sequences (decoded as U+FFFD) are allowed and do occur.
  text_reference.json
      For each of three cases (plain prompt, chat, chat with a system message): the messages,
      the rendered chat prompt (apply_chat_template(..., tokenize=False)), prompt_ids (plain:
      tokenizer(prompt).input_ids; chat: apply_chat_template(..., tokenize=True)["input_ids"],
      which adds no special tokens of its own), new_ids from model.generate(do_sample=False,
      max_new_tokens=12) (checked equal to a cache-free argmax loop), and
      text = tokenizer.decode(new_ids, skip_special_tokens=True). Also the seed, versions and the
      smallest margins seen. Strings are stored with ASCII escapes (\\uXXXX).

Everything runs on CPU in one thread and is deterministic: with the same library versions a
rerun writes byte-identical files. Only tests/fixtures/text_mixtral/ is deleted and rewritten;
the outputs of make_fixtures.py are left alone (this script only imports its helpers).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # tokenizers' trainer: one thread, fixed order
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import transformers  # noqa: E402
from tokenizers import Tokenizer, __version__ as tokenizers_version  # noqa: E402
from tokenizers import decoders, models, pre_tokenizers, processors, trainers  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import (  # noqa: E402
    LOGIT_MARGIN,
    ROUTER_MARGIN,
    dir_bytes,
    init_weights,
    load_kwargs,
    manual_greedy,
    normalise_modes,
    router_margin,
    save_kwargs,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE_PATH = os.path.join(ROOT, "tests", "fixtures", "chat", "templates", "qwen2_chatml.jinja")
NAME = "text_mixtral"
VOCAB_SIZE = 480
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]  # ids 0..4 in this order
PAD, BOS, EOS = "<pad>", "<s>", "</s>"
N_NEW_TOKENS = 12
FIRST_SEED = 5000
MAX_SEED_TRIES = 2000
MAX_DIR_BYTES = 1_000_000

# The three cases. "prompt" is what a user types (`elephant generate -p`); with "chat" it is
# sent as the user message (and "system", when set, as a system message before it).
CASES = [
    dict(name="plain", prompt="The quick brown fox", chat=False, system=None),
    dict(name="chat", prompt="Hello there", chat=True, system=None),
    dict(name="chat_system", prompt="What is a mixture of experts?", chat=True,
         system="You are a helpful assistant. Answer briefly."),
]

# Training text for the tokenizer, written for this file (no license strings attached). It
# mixes prose, chat-like lines, code, numbers and some non-ASCII so that the merges include
# multi-byte characters and the generated text exercises byte-level decoding.
CORPUS = """\
The quick brown fox jumps over the lazy dog. The lazy dog sleeps while the quick brown fox runs.
A quick test: the fox is brown, the dog is lazy, and the sentence uses every letter at least once.
Hello there! Hello again. Hi, how are you today? I am fine, thank you. Hello, world.
user: Hello there, can you help me with a question?
assistant: Of course. I am a helpful assistant, and I will answer as well as I can.
system: You are a helpful assistant. Answer briefly and clearly, without making things up.
user: What is a mixture of experts?
assistant: A mixture of experts is a neural network layer with many small feed-forward networks,
called experts, and a router. For every token the router picks a few experts, for example two
out of eight, and the layer adds up their outputs weighted by the router's probabilities. Only
the chosen experts run, so the model can be large while each token costs little to compute.
user: Why is inference memory bound?
assistant: When one sequence is decoded, every weight that is used must be read from memory for
each new token, while the arithmetic per weight is small. The speed is therefore limited by how
fast the machine can stream the weights, not by how fast it can multiply them.
Tokenizers turn text into numbers. A byte-level tokenizer starts from the 256 possible bytes and
learns merges: pairs of pieces that often appear next to each other become a new piece. Common
words end up as single tokens, rare words are spelled out from smaller pieces, and any text at
all, even text in scripts the tokenizer never saw, can still be written as bytes.
def greet(name):
    return f"Hello, {name}!"

for i in range(3):
    print(greet("world"), i * 2 + 1)
The numbers 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 42, 100, 256, 1024 and 3.14159 appear in the text.
In the morning the river was quiet, and the boats waited at the pier for the wind to rise. By
noon the sails were full, the children ran along the shore, and the old man who sold bread near
the bridge counted his coins twice before he closed his stall for the afternoon.
She wrote a letter to her brother: "The garden is green again, the apple trees are in flower,
and the cat has learned to open the kitchen door. Come and visit before the summer ends."
Some words from other languages: café, naïve, façade, résumé, jalapeño, Straße, Grüße, smörgåsbord,
déjà vu, piñata, crème brûlée. Greek: καλημέρα, λόγος. Russian: привет, мир. Japanese: こんにちは,
ありがとう. Chinese: 你好, 世界. Symbols: € £ ¥ © ® ™ ° ± × ÷ → ← ↑ ↓ ∞ ≈ ≠ ≤ ≥ … — – • ✓ ★ ☺.
Emoji: 🙂 🚀 🦊 🐶 ✨.
To generate text, the model reads the prompt, predicts a probability for every token of the
vocabulary, picks the most likely one when decoding greedily, appends it, and repeats. The
output is decoded back into text, piece by piece, as soon as each piece forms complete characters.
Questions and answers, lists and tables, stories and instructions: a chat model sees them all
wrapped in a template that marks who is speaking, the system, the user or the assistant, with
special tokens at the start and the end of every message.
"""


# --------------------------------------------------------------------------- tokenizer


def train_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS.splitlines(keepends=True), trainer)
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)])
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
    assert tok.get_vocab_size() == VOCAB_SIZE, tok.get_vocab_size()
    return tok


def save_tokenizer(out: str, template: str):
    """Save with transformers, move the chat template into tokenizer_config.json, reload."""
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=train_tokenizer(), bos_token=BOS, eos_token=EOS, pad_token=PAD,
        additional_special_tokens=["<|im_start|>", "<|im_end|>"], chat_template=template)
    fast.save_pretrained(out)
    jinja = os.path.join(out, "chat_template.jinja")
    if os.path.exists(jinja):  # transformers 5 writes the template to its own file
        with open(jinja, encoding="utf-8") as f:
            assert f.read() == template
        os.remove(jinja)
    cfg_path = os.path.join(out, "tokenizer_config.json")
    with open(cfg_path, encoding="utf-8") as f:
        cfg = json.load(f)
    cfg["chat_template"] = template
    with open(cfg_path, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, ensure_ascii=False, sort_keys=True)
        f.write("\n")

    tok = transformers.AutoTokenizer.from_pretrained(out)
    assert tok.chat_template == template, "transformers did not read chat_template from tokenizer_config.json"
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (1, 2, 0)
    assert len(tok) == VOCAB_SIZE
    return tok


# --------------------------------------------------------------------------- cases


def messages_of(case: dict) -> list[dict] | None:
    if not case["chat"]:
        return None
    msgs = []
    if case["system"]:
        msgs.append({"role": "system", "content": case["system"]})
    msgs.append({"role": "user", "content": case["prompt"]})
    return msgs


def prompt_ids_of(tok, case: dict) -> tuple[list[int], str | None]:
    """(prompt ids, rendered chat prompt or None) exactly as transformers makes them."""
    msgs = messages_of(case)
    if msgs is None:
        ids = list(tok(case["prompt"]).input_ids)
        assert ids[0] == tok.bos_token_id
        return ids, None
    rendered = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    enc = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
    ids = list(enc["input_ids"] if not isinstance(enc, list) else enc)
    # The template writes the specials itself; nothing is added on top of the rendered text.
    assert ids == tok(rendered, add_special_tokens=False).input_ids
    return [int(i) for i in ids], rendered


# --------------------------------------------------------------------------- model


def make_config(vocab: int, eos: int, bos: int, pad: int):
    return transformers.MixtralConfig(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_local_experts=4,
        num_experts_per_tok=2,
        max_position_embeddings=256,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        rms_norm_eps=1e-5,
        sliding_window=None,
        tie_word_embeddings=False,
        hidden_act="silu",
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=pad,
    )


@torch.no_grad()
def hf_generate(model, ids: list[int], n: int, eos: int, pad: int) -> list[int]:
    out = model.generate(
        torch.tensor([ids]),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        do_sample=False,
        max_new_tokens=n,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    return [int(x) for x in out[0, len(ids):]]


def has_nul(text: str) -> bool:
    """The CLI prints text with printf("%s"), which stops at a NUL byte (see the test)."""
    return "\0" in text


def choose_seed(config, prompts: list[list[int]], tok):
    eos = tok.eos_token_id
    for seed in range(FIRST_SEED, FIRST_SEED + MAX_SEED_TRIES):
        model = transformers.MixtralForCausalLM._from_config(config, dtype=torch.float32, **load_kwargs())
        init_weights(model, seed)
        model.eval()
        greedy, rmargin, lmargin, ok = [], float("inf"), float("inf"), True
        for ids in prompts:
            new, gap = manual_greedy(model, ids, N_NEW_TOKENS, eos)
            if eos in new or gap <= LOGIT_MARGIN or has_nul(tok.decode(new, skip_special_tokens=True)):
                ok = False
                break
            rm = router_margin(model, ids + new[:-1], config.num_experts_per_tok)
            if rm <= ROUTER_MARGIN:
                ok = False
                break
            greedy.append(new)
            rmargin, lmargin = min(rmargin, rm), min(lmargin, gap)
        if ok:
            return seed, model, greedy, rmargin, lmargin
    raise RuntimeError(f"no seed in {MAX_SEED_TRIES} tries met the margins")


# --------------------------------------------------------------------------- output


def write_reference(path: str, top: dict, cases: list[dict]) -> None:
    """One top-level key per line and one case per line; ASCII only."""
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in top.items()]
    body = ",\n".join(f"    {json.dumps(c)}" for c in cases)
    lines.append(f'  "cases": [\n{body}\n  ]')
    with open(path, "w", encoding="ascii") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")


def build(out_root: str) -> None:
    out = os.path.join(out_root, NAME)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)

    with open(TEMPLATE_PATH, encoding="utf-8") as f:
        template = f.read()
    tok = save_tokenizer(out, template)

    prompts, rendered = zip(*(prompt_ids_of(tok, c) for c in CASES))
    config = make_config(len(tok), tok.eos_token_id, tok.bos_token_id, tok.pad_token_id)
    seed, model, greedy, rmargin, lmargin = choose_seed(config, list(prompts), tok)
    print(f"[{NAME}] seed={seed} router margin={rmargin:.4g} logit margin={lmargin:.4g}", flush=True)

    model.save_pretrained(out, **save_kwargs(model))
    ref = transformers.MixtralForCausalLM.from_pretrained(out, dtype=torch.float32, **load_kwargs()).eval()
    for (k, v), (k2, v2) in zip(model.state_dict().items(), ref.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), f"reload mismatch at {k}"
    assert ref.config.eos_token_id == tok.eos_token_id

    records = []
    for case, ids, text_prompt, manual in zip(CASES, prompts, rendered, greedy):
        new = hf_generate(ref, ids, N_NEW_TOKENS, tok.eos_token_id, tok.pad_token_id)
        assert new == manual, f"{case['name']}: generate() {new} != cache-free greedy {manual}"
        assert len(new) == N_NEW_TOKENS and tok.eos_token_id not in new
        text = tok.decode(new, skip_special_tokens=True)
        # transformers adds nothing on top of the tokenizers decoder (no clean_up_tokenization_spaces).
        assert text == tok.backend_tokenizer.decode(new, skip_special_tokens=True)
        records.append({
            "name": case["name"],
            "prompt": case["prompt"],
            "chat": case["chat"],
            "system": case["system"],
            "messages": messages_of(case),
            "rendered": text_prompt,
            "prompt_ids": ids,
            "new_ids": new,
            "text": text,
            "stopped_at_eos": False,
        })
        print(f"  {case['name']}: {len(ids)} prompt ids -> {new} = {text!r}", flush=True)

    write_reference(os.path.join(out, "text_reference.json"), {
        "seed": seed,
        "transformers_version": transformers.__version__,
        "tokenizers_version": tokenizers_version,
        "torch_version": torch.__version__,
        "vocab_size": len(tok),
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
        "max_new_tokens": N_NEW_TOKENS,
        "note": ("prompt_ids: tokenizer(prompt).input_ids (plain) or apply_chat_template(messages, "
                 "add_generation_prompt=True, tokenize=True) (chat); new_ids: model.generate(do_sample=False, "
                 "max_new_tokens=12), equal to a cache-free argmax loop, eos never produced; "
                 "text: tokenizer.decode(new_ids, skip_special_tokens=True)"),
        "min_router_margin": rmargin,
        "min_logit_margin": lmargin,
    }, records)

    normalise_modes(out)
    size = dir_bytes(out)
    assert size <= MAX_DIR_BYTES, f"{out} is {size} bytes (> {MAX_DIR_BYTES})"
    print(f"[{NAME}] {size} bytes: {sorted(os.listdir(out))}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures"),
                    help="fixtures root; the fixture goes to <out>/text_mixtral")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    build(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
