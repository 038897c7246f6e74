#!/usr/bin/env python3
"""Train models/elephant-tiny-mt: a tiny Switch Transformers English->Spanish translator.

    /usr/bin/python3 tools/corpus/extract.py --out build/corpus        # once (SWORD, Debian)
    python tools/train/train_mt.py --corpus build/corpus --out models/elephant-tiny-mt
    python tools/eval/eval_mt.py models/elephant-tiny-mt --corpus build/corpus --json mt_eval.json

Everything the engine loads is written by the libraries themselves (sentencepiece's trainer,
transformers' `save_pretrained`), so the directory is exactly what a Hub repository holds.
Steps:
  1. a SentencePiece unigram model (8000 ids, shared by both languages, T5 layout: <pad>=0,
     </s>=1, <unk>=2, no <s>, no sentinels) trained on the training books of the World
     English Bible and the Reina-Valera 1909, wrapped as a transformers T5Tokenizer
     (spiece.model + the converted tokenizer.json);
  2. parallel pairs: every verse of a training book present in both WEB (source) and RV1909
     (target); pairs with more than 128 tokens on either side (</s> included) are dropped;
  3. a SwitchTransformersForConditionalGeneration with a deep encoder and a shallow decoder
     (4 + 2 layers, d_model 192, 6 heads of 32, d_ff 256, ReLU, tied embeddings), 8 experts
     with top-1 routing in every other layer (encoder blocks 1 and 3, decoder block 1), an
     expert capacity of 512 tokens per sequence so no token is ever dropped for inputs up to
     512 tokens; routers re-initialised small (std sqrt(0.1/d_model), as in the Switch paper;
     transformers' default is std 1.0);
  4. AdamW with each tensor's step scaled by the tensor's RMS (--rms-scale, as Adafactor and
     nanoT5's AdamWScale do; plain AdamW at 2e-3 barely moves T5's std-1 embeddings and reached
     only 4.76 held-out loss in the same time), peak lr 2e-2, linear warmup and cosine decay to
     a tenth, on length-bucketed batches of about --max-tokens padded source+target tokens,
     with the model's router z-loss (coef 0.001) and load-balancing loss (coef 0.01) added to
     the cross-entropy; held-out loss on the test books every --eval-every steps;
  5. the weights saved in bf16, the tokenizer, a generation_config.json, and the loss curve in
     train_log.csv beside them.
Torch runs on --threads CPU threads (default 1); with the default --steps (4000, about 5
epochs) this takes about an hour on one core of a 2-core machine shared with another job.
"""
import argparse
import csv
import math
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import sentencepiece as spm  # noqa: E402
import torch  # noqa: E402
from transformers import (AutoTokenizer, GenerationConfig, SwitchTransformersConfig,  # noqa: E402
                          SwitchTransformersForConditionalGeneration, T5Tokenizer)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))
import corpus  # noqa: E402

SEED = 20261125
VOCAB = 8000
MAX_LEN = 128           # tokens per side in training, </s> included
CAPACITY = 512          # expert capacity per sequence: >= any length the model is used with
PAD, EOS, UNK = 0, 1, 2


def pairs(corpus_dir: Path, test: bool):
    """[(english, spanish)] for the verses present in both WEB and RV1909."""
    web = corpus.split(corpus.read_verses(corpus_dir, "web"), test=test)
    rv = corpus.split(corpus.read_verses(corpus_dir, "rv1909"), test=test)
    return [(text, rv[ref]) for ref, text in web.items() if ref in rv and text and rv[ref]]


def train_tokenizer(train_pairs, out: Path):
    """SentencePiece unigram model at out/spiece.model, wrapped and saved as a T5Tokenizer."""
    text_file = out / "spm_train.txt"
    with open(text_file, "w", encoding="utf-8") as f:
        for en, es in train_pairs:
            f.write(en + "\n" + es + "\n")
    spm.SentencePieceTrainer.train(
        input=str(text_file), model_prefix=str(out / "spiece"), model_type="unigram",
        vocab_size=VOCAB, character_coverage=1.0, pad_id=PAD, eos_id=EOS, unk_id=UNK, bos_id=-1,
        pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>", input_sentence_size=0,
        shuffle_input_sentence=False, num_threads=1, seed_sentencepiece_size=200000,
        minloglevel=2)
    text_file.unlink()
    (out / "spiece.vocab").unlink()
    sp = spm.SentencePieceProcessor(model_file=str(out / "spiece.model"))
    # transformers converts spiece.model to a tokenizers Unigram model when loading it; saving
    # writes tokenizer.json + tokenizer_config.json and leaves spiece.model in place.
    tok = T5Tokenizer.from_pretrained(out, extra_ids=0, model_max_length=CAPACITY)
    tok.save_pretrained(out)
    # The saved directory must load back (fast, from tokenizer.json) to exactly the raw ids + </s>.
    loaded = AutoTokenizer.from_pretrained(out)
    for en, es in train_pairs[:200] + [("Hello, world!  Two  spaces; ünïcödé — “quotes”.", "¿Qué? ¡Sí!")]:
        for text in (en, es):
            want = sp.encode(text) + [EOS]
            got = loaded(text)["input_ids"]
            if got != want:
                raise SystemExit(f"tokenizer mismatch on {text!r}:\n  spm {want}\n  hf  {got}")
    assert loaded.pad_token_id == PAD and loaded.eos_token_id == EOS and loaded.unk_token_id == UNK
    assert len(loaded) == VOCAB, len(loaded)
    print(f"tokenizer: {len(loaded)} ids ({type(loaded).__name__}), round-trip checked", flush=True)
    return sp


