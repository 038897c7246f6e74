#!/usr/bin/env python3
"""Train models/elephant-tiny-lm: a small Qwen3-MoE language model on the English Bible texts.

    /usr/bin/python3 tools/corpus/extract.py --out build/corpus        # once (SWORD, Debian)
    python tools/train/train_lm.py --corpus build/corpus --out models/elephant-tiny-lm

Everything the engine loads is written by Hugging Face itself (tokenizers' `save`,
transformers' `save_pretrained`), so the directory is exactly what a Hub repository holds.
Steps:
  1. a byte-level BPE tokenizer (8000 ids) trained on the training books of WEB + KJV;
  2. training documents: every training chapter of both translations (verses joined by
     newlines), plus ChatML pairs "user: verse i / assistant: verse i+1" for a tenth of the
     WEB verses, so `elephant chat` answers a verse with the one that follows it;
  3. a Qwen3MoeForCausalLM (4 layers, hidden 256, 8 experts of width 128, top-2, every layer
     MoE, tied embeddings; every matrix width a multiple of 128 so int4 groups of 32..128 fit), trained from a fixed seed with AdamW on 256-token blocks, with the
     model's own load-balancing auxiliary loss;
  4. the weights saved in bf16, the loss curve in train_log.csv beside them.
The default 500 steps (4.1M tokens, about 1.9 epochs) take about 35 minutes on one Zen 3 core
(the shipped model was trained with --threads 1 while other work shared the machine).
"""
import argparse
import csv
import json
import math
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # tokenizers' trainer: deterministic merges
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402
from transformers import PreTrainedTokenizerFast, Qwen3MoeConfig, Qwen3MoeForCausalLM  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))
import corpus  # noqa: E402

SEED = 20261124
VOCAB = 8000
SEQ = 256
EOS = "<|endoftext|>"
SPECIAL = [EOS, "<|im_start|>", "<|im_end|>"]
# ChatML, the layout of the Qwen2/Qwen3 chat templates, reduced to what the model was taught.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def chat_example(user: str, assistant: str) -> str:
    return f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{assistant}<|im_end|>\n"


def train_tokenizer(texts):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=SPECIAL, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def documents(corpus_dir: Path):
    web = corpus.split(corpus.read_verses(corpus_dir, "web"), test=False)
    kjv = corpus.split(corpus.read_verses(corpus_dir, "kjv"), test=False)
    docs = corpus.chapters(web) + corpus.chapters(kjv)
    rng = random.Random(SEED)
    refs = list(web)
    for ref, following in zip(refs, refs[1:]):
        if ref[0] == following[0] and rng.random() < 0.1:
            docs.append(chat_example(web[ref], web[following]))
    rng.shuffle(docs)
    return docs


def blocks(tok: Tokenizer, docs):
    eos = tok.token_to_id(EOS)
    stream = []
    for encoding in tok.encode_batch(docs):
        stream.extend(encoding.ids)
        stream.append(eos)
    usable = len(stream) // SEQ * SEQ
    return torch.tensor(stream[:usable], dtype=torch.long).view(-1, SEQ)


def make_config(eos_id: int, chat_end_id: int) -> Qwen3MoeConfig:
    return Qwen3MoeConfig(
        vocab_size=VOCAB, hidden_size=256, intermediate_size=512, moe_intermediate_size=128,
        num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=64,
        num_experts=8, num_experts_per_tok=2, norm_topk_prob=True, decoder_sparse_step=1,
        max_position_embeddings=1024, rope_theta=10000.0, tie_word_embeddings=True,
        output_router_logits=True, router_aux_loss_coef=0.01,
        bos_token_id=eos_id, eos_token_id=[eos_id, chat_end_id], pad_token_id=eos_id)


def held_out_loss(model, data):
    model.eval()
    with torch.no_grad():
        total = sum(model(input_ids=batch, labels=batch).loss.item() for batch in data.split(16))
    model.train()
    return total / len(data.split(16))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("build/corpus"))
    parser.add_argument("--out", type=Path, default=Path("models/elephant-tiny-lm"))
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    random.seed(SEED)

    docs = documents(args.corpus)
    tok = train_tokenizer(docs)
    eos_id, chat_end_id = tok.token_to_id(EOS), tok.token_to_id("<|im_end|>")
    train = blocks(tok, docs)
    test_docs = corpus.chapters(corpus.split(corpus.read_verses(args.corpus, "web"), test=True))
    test = blocks(tok, test_docs)
    print(f"tokenizer: {tok.get_vocab_size()} ids; train {train.numel()} tokens "
          f"({len(train)} blocks), held-out {test.numel()} tokens", flush=True)

    model = Qwen3MoeForCausalLM(make_config(eos_id, chat_end_id))
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {params} parameters ({2 * params / 1e6:.1f} MB in bf16)", flush=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95),
                                  weight_decay=0.1)
    warmup = max(1, args.steps // 20)

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    args.out.mkdir(parents=True, exist_ok=True)
    log_path = args.out / "train_log.csv"
    generator = torch.Generator().manual_seed(SEED)
    order = torch.randperm(len(train), generator=generator)
    cursor = 0
    start = time.time()
    with open(log_path, "w", newline="") as log_file:
        log = csv.writer(log_file)
        log.writerow(["step", "tokens", "lr", "train_loss", "aux_loss", "held_out_loss", "seconds"])
        for step in range(args.steps):
            if cursor + args.batch > len(order):
                order = torch.randperm(len(train), generator=generator)
                cursor = 0
            batch = train[order[cursor:cursor + args.batch]]
            cursor += args.batch
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
            out = model(input_ids=batch, labels=batch)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            last = step + 1 == args.steps
            held = held_out_loss(model, test) if (step + 1) % 100 == 0 or last else None
            if step % 10 == 0 or held is not None:
                log.writerow([step + 1, (step + 1) * batch.numel(), f"{lr_at(step):.6f}",
                              f"{out.loss.item():.4f}", f"{out.aux_loss.item():.4f}",
                              "" if held is None else f"{held:.4f}",
                              f"{time.time() - start:.0f}"])
                log_file.flush()
                print(f"step {step + 1}/{args.steps} loss {out.loss.item():.3f}"
                      + ("" if held is None else f" held-out {held:.3f} (ppl {math.exp(held):.1f})")
                      + f" {time.time() - start:.0f}s", flush=True)

    model.to(torch.bfloat16).save_pretrained(args.out)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS,
                                      pad_token=EOS, model_max_length=1024)
    wrapped.chat_template = CHAT_TEMPLATE
    wrapped.save_pretrained(args.out)
    # transformers 5 writes the template to chat_template.jinja; the Qwen hub layout (and the
    # engine) read it from tokenizer_config.json.
    template_file = args.out / "chat_template.jinja"
    if template_file.exists():
        template_file.unlink()
    config_path = args.out / "tokenizer_config.json"
    tokenizer_config = json.loads(config_path.read_text())
    tokenizer_config["chat_template"] = CHAT_TEMPLATE
    config_path.write_text(json.dumps(tokenizer_config, indent=2, ensure_ascii=False) + "\n")
    print(f"saved {args.out} in {time.time() - start:.0f}s", flush=True)


if __name__ == "__main__":
    main()
