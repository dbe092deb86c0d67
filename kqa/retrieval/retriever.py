"""FactRetriever: per (question, choice), the top-k facts from graph paths and dense search, fused and ranked, and
(with `retrieval.sentences`) the choice's best corpus sentences beside them, on the same scale."""

from __future__ import annotations

import logging
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from kqa.graph.names import concept_key, words_of
from kqa.graph.store import GraphStore
from kqa.retrieval.config import RetrievalConfig
from kqa.retrieval.facts import definition_fact, edge_fact, retrievable
from kqa.retrieval.index import Embedder, FactIndex, edge_set_checksum
from kqa.retrieval.linking import ConceptLinker
from kqa.retrieval.paths import PathFinder, ScoredEdge
from kqa.retrieval.sentences import SentenceSearch
from kqa.types import Evidence, Fact, Question

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)
CLITICS = ("'s", "'re", "'ve", "'ll", "'d", "'m")  # "what's" -> "what" (then a stop word); "n't" reads as "not"


class FactRetriever:
    """Link a question and its choices to the graph, then fuse graph-path facts with dense-search facts."""

    def __init__(self, store: GraphStore, linker: ConceptLinker, index: FactIndex | None, embedder: Embedder | None,
                 config: RetrievalConfig = RetrievalConfig(), sentences: SentenceSearch | None = None):
        self.store = store
        self.linker = linker
        self.paths = PathFinder(store, config.paths)
        self.index = index
        self.embedder = embedder
        self.config = config
        self._sentences = sentences  # with config.sentences and none given: opened from the store when first needed
        # the query encoding (onnxruntime or torch: outside the GIL) runs in this thread beside linking and graph
        # paths (Python); False encodes in the caller's thread
        self.encode_beside = True
        self._encoder_thread: ThreadPoolExecutor | None = None

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
        sentences = SentenceSearch.open(store, config) if config.sentences else None
        # merged names (kqa graph resolve) link too, and resolve to their canonical concept in `run`
        vocabulary = store.vocabulary() | frozenset(store.aliases())
        linker = ConceptLinker(vocabulary, load_spacy(spacy_model), config.linking)
        return cls(store, linker, index, embedder, config, sentences)

    @property
    def sentences(self) -> SentenceSearch | None:
        """The corpus sentences searched beside the facts; None unless `config.sentences`."""
        if self._sentences is None and self.config.sentences:
            self._sentences = SentenceSearch.open(self.store, self.config)
        return self._sentences

    def run(self, question: Question) -> Evidence:
        pending = self._encoding(question)
        linking = self.linker.run(question, given=self.config.question_concept)
        resolve = self.store.resolve
        given = [resolve(c.name) for c in linking.given]
        q_names = list(dict.fromkeys([*given, *(resolve(c.name) for c in linking.question)]))
        choice_names = [list(dict.fromkeys(resolve(c.name) for c in concepts)) for concepts in linking.choices]
        found = self.paths.run_choices(q_names, choice_names)
        queries = pending.result()
        dense = self._dense(queries, len(question.choices))
        near = self._near(queries, len(question.choices))
        per_choice = [self._choice(names, edges[: self.config.graph_k], hits, close)
                      for names, edges, hits, close in zip(choice_names, found, dense, near)]
        return Evidence(question.id, tuple(per_choice), tuple(q_names), tuple(map(tuple, choice_names)))

    def _choice(self, names: list[str], edges: list[ScoredEdge], hits: dict[str, float],
                close: list[tuple[str, float]]) -> tuple[Fact, ...]:
        """One choice's facts (its graph edges fused with its dense hits, and its definition) and, with
        `config.sentences`, its sentences, ranked together by score: one scale for both."""
        facts = self._with_definition(self._fuse({s.edge.id: (s.score, s.kind) for s in edges}, hits), names)
        if self.sentences is None:
            return facts
        return tuple(sorted((*facts, *self.sentences.run(edges, close)), key=lambda f: -f.score))  # stable

    def _encoding(self, question: Question) -> Future:
        """(C, dim) embeddings of each choice's query (`config.query`: the question's content words or the question,
        then the choice), one encode call for the fact and the sentence index, on their way in the encoder thread
        (`encode_beside`); None when neither index is searched."""
        sentences = self.sentences
        searched = self.index is not None or (sentences is not None and sentences.index is not None)
        if self.config.dense_k and searched and self.encode_beside:
            if self._encoder_thread is None:
                self._encoder_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kqa-query-encoding")
            return self._encoder_thread.submit(self._queries, question)
        done: Future = Future()
        done.set_result(self._queries(question) if self.config.dense_k and searched else None)
        return done

    def _queries(self, question: Question) -> np.ndarray:
        return self.embedder.encode(query_texts(question, self.config.query))  # (C, dim)

    def _dense(self, queries: np.ndarray | None, choices: int) -> list[dict[str, float]]:
        if queries is None or self.index is None:
            return [{} for _ in range(choices)]
        return [dict(hits) for hits in self.index.search(queries, self.config.dense_k)]

    def _near(self, queries: np.ndarray | None, choices: int) -> list[list[tuple[str, float]]]:
        """Per choice, the sentence index's nearest (sentence id, cosine); empty lists without sentence search."""
        if queries is None or self.sentences is None:
            return [[] for _ in range(choices)]
        return self.sentences.search(queries)

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
        facts, pairs = [], Counter()
        for score, tid, kind in sorted(scored, key=lambda s: (-s[0], s[1])):
            edge = self.store.edge(tid)
            if edge is None:  # an index a little ahead of a graph read earlier: skip what is gone
                continue
            pair = frozenset((edge.head, edge.tail))
            if self.config.per_pair is not None and pairs[pair] >= self.config.per_pair:
                continue  # "dirt IsA ground", "ground IsA dirt", ...: one pair of concepts would fill every slot
            pairs[pair] += 1
            facts.append(edge_fact(edge, round(score, 6), origin=kind))
            if len(facts) == self.config.top_k:
                break
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


def query_texts(question: Question, form: str) -> list[str]:
    """Each choice's dense query (`retrieval.query`): the question's content words or the question as written, then
    the choice."""
    stem = question.stem if form == "question" else content_words(question.stem)
    return [f"{stem} {c.text}".strip() for c in question.choices]


def content_words(text: str) -> str:
    """`text` lowercased without the function words that concept keys drop (kqa.graph.names), punctuation and
    clitics, not lemmatized: "Where's the jellyfish that isn't caught?" -> "jellyfish not caught". A dense query is
    encoded on the critical path of retrieval: fewer tokens, sooner answered."""
    return concept_key(_without_clitic(word) for word in words_of(text))


def _without_clitic(word: str) -> str:
    if word.endswith("n't"):
        return "not"
    return next((word.removesuffix(c) for c in CLITICS if word.endswith(c)), word)
