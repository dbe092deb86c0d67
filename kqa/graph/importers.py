"""Importers: WordNet 3.0 (packaged data files) and ConceptNet assertions CSV, each as one graph Document.

An imported source is a document like any other: `kqa graph remove wordnet-3.0` retracts it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from kqa.errors import InputError
from kqa.graph.config import GraphConfig
from kqa.graph.corpus import RawDocument
from kqa.graph.model import ConceptInfo, Document, Triple
from kqa.graph.wordnet import Synset, first_senses, read_synsets, senses, wordnet_dir
from kqa.types import Question

logger = logging.getLogger(__name__)

WORDNET_NAME = "wordnet-3.0"
WORD = re.compile(r"[a-z]+(?:['-][a-z]+)*")
# spaCy stop words that CSQA questions are about ("where would you keep ...", "what do you use to ...")
CONTENT_STOP_WORDS = frozenset({"keep", "put", "make", "give", "take", "show", "move", "call", "see", "get", "use",
                                "find", "become", "serve", "fill", "empty", "full", "top", "bottom", "front", "back",
                                "side", "part", "name", "fire", "go", "say"})
# pointer symbol -> (relation, the source synset is the head?) ; meronyms are stored as PartOf/MadeOf(part, whole)
WORDNET_POINTERS = {"@": ("IsA", True), "@i": ("IsA", True), "#p": ("PartOf", True), "%p": ("PartOf", False),
                    "#m": ("PartOf", True), "%m": ("PartOf", False), "#s": ("MadeOf", False),
                    "%s": ("MadeOf", True), "!": ("Antonym", True), "+": ("RelatedTo", True)}


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


def import_wordnet_vocabulary(graph: str | Path, vocabulary: Iterable[str], config: GraphConfig | None = None, *,
                              folder: str | Path | None = None, glosses: bool = False, max_senses: int = 2,
                              hops: int = 1, progress: bool = True):
    """`kqa graph import wordnet --vocabulary`: the WordNet subset a vocabulary needs (`select_synsets`), and with
    `glosses` those synsets' glosses parsed as a corpus. Rerunning with the same vocabulary changes nothing."""
    from kqa.graph.builder import GraphBuilder, import_documents

    config = config or GraphConfig()
    keep = select_synsets(vocabulary, folder, max_senses=max_senses, hops=hops)
    result = import_documents(graph, [WordNetImporter(folder, keep).run()], config)
    if glosses:
        corpus = wordnet_gloss_corpus(folder, keep=keep)
        result = result.then(GraphBuilder(config, progress=progress).run(corpus, graph))
    return result


def question_vocabulary(questions: Iterable[Question]) -> frozenset[str]:
    """Words and 2-3 word phrases of question stems, concepts and choices, with naive base forms ('fishes' ->
    'fish'); stop words alone are left out. Terms WordNet lacks cost nothing: selection looks them up."""
    from spacy.lang.en.stop_words import STOP_WORDS

    stop = STOP_WORDS - CONTENT_STOP_WORDS
    terms: set[str] = set()
    for q in questions:
        for text in (q.stem, q.concept or "", *(c.text for c in q.choices)):
            words = WORD.findall(text.lower())
            terms.add(" ".join(words))
            for n in (1, 2, 3):
                grams = (" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
                terms.update(g for g in grams if n > 1 or (g not in stop and len(g) > 2))
    return frozenset(terms | {v for t in terms for v in _base_forms(t)})


def read_vocabulary(source: str | Path) -> frozenset[str]:
    """A .txt file of one term per line, or a question set (packaged name or JSONL file) whose words are taken."""
    path = Path(source)
    if path.suffix == ".txt":
        if not path.is_file():
            raise InputError(f"vocabulary file {path} does not exist; give a .txt file with one term per line "
                             f"or a question set such as csqa:validation.")
        return frozenset(t.strip().lower() for t in path.read_text(encoding="utf-8").splitlines() if t.strip())
    from kqa.data import load_questions

    return question_vocabulary(load_questions(source).questions)


def _base_forms(term: str) -> list[str]:
    """Candidate base forms of the last word (plural nouns, -ing/-ed verbs); WordNet decides which exist."""
    head, _, last = term.rpartition(" ")
    prefix = head + " " if head else ""
    forms = []
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", ""), ("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e")):
        if last.endswith(suffix) and len(last) > len(suffix) + 2:
            forms.append(prefix + last[: -len(suffix)] + repl)
    return forms


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
