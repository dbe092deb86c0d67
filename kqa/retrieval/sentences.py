"""Corpus sentences as evidence: what a triple loses ("metabolism divides into catabolic and anabolic reactions"),
the sentence it came from still says.

Every parsed document keeps its sentences in the graph (`Document.sentences`). Sentence `i` of document `d` has the
id `sentence_id(d, i)`; a second FAISS index beside the fact index (GRAPH/index/sentences/, the same files plus
documents.json: document id -> sentence count) embeds them. Its checksum is over those counts, so an index that
does not match the graph's documents is refused like a stale fact index, and `sync_sentence_index` brings it in step
after `kqa graph update/remove` by embedding the sentences of added documents and dropping those of removed ones.

For one answer choice, `SentenceSearch.run` scores the sentences behind the choice's graph-path edges (the edge's
path score) and the nearest sentences to the choice's dense query (`retrieval.query`; cosine), fused on the facts'
scale: mix * graph + (1 - mix) * cosine. A sentence reads as a Fact (relation "Sentence", origin "sentence") whose
provenance is (document id, the sentence), so readers read it as they read facts.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from kqa.errors import StoreError
from kqa.graph.store import GraphStore
from kqa.retrieval.config import RetrievalConfig
from kqa.retrieval.index import (
    SENTENCE_DIR,
    Embedder,
    FactIndex,
    IndexConfig,
    IndexManifest,
    read_manifest,
    write_json,
)
from kqa.retrieval.paths import ScoredEdge
from kqa.types import Fact, Provenance

logger = logging.getLogger(__name__)

DOCUMENTS = "documents.json"  # in SENTENCE_DIR: {document id: sentence count} of what the index holds
RELATION = "Sentence"


def sentence_id(doc_id: str, position: int) -> str:
    """Stable 16-hex-digit id of sentence `position` (0-based) of document `doc_id` (its FAISS id, as edges')."""
    return hashlib.sha1(f"sentence\t{doc_id}\t{position}".encode()).hexdigest()[:16]


def sentence_checksum(counts: dict[str, int]) -> str:
    """Order-independent checksum of {document id: sentence count}: what a sentence index must agree with."""
    digest = hashlib.sha256()
    for doc_id in sorted(counts):
        digest.update(f"{doc_id}\t{counts[doc_id]}\n".encode())
    return digest.hexdigest()


def sentence_counts(store: GraphStore) -> dict[str, int]:
    return {doc_id: len(sentences) for doc_id, sentences in store.sentences()}


def sentence_fact(doc_id: str, position: int, text: str, name: str = "", score: float = 0.0) -> Fact:
    """A corpus sentence as a fact: head = its document's name, tail = text = the sentence."""
    return Fact(name or doc_id, RELATION, text, text, score, (Provenance(doc_id, text),), origin="sentence",
                id=f"sentence:{doc_id}:{position}")


class SentenceSearch:
    """The graph's sentences for a retriever: by id, by (document, text), and (with `dense_k`) their index."""

    def __init__(self, store: GraphStore, index: FactIndex | None, config: RetrievalConfig):
        self.store, self.index, self.config = store, index, config
        self._texts: dict[str, tuple[str, ...]] = dict(store.sentences())
        self._where: dict[str, tuple[str, int]] = {}  # sentence id -> (document id, position)
        self._position: dict[tuple[str, str], int] = {}  # (document id, sentence) -> its first position
        for doc_id, sentences in self._texts.items():
            for i, text in enumerate(sentences):
                self._where[sentence_id(doc_id, i)] = (doc_id, i)
                self._position.setdefault((doc_id, text), i)

    @classmethod
    def open(cls, store: GraphStore, config: RetrievalConfig) -> SentenceSearch:
        """The sentences of an open graph and, when dense search is on, their checked index."""
        index = None
        if config.dense_k:
            index = FactIndex.load(store.path, config.index, embedder=config.index.embedder,
                                   graph_checksum=sentence_checksum(sentence_counts(store)), folder=SENTENCE_DIR)
        search = cls(store, index, config)
        if not search._texts:
            logger.warning("%s keeps no sentences (a graph built before kqa kept them, or imports only): "
                           "`retrieval.sentences` finds none; rebuild it with kqa graph build", store.path)
        return search

    def search(self, queries: np.ndarray) -> list[list[tuple[str, float]]]:
        """queries: (C, dim). Up to `dense_k` (sentence id, cosine) per query; none without an index."""
        if self.index is None or not self.config.dense_k:
            return [[] for _ in queries]
        return self.index.search(queries, self.config.dense_k)

    def run(self, edges: Sequence[ScoredEdge], hits: Sequence[tuple[str, float]]) -> tuple[Fact, ...]:
        """The best `sentence_k` distinct sentences of one choice, from its graph edges and its dense hits."""
        graph = self._behind(edges)
        dense = {self._where[sid]: cosine for sid, cosine in hits if sid in self._where}  # unknown: index ahead
        mix = self.config.mix
        scored = []
        for key in graph.keys() | dense.keys():
            path, edge_count = graph.get(key, (0.0, 0))
            score = mix * path + (1 - mix) * max(dense.get(key, 0.0), 0.0)
            if score > 0:  # with mix 1 (graph only) or 0 (dense only) the other side's sentences drop out
                scored.append((-score, -edge_count, key))
        facts, seen = [], set()
        for neg_score, _, (doc_id, i) in sorted(scored):
            text = self._texts[doc_id][i]
            if text not in seen:  # the same sentence in two documents: once
                seen.add(text)
                facts.append(sentence_fact(doc_id, i, text, self.store.document_name(doc_id), round(-neg_score, 6)))
            if len(facts) == self.config.sentence_k:
                break
        return tuple(facts)

    def _behind(self, edges: Sequence[ScoredEdge]) -> dict[tuple[str, int], tuple[float, int]]:
        """(document, position) -> (best path score of the edges it supports, how many of them it supports)."""
        found: dict[tuple[str, int], tuple[float, int]] = {}
        for scored in edges:
            for support in scored.edge.supports:
                position = self._position.get((support.source, support.sentence))
                if position is not None:
                    key = (support.source, position)
                    best, count = found.get(key, (0.0, 0))
                    found[key] = (max(best, scored.score), count + 1)
        return found


# ---- the index on disk ---------------------------------------------------------------------------------------------
def build_sentence_index(graph: str | Path, config: IndexConfig = IndexConfig(), progress: bool = True,
                         embedder: Embedder | None = None) -> IndexManifest:
    """Embed every sentence the graph keeps into GRAPH/index/sentences/ (with `embedder`, when given, already
    loaded for `config.embedder`)."""
    with GraphStore.open(graph) as store:
        texts = dict(store.sentences())
    if not texts:
        raise StoreError(f"{graph} keeps no sentences (built before kqa kept them, or imports only); rebuild the "
                         f"graph from its corpus: kqa graph build CORPUS --graph {graph}")
    ids, items = _items(texts)
    embedder = embedder or Embedder(config.embedder, config.batch_size)
    index = FactIndex.build(ids, items, embedder, config, progress=progress)
    counts = {doc_id: len(s) for doc_id, s in texts.items()}
    index.manifest = replace(index.manifest, graph_checksum=sentence_checksum(counts))
    _write_documents(Path(graph), counts)
    index.save(graph, SENTENCE_DIR)
    logger.info("indexed %d sentences of %d documents of %s", len(ids), len(counts), graph)
    return index.manifest


def sync_sentence_index(graph: str | Path, config: IndexConfig = IndexConfig(), embedder: Embedder | None = None
                        ) -> IndexManifest | None:
    """Bring a sentence index in step with the graph's documents: embed the sentences of documents it lacks, drop
    those of documents the graph no longer has (`embedder`: one already loaded, used when it is the index's own).
    No sentence index: nothing to do (None)."""
    if not (Path(graph) / SENTENCE_DIR / "manifest.json").is_file():
        return None
    manifest = read_manifest(graph, SENTENCE_DIR)
    indexed = _read_documents(Path(graph), manifest)
    with GraphStore.open(graph) as store:
        texts = dict(store.sentences())
    counts = {doc_id: len(s) for doc_id, s in texts.items()}
    gone = [d for d in indexed if counts.get(d) != indexed[d]]
    new = {d: texts[d] for d in counts if indexed.get(d) != counts[d]}
    if not gone and not new:
        return manifest
    index = FactIndex.load(graph, config, embedder=manifest.embedder, graph_checksum=manifest.graph_checksum,
                           folder=SENTENCE_DIR)
    ids, items = _items(new)
    removed = [sentence_id(d, i) for d in gone for i in range(indexed[d])]
    if embedder is None or embedder.name != manifest.embedder:
        embedder = Embedder(manifest.embedder, config.batch_size)
    index.update(ids, items, removed, embedder, sentence_checksum(counts))
    _write_documents(Path(graph), counts)  # before the manifest: a crash in between is refused, not misread
    index.save(graph, SENTENCE_DIR)
    return index.manifest


def _items(texts: dict[str, Iterable[str]]) -> tuple[list[str], list[str]]:
    ids, items = [], []
    for doc_id in sorted(texts):
        for i, text in enumerate(texts[doc_id]):
            ids.append(sentence_id(doc_id, i))
            items.append(text)
    return ids, items


def _write_documents(graph: Path, counts: dict[str, int]) -> None:
    (graph / SENTENCE_DIR).mkdir(parents=True, exist_ok=True)
    write_json(graph / SENTENCE_DIR / DOCUMENTS, dict(sorted(counts.items())))


def _read_documents(graph: Path, manifest: IndexManifest) -> dict[str, int]:
    """documents.json, checked against the manifest's checksum (they are written together)."""
    path = graph / SENTENCE_DIR / DOCUMENTS
    fix = f"Rebuild it: kqa index build --graph {graph} --sentences"
    try:
        counts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path}: unreadable ({exc}). {fix}") from None
    valid = isinstance(counts, dict) and all(isinstance(n, int) and not isinstance(n, bool) for n in counts.values())
    if not valid or sentence_checksum(counts) != manifest.graph_checksum:
        raise StoreError(f"{path}: does not match the index manifest's checksum. {fix}")
    return counts
