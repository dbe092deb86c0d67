"""The page's question desk: check the input, answer through the pipeline (one at a time), draw the evidence."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

from kqa.data import question_from_text
from kqa.errors import InputError, KQAError
from kqa.graph.draw import evidence_png
from kqa.pipeline import KQAPipeline
from kqa.retrieval.facts import retrievable
from kqa.retrieval.index import INDEX_DIR, FactIndex, edge_set_checksum
from kqa.retrieval.linking import ConceptLinker
from kqa.retrieval.retriever import FactRetriever
from kqa.types import Question
from kqa.web.config import WebConfig
from kqa.web.explain import Explainer
from kqa.web.watch import GraphWatch

logger = logging.getLogger(__name__)


class BusyError(KQAError):
    """Too many questions are already waiting for the model."""


class Answerer:
    """Answer questions from the page with one loaded pipeline; inference is serialized by a lock."""

    def __init__(self, pipeline: KQAPipeline, config: WebConfig, watch: GraphWatch | None = None):
        self.pipeline, self.config, self.watch = pipeline, config, watch
        self.explainer = Explainer(pipeline)
        self._model = threading.Lock()  # torch on a few cores: one question at a time is fastest and safe
        self._count = threading.Lock()
        self._waiting = 0
        store = pipeline.graph
        self._loaded = (id(store), _index_mark(store.path)) if store else None
        self._failed: tuple | None = None
        self.note = ""  # why answers use an older graph than the one on disk

    def run(self, question: str, choices: Sequence[str], explain: bool = True) -> dict:
        query = parse_question(question, choices, self.config)
        with self._turn():
            began = time.perf_counter()
            self._refresh()
            explained = self.explainer.run(query, explain)
            seconds = time.perf_counter() - began
        evidence = explained.evidence
        return {"prediction": explained.prediction.to_dict(), "attribution": explained.attribution,
                "question_concepts": list(evidence.question_concepts),
                "choice_concepts": [list(c) for c in evidence.choice_concepts],
                "evidence_png": png_data_url(evidence_png(explained.prediction, evidence)),
                "seconds": round(seconds, 3), "model": self.pipeline.model_name, "graph_note": self.note}

    @contextmanager
    def _turn(self):
        """Queue for the model; past `max_waiting` queued questions, refuse with a clear 'busy' instead of piling up."""
        with self._count:
            if self._waiting >= self.config.max_waiting:
                raise BusyError(f"{self._waiting} questions are already waiting for the model (limit `max_waiting` "
                                f"= {self.config.max_waiting}); try again in a few seconds.")
            self._waiting += 1
        try:
            with self._model:
                yield
        finally:
            with self._count:
                self._waiting -= 1

    def _refresh(self) -> None:
        """Point the retriever at the newest graph (and index) on disk; on failure keep the old one and say why."""
        if self.watch is None:
            return
        store = self.watch.current()
        mark = (id(store), _index_mark(store.path))
        if mark in (self._loaded, self._failed):
            return
        try:
            self.pipeline.retriever = _retriever_on(self.pipeline.retriever, store)
            self._loaded, self.note = mark, ""
        except KQAError as exc:  # e.g. the fact index is not yet updated for the new graph
            self._failed = mark
            self.note = f"the graph changed on disk; answers still use the previous version ({exc})"
            logger.warning("%s", self.note)


def parse_question(text: str, choices: Sequence[str], config: WebConfig) -> Question:
    """Whitespace-normalized question and choices, within the configured limits, or an InputError saying which."""
    stem = " ".join(str(text).split())
    if not stem:
        raise InputError("`question` is empty: type a question, e.g. 'Where would you keep a live fish?'.")
    if len(stem) > config.max_question_chars:
        raise InputError(f"`question` has {len(stem)} characters, more than the limit of {config.max_question_chars} "
                         f"(`max_question_chars`); shorten it.")
    texts = [t for t in (" ".join(str(c).split()) for c in choices) if t]
    if len(texts) > config.max_choices:
        raise InputError(f"`choices`: {len(texts)} answer choices, more than the limit of {config.max_choices} "
                         f"(`max_choices`); keep the likely ones.")
    for i, t in enumerate(texts):
        if len(t) > config.max_choice_chars:
            raise InputError(f"`choices`: choice {i + 1} has {len(t)} characters, more than the limit of "
                             f"{config.max_choice_chars} (`max_choice_chars`); shorten it.")
    if len(texts) < 2:
        raise InputError(f"`choices`: at least 2 non-empty answer choices are needed, got {len(texts)}; "
                         f"write one choice per line.")
    return question_from_text(stem, texts, qid="web", where="the request")


def png_data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _retriever_on(old, store):
    """The same retriever (spaCy pipeline and embedder reused) over a newly opened store and its checked index."""
    config = old.config
    index = None
    if config.dense_k:
        ids, _ = retrievable(store.edges())
        index = FactIndex.load(store.path, config.index, embedder=config.index.embedder,
                               graph_checksum=edge_set_checksum(ids))
    vocabulary = store.vocabulary() | frozenset(store.aliases())
    return FactRetriever(store, ConceptLinker(vocabulary, old.linker.nlp, config.linking), index, old.embedder, config)


def _index_mark(graph: Path) -> int | None:
    try:
        return (Path(graph) / INDEX_DIR / "manifest.json").stat().st_mtime_ns
    except OSError:
        return None
