"""KQAPipeline: the Python API. Question -> (retriever, later) -> reader -> Prediction."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from kqa.config import PipelineConfig, load_config, with_graph
from kqa.errors import ConfigError
from kqa.overrides import override
from kqa.prediction import make_prediction
from kqa.roles import Reader, Retriever
from kqa.scoring import CausalLMScorer
from kqa.types import Evidence, Prediction, Question

if TYPE_CHECKING:
    from kqa.graph.store import GraphStore

__all__ = ["KQAPipeline", "Reader", "Retriever", "make_prediction"]  # the roles and make_prediction lived here
logger = logging.getLogger(__name__)


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
        config = with_graph(load_config(source), graph)
        if adapter is None:
            adapter = _configured_folder(config, source)
        else:  # the config says which reader answers, for the reports and the web page that show it
            config = override(config, reader=override(config.reader, {"adapter": "--adapter"}, adapter=str(adapter)))
        retriever = None
        if config.graph.path:  # retrieval (spaCy, FAISS) and adapters (peft) load only when asked for
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

    @property
    def graph(self) -> GraphStore | None:
        """The graph the retriever reads (None without one): what the web page watches and browses."""
        return self.retriever.store if self.retriever is not None else None

    def retrieve(self, question: Question) -> Evidence:
        """The retriever's facts per choice; an empty Evidence without a retriever."""
        return self.retriever.run(question) if self.retriever else Evidence.empty(question)

    def predict(self, question: Question, evidence: Evidence) -> Prediction:
        """Score `question` with facts already retrieved (`retrieve`), without attributions."""
        return make_prediction(question, self._scores([question], [evidence])[0], evidence)

    def explain(self, question: Question, evidence: Evidence | None = None) -> Prediction:
        """Answer, and give each fact the chosen answer read its leave-one-out effect (`Fact.attribution`)."""
        return self.reader.explain(question, evidence if evidence is not None else self.retrieve(question))

    def answer_batch(self, questions: Sequence[Question], *, progress: bool = True, chunk: int = 8) -> list[Prediction]:
        """Answer in chunks of `chunk` questions; latency is the chunk's wall time divided among its questions."""
        predictions: list[Prediction] = []
        bar = tqdm(total=len(questions), desc="answering", unit="q", disable=not progress or len(questions) < 2)
        for start in range(0, len(questions), chunk):
            part = questions[start : start + chunk]
            began = time.perf_counter()
            evidence = [self.retrieve(q) for q in part]
            scores = self._scores(part, evidence)
            each = (time.perf_counter() - began) / len(part)
            predictions.extend(make_prediction(q, s, e, each) for q, s, e in zip(part, scores, evidence))
            bar.update(len(part))
        bar.close()
        return predictions

    def _scores(self, questions: Sequence[Question], evidence: Sequence[Evidence]) -> list[tuple[float, ...]]:
        # without a retriever the reader is told there are no facts at all (None), not that none were found
        return self.reader.run(questions, evidence if self.retriever else None)


def _configured_folder(config: PipelineConfig, source) -> str | None:
    """`reader.adapter` when the folder is there; a missing one is an error that says how to make it."""
    folder = config.reader.adapter
    if folder is None or Path(folder).is_dir():
        return folder
    where = f" in {source}" if isinstance(source, (str, Path)) else ""
    raise ConfigError(
        f"`reader.adapter`{where} is {folder!r}, and there is no such folder (relative to {Path.cwd()}). Train it "
        f"(`kqa train ... --out DIR` writes DIR/adapter; pipelines/default.yaml's reader is the one `make demo` "
        f"trains: run `make demo` first), or pass --adapter DIR, or set `reader.adapter: null` "
        f"(pipelines/zero-shot.yaml) for the untrained zero-shot reader.")
