"""KQAPipeline: the Python API. Question -> (retriever, later) -> reader -> Prediction."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import torch
from tqdm.auto import tqdm

from kqa.config import PipelineConfig, load_config
from kqa.errors import ConfigError
from kqa.scoring import CausalLMScorer
from kqa.types import ChoiceScore, Evidence, Prediction, Question

logger = logging.getLogger(__name__)


class Reader(Protocol):
    """Anything that scores the choices of questions, optionally reading retrieved facts (tests pass fakes)."""

    name: str

    def run(self, questions: Sequence[Question], evidence: Sequence[Evidence] | None = None) -> list[tuple[float, ...]]: ...


class Retriever(Protocol):
    """Anything that finds facts for each choice of a question."""

    def run(self, question: Question) -> Evidence: ...


class KQAPipeline:
    """Answer multiple-choice questions; every Prediction carries per-choice scores and evidence."""

    def __init__(self, config: PipelineConfig, reader: Reader, retriever: Retriever | None = None):
        self.config = config
        self.reader = reader
        self.retriever = retriever

    @classmethod
    def from_config(cls, source: str | Path | dict | PipelineConfig | None = None, *,
                    graph: str | Path | None = None, adapter: str | Path | None = None) -> KQAPipeline:
        """Build from a YAML path, a dict, a PipelineConfig, or None for the packaged defaults.

        `graph` overrides the config's `graph.path` (the CLI's --graph); with a graph, answers carry evidence.
        `adapter` is a folder written by `kqa train`: its trained knowledge adapter reads the facts instead of the
        zero-shot scorer.
        """
        config = load_config(source)
        if graph is not None:
            config = config.model_copy(update={"graph": config.graph.model_copy(update={"path": str(graph)})})
        retriever = None
        if config.graph.path:
            from kqa.retrieval.retriever import FactRetriever

            retriever = FactRetriever.from_graph(config.graph.path, config.graph.spacy_model, config.retrieval)
        if adapter is not None:
            from kqa.adapters.reader import AdapterReader

            return cls(config, AdapterReader(adapter), retriever)
        return cls(config, CausalLMScorer(config.model, config.scorer), retriever)

    @property
    def model_name(self) -> str:
        return self.reader.name

    def answer(self, question: Question) -> Prediction:
        return self.answer_batch([question], progress=False)[0]

    def explain(self, question: Question) -> Prediction:
        """Answer, and give each fact the chosen answer read its leave-one-out effect (`Fact.attribution`)."""
        explain = getattr(self.reader, "explain", None)
        if explain is None:
            raise ConfigError(f"explanations need a trained knowledge adapter (kqa train, then --adapter DIR); "
                              f"the reader {self.reader.name!r} has none.")
        evidence = self.retriever.run(question) if self.retriever else Evidence.empty(question)
        return explain(question, evidence)

    def answer_batch(self, questions: Sequence[Question], *, progress: bool = True, chunk: int = 8) -> list[Prediction]:
        """Answer in chunks of `chunk` questions; latency is the chunk's wall time divided among its questions."""
        predictions: list[Prediction] = []
        bar = tqdm(total=len(questions), desc="answering", unit="q", disable=not progress or len(questions) < 2)
        for start in range(0, len(questions), chunk):
            part = questions[start : start + chunk]
            began = time.perf_counter()
            evidence = [self.retriever.run(q) for q in part] if self.retriever else [Evidence.empty(q) for q in part]
            scores = self.reader.run(part, evidence if self.retriever else None)
            each = (time.perf_counter() - began) / len(part)
            predictions.extend(make_prediction(q, s, e, each) for q, s, e in zip(part, scores, evidence))
            bar.update(len(part))
        bar.close()
        return predictions


def make_prediction(question: Question, scores: Sequence[float], evidence: Evidence, latency: float = 0.0) -> Prediction:
    """Scores and evidence -> Prediction: softmax probabilities, ties to the first choice."""
    probs = torch.softmax(torch.tensor(scores, dtype=torch.float64), dim=0).tolist()
    choices = tuple(
        ChoiceScore(label=c.label, text=c.text, score=s, probability=p, evidence=facts)
        for c, s, p, facts in zip(question.choices, scores, probs, evidence.per_choice)
    )
    # ties go to the first choice, so results never depend on float noise ordering
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    return Prediction(question.id, choices[best].label, choices, gold=question.answer, latency_s=latency)
