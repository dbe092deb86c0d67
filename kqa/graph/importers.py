"""Import API: WordNet (all, or what a vocabulary needs), ConceptNet 5 files, all or part of ConceptNet 4, and
dictionary definitions.

Each import is one graph Document (wordnet.py, conceptnet.py, definitions.py read the sources), so
`kqa graph remove wordnet-3.0` / `conceptnet4` / `definitions-gcide` retracts it, and importing the same source for
the same vocabulary again changes nothing. This module was also the home of the WordNet and ConceptNet 5 readers:
they are importable from here still.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from kqa.data import load_questions
from kqa.errors import InputError, brief
from kqa.graph.builder import GraphBuilder, import_documents
from kqa.graph.conceptnet import (  # noqa: F401  (ConceptNetImporter, parse_assertion: their former home was here)
    CONCEPTNET4_GRAPH,
    ConceptNetImporter,
    conceptnet4_file,
    parse_assertion,
)
from kqa.graph.config import GraphConfig
from kqa.graph.corpus import RawDocument, Skipped
from kqa.graph.definitions import DefinitionImporter, check_source
from kqa.graph.indexes import BESIDE, IndexSync, keep_in_step
from kqa.graph.model import Document
from kqa.graph.names import concept_stop_words, key_of_name, words_of
from kqa.graph.update import UpdateResult, open_existing, open_graph
from kqa.graph.wordnet import (  # noqa: F401  (re-exported: their former home was here)
    WORDNET_NAME,
    WORDNET_POINTERS,
    WordNetImporter,
    _sentence,
    select_synsets,
    wordnet_gloss_corpus,
)
from kqa.types import Question
from kqa.userinput import path_kind

logger = logging.getLogger(__name__)

Vocabulary = str | Path | Iterable[str]  # a .txt file or question set (see read_vocabulary), or the terms themselves


def import_wordnet(graph: str | Path, config: GraphConfig = GraphConfig(), *, folder: str | Path | None = None,
                   glosses: bool = False, gloss_limit: int | None = None, progress: bool = True,
                   index: IndexSync | None = BESIDE) -> UpdateResult:
    """WordNet relations and descriptions; with `glosses`, also its glosses and examples parsed as a corpus.

    `index` (every importer's): keeps the indexes beside the graph in step, once per import (kqa.graph.indexes)."""
    corpus = wordnet_gloss_corpus(folder, gloss_limit) if glosses else None
    return _wordnet_and_glosses(graph, WordNetImporter(folder).run(), corpus, config, progress, index)


def _wordnet_and_glosses(graph: str | Path, doc: Document, glosses: Iterable[RawDocument] | None,
                         config: GraphConfig, progress: bool, index: IndexSync | None) -> UpdateResult:
    """Import WordNet's `doc`, then parse the `glosses` corpus (when given) into the graph; one index sync for both."""
    if glosses is None:
        return import_documents(graph, [doc], config, index=index)
    result = import_documents(graph, [doc], config, index=None)
    result = result.then(GraphBuilder(config, progress=progress, index=None).run(glosses, graph))
    keep_in_step(graph, index, result.added, result.removed, documents=result.parsed)
    return result


def import_conceptnet(graph: str | Path, path: str | Path, config: GraphConfig = GraphConfig(), *,
                      index: IndexSync | None = BESIDE) -> UpdateResult:
    """English edges of a ConceptNet 5 assertions file (.csv or .csv.gz), weights kept as confidences."""
    return import_conceptnet_file(graph, ConceptNetImporter(path), config, index=index)


def import_conceptnet_file(graph: str | Path, importer: ConceptNetImporter, config: GraphConfig = GraphConfig(), *,
                           index: IndexSync | None = BESIDE) -> UpdateResult:
    """Read a ConceptNet file with `importer` and add its Document; malformed lines are reported as skipped.

    A graph that holds this very Document already (same file, same vocabulary) is left as it is, file unread. A new
    graph is created only once the file has been read: a file refused as a whole leaves no empty graph behind."""
    start = time.perf_counter()
    document_id = importer.document_id  # hashes the file: a missing one is refused before anything is opened
    with open_existing(graph, config) as store:
        if store is not None and store.state.names.get(importer.name) == document_id:
            return UpdateResult(unchanged=1, seconds=time.perf_counter() - start, counts=store.state.counts())
        doc, bad = importer.run()
        result = import_documents(graph if store is None else store, [doc], config, index=index)
    skipped = (Skipped(str(importer.path), f"{bad} malformed lines"),) if bad else ()
    return replace(result, skipped=result.skipped + skipped, seconds=time.perf_counter() - start)


def import_wordnet_vocabulary(graph: str | Path, vocabulary: Iterable[str], config: GraphConfig | None = None, *,
                              folder: str | Path | None = None, glosses: bool = False, max_senses: int = 2,
                              hops: int = 1, progress: bool = True, index: IndexSync | None = BESIDE):
    """`kqa graph import wordnet --vocabulary`: the WordNet subset a vocabulary needs (`select_synsets`), and with
    `glosses` those synsets' glosses parsed as a corpus. Rerunning with the same vocabulary changes nothing."""
    keep = select_synsets(vocabulary, folder, max_senses=max_senses, hops=hops)
    corpus = wordnet_gloss_corpus(folder, keep=keep) if glosses else None
    return _wordnet_and_glosses(graph, WordNetImporter(folder, keep).run(), corpus, config or GraphConfig(),
                                progress, index)


def import_conceptnet4(graph: str | Path, config: GraphConfig | None = None, *, vocabulary: Vocabulary | None = None,
                       path: str | Path | None = None, progress: bool = True, index: IndexSync | None = BESIDE
                       ) -> UpdateResult:
    """`kqa graph import conceptnet4`: every ConceptNet 4 edge, or with `vocabulary` those with an end among its
    concept keys (`vocabulary_keys`). `path`: the file (default: the cached one, fetched once when missing)."""
    start = time.perf_counter()
    keys = None if vocabulary is None else vocabulary_keys(_terms(vocabulary))
    importer = ConceptNetImporter(path or conceptnet4_file(), CONCEPTNET4_GRAPH, keys=keys, progress=progress)
    result = import_conceptnet_file(graph, importer, config or GraphConfig(), index=index)
    seconds = time.perf_counter() - start
    logger.info("ConceptNet 4 imported in %.1f s: %d edges read (0: unchanged, not read); graph: %d concepts, %d "
                "edges", seconds, result.triples, result.counts.get("nodes", 0), result.counts.get("edges", 0))
    return replace(result, seconds=seconds)


def import_definitions(graph: str | Path, config: GraphConfig | None = None, *, source: str = "both",
                       vocabulary: Vocabulary | None = None, wordnet_folder: str | Path | None = None,
                       gcide_folder: str | Path | None = None, index: IndexSync | None = BESIDE) -> UpdateResult:
    """`kqa graph import definitions`: first-sense definitions as descriptions of the graph's concepts (those with
    an edge), or with `vocabulary` of its concept keys. One Document per source: "definitions-wordnet",
    "definitions-gcide". Rerunning on an unchanged graph (or with the same vocabulary) changes nothing."""
    start, config = time.perf_counter(), config or GraphConfig()
    sources = check_source(source)
    folders = {"wordnet": wordnet_folder, "gcide": gcide_folder}
    if vocabulary is not None:
        keys = vocabulary_keys(_terms(vocabulary))
        result = import_documents(graph, [DefinitionImporter(s, keys, folders[s]).run() for s in sources], config,
                                  index=index)
    else:
        with open_graph(graph, config) as store:
            names = [name for name, record in store.state.concepts.items() if record.edges]
            docs = [DefinitionImporter(s, names, folders[s]).run() for s in sources]
            result = import_documents(store, docs, config, index=index)
    seconds = time.perf_counter() - start
    logger.info("definitions (%s) imported in %.1f s", ", ".join(sources), seconds)
    return replace(result, seconds=seconds)


def vocabulary_keys(terms: Iterable[str]) -> frozenset[str]:
    """The concept keys of a vocabulary: each word's key and, for a term of several words, the whole term's key
    ("fish tank" -> fish, tank, fish tank); stop words alone have no key."""
    keys: set[str] = set()
    for term in terms:
        words = term.split()
        keys.update(key_of_name(w) for w in words)
        if len(words) > 1:
            keys.add(key_of_name(term))
    keys.discard("")
    return frozenset(keys)


def _terms(vocabulary: Vocabulary) -> Iterable[str]:
    return read_vocabulary(vocabulary) if isinstance(vocabulary, (str, Path)) else vocabulary


def question_vocabulary(questions: Iterable[Question]) -> frozenset[str]:
    """Words and 2-3 word phrases of question stems, concepts and choices, with naive base forms ('fishes' ->
    'fish'); stop words alone are left out. Terms WordNet lacks cost nothing: selection looks them up."""
    stop = concept_stop_words()  # the key's: "keep", "top", "bottom" are terms to look up
    terms: set[str] = set()
    for q in questions:
        for text in (q.stem, q.concept or "", *(c.text for c in q.choices)):
            words = words_of(text)
            terms.add(" ".join(words))
            for n in (1, 2, 3):
                grams = (" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
                terms.update(g for g in grams if n > 1 or (g not in stop and len(g) > 2))
    return frozenset(terms | {v for t in terms for v in _base_forms(t)})


def read_vocabulary(source: str | Path) -> frozenset[str]:
    """A .txt file of one term per line, or a question set (packaged name or JSONL file) whose words are taken."""
    path = Path(source)
    if path.suffix == ".txt":
        return frozenset(t.strip().lower() for t in _vocabulary_text(path).splitlines() if t.strip())
    return question_vocabulary(load_questions(source).questions)


def _vocabulary_text(path: Path) -> str:
    """The text of a .txt vocabulary file; a path that is no file, or bytes that are not UTF-8, an InputError."""
    kind, reason = path_kind(path)
    if kind == "unusable":
        raise InputError(f"vocabulary file {brief(str(path))} cannot be opened: {reason}.")
    if kind != "file":
        found = "is a folder" if kind == "folder" else "does not exist"
        raise InputError(f"vocabulary file {path} {found}; give a .txt file with one term per line or a question "
                         f"set such as csqa:validation.")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")  # -sig: a BOM (Windows editors write one) is not part of the first term
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"line {line} of vocabulary file {path}: not UTF-8 (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}); save the file as UTF-8.") from None


def _base_forms(term: str) -> list[str]:
    """Candidate base forms of the last word (plural nouns, -ing/-ed verbs); WordNet decides which exist."""
    head, _, last = term.rpartition(" ")
    prefix = head + " " if head else ""
    forms = []
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", ""), ("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e")):
        if last.endswith(suffix) and len(last) > len(suffix) + 2:
            forms.append(prefix + last[: -len(suffix)] + repl)
    return forms