def encode(sp, text_pairs):
    src = sp.encode([en for en, _ in text_pairs])
    tgt = sp.encode([es for _, es in text_pairs])
    return [(s + [EOS], t + [EOS]) for s, t in zip(src, tgt)]


def make_config() -> SwitchTransformersConfig:
    return SwitchTransformersConfig(
        vocab_size=VOCAB, d_model=192, d_kv=32, num_heads=6, d_ff=256, dense_act_fn="relu",
        num_layers=4, num_sparse_encoder_layers=2,          # encoder_sparse_step 2: blocks 1, 3
        num_decoder_layers=2, num_sparse_decoder_layers=1,  # decoder_sparse_step 2: block 1
        num_experts=8, expert_capacity=CAPACITY, router_jitter_noise=0.0,
        router_z_loss_coef=0.001, router_aux_loss_coef=0.01, router_dtype="float32",
        relative_attention_num_buckets=32, relative_attention_max_distance=128,
        dropout_rate=0.1, tie_word_embeddings=True, is_encoder_decoder=True,
        pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD)


def batches(data, max_tokens, rng):
    """Length-bucketed batches: sort by (target, source) length with a little noise, cut into
    runs whose padded size (rows x (longest source + longest target)) stays under max_tokens."""
    keyed = sorted(range(len(data)), key=lambda i: (len(data[i][1]) + rng.random() * 4,
                                                     len(data[i][0])))
    out, cur, smax, tmax = [], [], 0, 0
    for i in keyed:
        s, t = len(data[i][0]), len(data[i][1])
        ns, nt = max(smax, s), max(tmax, t)
        if cur and (len(cur) + 1) * (ns + nt) > max_tokens:
            out.append(cur)
            cur, ns, nt = [], s, t
        cur.append(i)
        smax, tmax = ns, nt
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


def collate(data, idx):
    src = [data[i][0] for i in idx]
    tgt = [data[i][1] for i in idx]
    s_len, t_len = max(map(len, src)), max(map(len, tgt))
    input_ids = torch.full((len(idx), s_len), PAD, dtype=torch.long)
    labels = torch.full((len(idx), t_len), -100, dtype=torch.long)
    for row, (s, t) in enumerate(zip(src, tgt)):
        input_ids[row, :len(s)] = torch.tensor(s)
        labels[row, :len(t)] = torch.tensor(t)
    return input_ids, (input_ids != PAD).long(), labels


def forward(model, batch):
    input_ids, attention_mask, labels = batch
    out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels,
                output_router_logits=True, use_cache=False)
    cfg = model.config
    z = cfg.router_z_loss_coef * (out.encoder_z_loss + out.decoder_z_loss)
    aux = cfg.router_aux_loss_coef * (out.encoder_aux_loss + out.decoder_aux_loss)
    return out.loss, out.loss - z - aux, z, aux


