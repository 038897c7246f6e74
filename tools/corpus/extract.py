#!/usr/bin/python3
"""Extract verse-aligned Bible texts from the Debian SWORD modules.

Needs `apt-get install python3-sword sword-text-web sword-text-kjv sword-text-sparv` and runs
under the system Python (the SWORD bindings are a Debian package, not on PyPI). Writes one TSV
per module (`book<TAB>chapter<TAB>verse<TAB>text`, the 66 books all three modules share) to
--out; the train/test split by book is `corpus_split.py`'s.

    /usr/bin/python3 tools/corpus/extract.py --out build/corpus
"""
import argparse
import html
import re
from pathlib import Path

import Sword

MODULES = {"web": "engWEB2015eb", "kjv": "engKJV2006eb", "rv1909": "spaRV1909eb"}

# The raw OSIS entry is cleaned by hand because the modules' plain renderers glue the two
# words around a footnote together ("Godcreated") and repeat psalm headings into later verses.
NOTE = re.compile(r"<note\b.*?</note>", re.S)
TITLE = re.compile(r"<title\b.*?</title>", re.S)
TAG = re.compile(r"<[^>]+>")
SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?’”])")
SPACES = re.compile(r"\s+")
# RV1909 sets a chapter's first word in capitals as a drop cap ("EN el principio").
DROP_CAP = re.compile(r"^([A-ZÁÉÍÓÚÑ]{2,})(?=\s+[a-záéíóúñ])")


def clean(raw: str) -> str:
    text = TAG.sub("", TITLE.sub("", NOTE.sub(" ", raw)))
    text = html.unescape(text).replace("¶", " ")
    text = SPACE_BEFORE_PUNCT.sub(r"\1", SPACES.sub(" ", text)).strip()
    return DROP_CAP.sub(lambda m: m.group(1).capitalize(), text)


def read_module(manager, module_name: str):
    module = manager.getModule(module_name)
    if module is None:
        raise SystemExit(f"SWORD module {module_name} is not installed "
                         "(apt-get install sword-text-web sword-text-kjv sword-text-sparv)")
    key = Sword.VerseKey("Genesis 1:1")
    key.setVersificationSystem(module.getConfigEntry("Versification") or "KJV")
    key.setText("Genesis 1:1")
    verses = {}
    while key.popError() == "\x00":
        if key.getVerse() > 0 and key.getChapter() > 0:
            module.setKey(key)
            text = clean(module.getRawEntry())
            if text:
                verses[(key.getBookName(), key.getChapter(), key.getVerse())] = text
        key.increment()
    return verses


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/corpus"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    manager = Sword.SWMgr()
    texts = {name: read_module(manager, module) for name, module in MODULES.items()}
    # The WEB module carries the deuterocanonical books too; keep the books every module has.
    common_books = set.intersection(*({ref[0] for ref in verses} for verses in texts.values()))
    for name, verses in texts.items():
        kept = [(ref, text) for ref, text in verses.items() if ref[0] in common_books]
        with open(args.out / f"{name}.tsv", "w", encoding="utf-8") as out:
            for (book, chapter, verse), text in kept:
                out.write(f"{book}\t{chapter}\t{verse}\t{text}\n")
        print(f"{name}: {len(kept)} verses in {len({ref[0] for ref, _ in kept})} books")


if __name__ == "__main__":
    main()
