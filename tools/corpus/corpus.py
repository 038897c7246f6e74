"""The fixed train/test split of the Bible corpus written by extract.py, shared by every
training and evaluation script so they all hold out exactly the same verses."""
from collections import OrderedDict
from pathlib import Path

# Held out by whole book so no verse of a test book is seen in training: narrative (Ruth,
# Jonah), poetry (Lamentations), prophecy (Joel) and letters (Philippians, I John); about 2% of
# the verses.
TEST_BOOKS = frozenset({"Ruth", "Lamentations", "Joel", "Jonah", "Philippians", "I John"})


def read_verses(corpus_dir: Path, name: str):
    """{(book, chapter, verse): text} in canonical order."""
    verses = OrderedDict()
    with open(Path(corpus_dir) / f"{name}.tsv", encoding="utf-8") as tsv:
        for line in tsv:
            book, chapter, verse, text = line.rstrip("\n").split("\t")
            verses[(book, int(chapter), int(verse))] = text
    return verses


def split(verses, test: bool):
    return OrderedDict((ref, text) for ref, text in verses.items() if (ref[0] in TEST_BOOKS) == test)


def chapters(verses):
    """Verse texts grouped by chapter, each chapter one newline-joined document."""
    grouped = OrderedDict()
    for (book, chapter, _), text in verses.items():
        grouped.setdefault((book, chapter), []).append(text)
    return ["\n".join(texts) for texts in grouped.values()]