def held_out_loss(model, data, held_batches):
    """Token-weighted cross-entropy (no router losses) on the held-out pairs."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for idx in held_batches:
            input_ids, attention_mask, labels = collate(data, idx)
            logits = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels,
                           use_cache=False).logits
            total += torch.nn.functional.cross_entropy(
                logits.view(-1, logits.size(-1)), labels.view(-1), ignore_index=-100,
                reduction="sum").item()
            count += (labels != -100).sum().item()
    model.train()
    return total / count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("build/corpus"))
    parser.add_argument("--out", type=Path, default=Path("models/elephant-tiny-mt"))
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--max-tokens", type=int, default=3072,
                        help="padded source+target tokens per batch")
    parser.add_argument("--lr", type=float, default=2e-2)
    parser.add_argument("--rms-scale", action=argparse.BooleanOptionalAction, default=True,
                        help="scale each tensor's lr by its RMS (without it, use --lr ~2e-3)")
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0, help="train the model on the first N pairs only (probe)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    random.seed(SEED)
    rng = random.Random(SEED)
    args.out.mkdir(parents=True, exist_ok=True)

    train_text, test_text = pairs(args.corpus, test=False), pairs(args.corpus, test=True)
    sp = train_tokenizer(train_text, args.out)
    if args.limit:
        train_text = train_text[:args.limit]
    train_all, test = encode(sp, train_text), encode(sp, test_text)
    train = [p for p in train_all if len(p[0]) <= MAX_LEN and len(p[1]) <= MAX_LEN]
    n_tok = sum(len(s) + len(t) for s, t in train)
    print(f"pairs: {len(train)} train ({len(train_all) - len(train)} dropped, longer than "
          f"{MAX_LEN} tokens), {len(test)} held-out; {n_tok} train tokens "
          f"(source+target, </s> included)", flush=True)
    held_batches = batches(test, args.max_tokens, random.Random(SEED))

    model = SwitchTransformersForConditionalGeneration(make_config())
    d_model = model.config.d_model
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("router.classifier.weight"):
                param.normal_(0.0, math.sqrt(0.1 / d_model))
    params = sum(p.numel() for p in model.parameters())
    sparse = [n for n, m in model.named_modules() if n.endswith("mlp.router")]
    print(f"model: {params} parameters ({2 * params / 1e6:.2f} MB in bf16); sparse: "
          + ", ".join(s.replace(".layer.2.mlp.router", "").replace(".layer.1.mlp.router", "")
                      for s in sparse), flush=True)

    # One group per tensor so that, with --rms-scale, each tensor's step is the schedule's lr
    # times the tensor's RMS (Adafactor's scale_parameter, nanoT5's AdamWScale): T5-style
    # initialisation (embeddings std 1, query std (d_model*d_kv)**-0.5) expects relative
    # updates; plain AdamW barely moves the std-1 embeddings.
    optimizer = torch.optim.AdamW(
        [{"params": [p], "weight_decay": 0.01 if p.dim() >= 2 and "shared" not in n else 0.0}
         for n, p in model.named_parameters()], lr=args.lr, betas=(0.9, 0.98), eps=1e-8)
    warmup = max(1, args.steps // 25)

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    log_path = args.out / "train_log.csv"
    epoch, order = 0, batches(train, args.max_tokens, rng)
    cursor, tokens = 0, 0
    model.train()
    start = time.time()
    with open(log_path, "w", newline="") as log_file:
        log = csv.writer(log_file)
        log.writerow(["step", "tokens", "lr", "train_loss", "router_z_loss", "router_aux_loss",
                      "held_out_loss", "seconds"])
        for step in range(args.steps):
            if cursor == len(order):
                epoch += 1
                order, cursor = batches(train, args.max_tokens, rng), 0
            batch = collate(train, order[cursor])
            cursor += 1
            tokens += int(batch[1].sum()) + int((batch[2] != -100).sum())
            for group in optimizer.param_groups:
                scale = 1.0
                if args.rms_scale:
                    scale = max(1e-3, group["params"][0].detach().pow(2).mean().sqrt().item())
                group["lr"] = lr_at(step) * scale
            loss, ce, z, aux = forward(model, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            last = step + 1 == args.steps
            held = (held_out_loss(model, test, held_batches)
                    if (step + 1) % args.eval_every == 0 or last or step == 0 else None)
            if step % 10 == 0 or held is not None:
                log.writerow([step + 1, tokens, f"{lr_at(step):.6f}", f"{ce.item():.4f}",
                              f"{z.item():.5f}", f"{aux.item():.5f}",
                              "" if held is None else f"{held:.4f}", f"{time.time() - start:.0f}"])
                log_file.flush()
                print(f"step {step + 1}/{args.steps} ep {epoch} ce {ce.item():.3f} "
                      f"z {z.item():.4f} aux {aux.item():.4f} lr {lr_at(step):.2e}"
                      + ("" if held is None else f" held-out {held:.3f} (ppl {math.exp(held):.1f})")
                      + f" {time.time() - start:.0f}s", flush=True)

    model.to(torch.bfloat16).save_pretrained(args.out)
    GenerationConfig(decoder_start_token_id=PAD, eos_token_id=EOS, pad_token_id=PAD,
                     max_length=256).save_pretrained(args.out)
    print(f"saved {args.out} after {tokens} tokens ({epoch + cursor / len(order):.2f} epochs) "
          f"in {time.time() - start:.0f}s", flush=True)


if __name__ == "__main__":
    main()
