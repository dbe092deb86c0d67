"""FactRetriever: per (question, choice), the top-k facts from graph paths and dense search, fused and ranked."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from kqa.graph.store import GraphStore
from kqa.retrieval.config import RetrievalConfig
from kqa.retrieval.facts import definition_fact, edge_fact, retrievable
from kqa.retrieval.index import Embedder, FactIndex, edge_set_checksum
from kqa.retrieval.linking import ConceptLinker
from kqa.retrieval.paths import PathFinder
from kqa.types import Evidence, Fact, Question

logger = logging.getLogger(__name__)


class FactRetriever:
    """Link a question and its choices to the graph, then fuse graph-path facts with dense-search facts."""

    def __init__(self, store: GraphStore, linker: ConceptLinker, index: FactIndex | None, embedder: Embedder | None,
                 config: RetrievalConfig = RetrievalConfig()):
        self.store = store
        self.linker = linker
        self.paths = PathFinder(store, config.paths)
        self.index = index
        self.embedder = embedder
        self.config = config

    @classmethod
    def from_graph(cls, graph: str | Path, spacy_model: str, config: RetrievalConfig = RetrievalConfig()) -> FactRetriever:
        """Open a graph (read-only) and, when dense search is on, its checked FAISS index."""
        from kqa.models import load_spacy

        store = GraphStore.open(graph)
        index = embedder = None
        if config.dense_k:
            ids, _ = retrievable(store.edges())
            embedder = Embedder(config.index.embedder, config.index.batch_size)
            index = FactIndex.load(graph, config.index, embedder=config.index.embedder,
                                   graph_checksum=edge_set_checksum(ids))
        # merged names (kqa graph resolve) link too, and resolve to their canonical concept in `run`
        vocabulary = store.vocabulary() | frozenset(store.aliases())
        linker = ConceptLinker(vocabulary, load_spacy(spacy_model), config.linking)
        return cls(store, linker, index, embedder, config)

    def run(self, question: Question) -> Evidence:
        linking = self.linker.run(question)
        resolve = self.store.resolve
        given = self.linker.link_text(question.concept) if question.concept and self.config.question_concept else ()
        q_names = list(dict.fromkeys(resolve(c.name) for c in (*given, *linking.question)))
        dense = self._dense(question)
        per_choice = []
        for i, concepts in enumerate(linking.choices):
            names = list(dict.fromkeys(resolve(c.name) for c in concepts))
            graph = {s.edge.id: (s.score, s.kind) for s in self.paths.run(q_names, names)}
            facts = self._fuse(dict(list(graph.items())[: self.config.graph_k]), dense[i])
            per_choice.append(self._with_definition(facts, names))
        return Evidence(question.id, tuple(per_choice), tuple(q_names),
                        tuple(tuple(dict.fromkeys(resolve(c.name) for c in cs)) for cs in linking.choices))

    def _dense(self, question: Question) -> list[dict[str, float]]:
        if self.index is None or not self.config.dense_k:
            return [{} for _ in question.choices]
        queries = self.embedder.encode([f"{question.stem} {c.text}" for c in question.choices])  # (C, dim)
        return [dict(hits) for hits in self.index.search(queries, self.config.dense_k)]

    def _with_definition(self, facts: tuple[Fact, ...], names: list[str]) -> tuple[Fact, ...]:
        """Insert the first choice concept's definition at its rank (`definition_score`) among the choice's facts."""
        if not self.config.definitions:  # off by default: no concept look-ups per choice
            return facts
        concept = next((c for c in map(self.store.concept, names) if c is not None and c.description), None)
        if concept is None:
            return facts
        score = self.config.mix * self.config.definition_score
        ranked = sorted([*facts, definition_fact(concept.name, concept.description, round(score, 6))],
                        key=lambda f: -f.score)  # stable: ties keep the graph's order
        return tuple(ranked[: self.config.top_k])

    def _fuse(self, graph: dict[str, tuple[float, str]], dense: dict[str, float]) -> tuple[Fact, ...]:
        mix = self.config.mix
        scored = []
        for tid in set(graph) | set(dense):
            g, kind = graph.get(tid, (0.0, "dense"))
            score = mix * g + (1 - mix) * max(dense.get(tid, 0.0), 0.0)
            scored.append((score, tid, kind))
        facts = []
        for score, tid, kind in sorted(scored, key=lambda s: (-s[0], s[1]))[: self.config.top_k]:
            edge = self.store.edge(tid)
            if edge is not None:  # an index a little ahead of a graph read earlier: skip what is gone
                facts.append(edge_fact(edge, round(score, 6), origin=kind))
        return tuple(facts)


class CachedRetriever:
    """Retrieve once per question id: training, the test pass and the control donors ask again. `seconds` keeps each
    first retrieval's latency (for p50/p99)."""

    def __init__(self, inner):
        self.inner = inner
        self.seconds: list[float] = []
        self._seen: dict[str, Evidence] = {}

    @property
    def config(self) -> RetrievalConfig:
        return self.inner.config

    def run(self, question: Question) -> Evidence:
        if question.id not in self._seen:
            began = time.perf_counter()
            self._seen[question.id] = self.inner.run(question)
            self.seconds.append(time.perf_counter() - began)
        return self._seen[question.id]
