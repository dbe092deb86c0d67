"""Importers: WordNet 3.0 (packaged data files) and ConceptNet assertions CSV, each as one graph Document.

An imported source is a document like any other: `kqa graph remove wordnet-3.0` retracts it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from kqa.errors import InputError
from kqa.graph.corpus import RawDocument
from kqa.graph.model import ConceptInfo, Document, Triple
from kqa.graph.wordnet import Synset, first_senses, read_synsets, wordnet_dir

logger = logging.getLogger(__name__)

WORDNET_NAME = "wordnet-3.0"
# pointer symbol -> (relation, the source synset is the head?) ; meronyms are stored as PartOf/MadeOf(part, whole)
WORDNET_POINTERS = {"@": ("IsA", True), "@i": ("IsA", True), "#p": ("PartOf", True), "%p": ("PartOf", False),
                    "#m": ("PartOf", True), "%m": ("PartOf", False), "#s": ("MadeOf", False),
                    "%s": ("MadeOf", True), "!": ("Antonym", True), "+": ("RelatedTo", True)}


class WordNetImporter:
    """Synset lemmas become concepts (first-sense gloss as description); pointers become edges."""

    def __init__(self, folder: str | Path | None = None):
        self.folder = Path(folder) if folder else wordnet_dir()

    def run(self) -> Document:
        synsets = {s.key: s for s in read_synsets(self.folder)}
        triples: dict[tuple, Triple] = {}
        for synset in synsets.values():
            for triple in _pointer_triples(synset, synsets):
                triples.setdefault((triple.head, triple.relation, triple.tail), triple)
        concepts = tuple(ConceptInfo(word, "", synsets[key].definition)
                         for word, key in sorted(first_senses(self.folder).items()) if key in synsets)
        doc_id = _files_hash(sorted(self.folder.glob("data.*")))
        logger.info("WordNet: %d synsets, %d triples, %d concepts", len(synsets), len(triples), len(concepts))
        return Document(doc_id, WORDNET_NAME, tuple(triples.values()), concepts)


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


def wordnet_gloss_corpus(folder: str | Path | None = None, limit: int | None = None) -> Iterator[RawDocument]:
    """One document per synset: 'aquarium is a tank ... fish.' plus its example sentences."""
    for n, synset in enumerate(read_synsets(Path(folder) if folder else wordnet_dir())):
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


class ConceptNetImporter:
    """English edges of a ConceptNet assertions file (.csv or .csv.gz); the weight is kept as the confidence."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def run(self) -> tuple[Document, int]:
        """Returns the document and the number of malformed lines skipped."""
        if not self.path.is_file():
            raise InputError(f"ConceptNet file {self.path} does not exist.")
        triples: dict[tuple, Triple] = {}
        bad = 0
        with _open_text(self.path) as f:
            for line in f:
                try:
                    triple = parse_assertion(line)
                except (ValueError, IndexError, KeyError, TypeError):
                    bad += 1
                    continue
                if triple is not None:
                    key = (triple.head, triple.relation, triple.tail)
                    if key not in triples or triples[key].confidence < triple.confidence:
                        triples[key] = triple
        if bad:
            logger.warning("%s: skipped %d malformed lines", self.path, bad)
        doc = Document(_files_hash([self.path]), f"conceptnet:{self.path.name}", tuple(triples.values()))
        return doc, bad


def parse_assertion(line: str) -> Triple | None:
    """One tab-separated assertion; None for an edge that is not English on both ends."""
    uri, rel, start, end, info = line.rstrip("\n").split("\t")
    if not (start.startswith("/c/en/") and end.startswith("/c/en/")):
        return None
    meta = json.loads(info)
    head, tail = _cn_concept(start), _cn_concept(end)
    if not head or not tail or head == tail:
        return None
    sentence = re.sub(r"\[\[|\]\]", "", meta.get("surfaceText") or "")
    return Triple(head, rel.removeprefix("/r/"), tail, sentence, "conceptnet5", float(meta.get("weight", 1.0)))


def _cn_concept(uri: str) -> str:
    return uri.split("/")[3].replace("_", " ").lower()


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _files_hash(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:24]
